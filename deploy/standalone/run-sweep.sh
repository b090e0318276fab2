#!/usr/bin/env bash
# End to end on this machine: a Standalone cluster of one Master and two Workers, the fat jar submitted with
# deploy/spark-submit.sh, and the small sweep (conf/sweep-small.yaml) run through it; then the cluster is stopped.
#   deploy/standalone/run-sweep.sh [OUT] [SWEEP.yaml]      (default OUT: out/sweep-standalone)
# It builds what is missing (sparkslim-core in the local Maven repository, the fat jar, target/spark-home), prints the
# sweep's progress and results table, and the executors that ran its tasks (report.json -> spark.executors). The
# driver's whole log goes to OUT.log.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/out/sweep-standalone}"
SWEEP="${2:-$ROOT/conf/sweep-small.yaml}"
JAR="$ROOT/jobs/target/sparkslim-jobs-0.1.0-SNAPSHOT-all.jar"
cd "$ROOT"
if [[ ! -f "$JAR" ]]; then
  echo "[sparkslim] building sparkslim-core and the fat jar (./mvnw -DskipTests install, then -Pdist package)" >&2
  ./mvnw -q -DskipTests install
  ./mvnw -q -Pdist -DskipTests package
fi
if ! compgen -G "$ROOT/target/spark-home/jars/spark-core_2.13-*.jar" >/dev/null; then
  deploy/standalone/make-spark-home.sh
fi
export SPARK_HOME="$ROOT/target/spark-home"
deploy/standalone/start-cluster.sh
trap 'deploy/standalone/stop-cluster.sh' EXIT
rm -rf "$OUT"
# Two workers of one core each: two executors; every point of the sweep spreads its tasks over both.
deploy/spark-submit.sh --master spark://127.0.0.1:7077 --deploy-mode client --conf spark.driver.host=127.0.0.1 \
  --conf spark.executor.cores=1 --conf spark.executor.memory=3g -- \
  sweep --config="$SWEEP" --output.path="$OUT" 2> >(tee "$OUT.log" | grep -E '^\[sparkslim|error|Exception' >&2)
echo
echo "[sparkslim] executors that ran the sweep's tasks (report.json spark.executors):"
sed -n '/"executors"/,/]/p' "$OUT/report.json"
echo "[sparkslim] wrote $OUT: results.csv, results.md, report.html, plots, _SUCCESS"
