#!/usr/bin/env bash
# Stop the local Standalone cluster started by deploy/standalone/start-cluster.sh (Workers first, then Master).
# Only the pids recorded in target/standalone/*.pid are signalled, and only if they are still Spark daemons.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="$ROOT/target/standalone"

stop() {
  local name="$1" pidfile="$STATE/$1.pid" pid
  if [[ ! -f "$pidfile" ]]; then echo "[sparkslim] $name: not started here" >&2; return; fi
  pid="$(cat "$pidfile")"
  if ps -p "$pid" -o args= 2>/dev/null | grep -q "org.apache.spark.deploy"; then
    kill "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "[sparkslim] $name (pid $pid) still running after 30 s; kill it with: kill -9 $pid" >&2
      return
    fi
    echo "[sparkslim] $name stopped (pid $pid)" >&2
  else
    echo "[sparkslim] $name: pid $pid is not running" >&2
  fi
  rm -f "$pidfile"
}

for pidfile in "$STATE"/worker*.pid; do
  [[ -f "$pidfile" ]] && stop "$(basename "$pidfile" .pid)"
done
stop master
