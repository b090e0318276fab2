#!/usr/bin/env bash
# Submit a sparkslim job to a cluster (YARN, Standalone or Kubernetes) with the settings every sparkslim JVM needs.
#
#   deploy/spark-submit.sh --master yarn|spark://HOST:7077|k8s://https://HOST [extra spark-submit flags] -- JOB [--key=value ...]
#   e.g. deploy/spark-submit.sh --master yarn --deploy-mode cluster -- \
#          eval --model.path=hdfs:///models/tiny-llama-imdb --eval.texts=hdfs:///data/imdb.eval.txt --output.path=hdfs:///out/eval-1
#
# spark-submit comes from $SPARK_HOME/bin, else from PATH. The application jar is the dist fat jar
# (./mvnw -Pdist -DskipTests package); set SPARKSLIM_JAR to use another one (e.g. local:///opt/sparkslim/sparkslim.jar on k8s).
# Flags given before "--" come after ours, so a --conf of yours overrides the same key here.
# Exit code is spark-submit's (the job itself: 0 ok, 2 user error, 1 internal failure).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAR="${SPARKSLIM_JAR:-$ROOT/jobs/target/sparkslim-jobs-0.1.0-SNAPSHOT-all.jar}"

usage() {
  echo "usage: $0 --master yarn|spark://...|k8s://... [extra spark-submit flags] -- JOB [--key=value ...]" >&2
  exit 2
}

# Split the arguments at "--": spark-submit flags before, the job name and its options after.
SUBMIT_ARGS=()
while [[ $# -gt 0 && "$1" != "--" ]]; do SUBMIT_ARGS+=("$1"); shift; done
[[ $# -gt 0 ]] || { echo "[sparkslim] missing '--' before the job arguments" >&2; usage; }
shift
[[ $# -gt 0 ]] || { echo "[sparkslim] missing the job name after '--' (e.g. eval)" >&2; usage; }

if [[ -n "${SPARK_HOME:-}" && -x "$SPARK_HOME/bin/spark-submit" ]]; then
  SPARK_SUBMIT="$SPARK_HOME/bin/spark-submit"
elif command -v spark-submit >/dev/null 2>&1; then
  SPARK_SUBMIT="$(command -v spark-submit)"
else
  echo "[sparkslim] spark-submit not found: set SPARK_HOME or put spark-submit on PATH" >&2
  echo "            (no Spark install? see deploy/standalone/make-spark-home.sh)" >&2
  exit 2
fi

# Only a local jar can be checked (hdfs://, local://, ... are resolved by Spark).
if [[ ! "$JAR" =~ ^[a-z0-9+.-]+: && ! -f "$JAR" ]]; then
  echo "[sparkslim] application jar not found: $JAR" >&2
  echo "            build it first: ./mvnw -Pdist -DskipTests package" >&2
  exit 2
fi

# OpenBLAS 0.3.19's SkylakeX kernels break dpotrf on AVX-512 CPUs: force Haswell kernels everywhere
# (this shell covers a client-mode driver; the confs below cover executors, the YARN AM and a k8s driver).
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"

# -Xss8m: multi-threaded LAPACK crashes at the default thread stack size.
exec "$SPARK_SUBMIT" \
  --class sparkslim.jobs.Main \
  --conf spark.driver.extraJavaOptions=-Xss8m \
  --conf "spark.executor.extraJavaOptions=-Xss8m -Dorg.bytedeco.javacpp.cachedir=/tmp/javacpp-cache" \
  --conf "spark.executorEnv.OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE" \
  --conf "spark.yarn.appMasterEnv.OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE" \
  --conf "spark.kubernetes.driverEnv.OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE" \
  ${SUBMIT_ARGS[@]+"${SUBMIT_ARGS[@]}"} \
  "$JAR" "$@"
