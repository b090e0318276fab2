#!/usr/bin/env bash
# Start a local Spark Standalone cluster on 127.0.0.1: one Master (spark://127.0.0.1:7077, UI :18080)
# and SPARKSLIM_WORKERS Workers (default 2; UIs :18081, :18082, ...), in the background. Pids, logs and the Workers'
# work dirs go under target/standalone/.
# Needs the fake SPARK_HOME from deploy/standalone/make-spark-home.sh (or SPARKSLIM_SPARK_HOME=a Spark 4.2.0 install).
# Each Worker's size: SPARKSLIM_WORKER_CORES (default 1), SPARKSLIM_WORKER_MEMORY (default 4g). Stop with stop-cluster.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export SPARK_HOME="${SPARKSLIM_SPARK_HOME:-$ROOT/target/spark-home}"
STATE="$ROOT/target/standalone"
WORKERS="${SPARKSLIM_WORKERS:-2}"
CORES="${SPARKSLIM_WORKER_CORES:-1}"
MEMORY="${SPARKSLIM_WORKER_MEMORY:-4g}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# Spark 4.2.0's JavaModuleOptions: same list as bin/sparkslim (and spark.jvm.opens in pom.xml).
OPENS="-XX:+IgnoreUnrecognizedVMOptions --add-modules=jdk.incubator.vector --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/sun.nio.cs=ALL-UNNAMED --add-opens=java.base/sun.security.action=ALL-UNNAMED --add-opens=java.base/sun.util.calendar=ALL-UNNAMED --add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED -Dio.netty.tryReflectionSetAccessible=true -Dio.netty.allocator.type=pooled -Dio.netty.handler.ssl.defaultEndpointVerificationAlgorithm=NONE --sun-misc-unsafe-memory-access=allow --enable-native-access=ALL-UNNAMED"

if ! compgen -G "$SPARK_HOME/jars/spark-core_2.13-*.jar" >/dev/null; then
  echo "[sparkslim] no Spark jars in $SPARK_HOME/jars: run deploy/standalone/make-spark-home.sh first" >&2
  exit 2
fi
# The Worker builds executor class paths from $SPARK_HOME/jars; without this it fails with
# "Cannot find any build directories." (it looks for a Spark source build instead).
export SPARK_SCALA_VERSION=2.13
# Executors inherit the Worker's environment (spark.executorEnv.* is set by deploy/spark-submit.sh as well).
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
export SPARK_LOCAL_IP=127.0.0.1
mkdir -p "$STATE/logs"

# start NAME CLASS ARGS...: run one daemon in the background unless its pid file names a live process.
start() {
  local name="$1" pidfile="$STATE/$1.pid"; shift
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "[sparkslim] $name already running (pid $(cat "$pidfile"))" >&2
    return
  fi
  # shellcheck disable=SC2086  # OPENS is a list of JVM options
  nohup "$JAVA" $OPENS -Xmx1g -cp "$SPARK_HOME/conf:$SPARK_HOME/jars/*" "$@" \
    > "$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  echo "[sparkslim] $name started (pid $!, log $STATE/logs/$name.log)" >&2
}

# wait_for NAME TEXT: wait up to 60 s for TEXT in the daemon's log.
wait_for() {
  for _ in $(seq 60); do
    grep -q "$2" "$STATE/logs/$1.log" 2>/dev/null && return 0
    kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null || { echo "[sparkslim] $1 died, see $STATE/logs/$1.log" >&2; exit 1; }
    sleep 1
  done
  echo "[sparkslim] $1 not ready after 60 s, see $STATE/logs/$1.log" >&2
  exit 1
}

start master org.apache.spark.deploy.master.Master --host 127.0.0.1 --port 7077 --webui-port 18080
wait_for master "I have been elected leader"
for i in $(seq "$WORKERS"); do
  mkdir -p "$STATE/work-$i"
  start "worker-$i" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --webui-port $((18080 + i)) \
    --cores "$CORES" --memory "$MEMORY" --work-dir "$STATE/work-$i" spark://127.0.0.1:7077
done
for i in $(seq "$WORKERS"); do
  wait_for "worker-$i" "Successfully registered with master"
done
echo "[sparkslim] cluster up: master spark://127.0.0.1:7077 (UI http://127.0.0.1:18080), $WORKERS workers of $CORES core(s) / $MEMORY" >&2
