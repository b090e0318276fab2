#!/usr/bin/env bash
# Build a "fake SPARK_HOME" under target/spark-home, enough to run a Standalone cluster and spark-submit
# without a Spark tarball:
#   jars/              symlinks to the Spark 4.2.0 runtime jars: the jobs module's Maven "provided" class path, plus its
#                      "runtime" one (Spark needs slf4j, jackson, parquet, ... which Maven files under the project's own
#                      compile scope), less the sparkslim-* jars (the application jar must bring the project's code)
#   conf/              empty (put spark-defaults.conf / log4j2.properties here if wanted)
#   bin/spark-submit   runs org.apache.spark.deploy.SparkSubmit directly (client mode)
# Usage: deploy/standalone/make-spark-home.sh        (re-run after a Spark version change; it rebuilds jars/)
# Needs sparkslim-core in the local Maven repository: run ./mvnw -q -DskipTests install once before.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SPARK_HOME="$ROOT/target/spark-home"
CP_PREFIX="$ROOT/target/spark-home.classpath"
# Spark 4.2.0's JavaModuleOptions: same list as bin/sparkslim (and spark.jvm.opens in pom.xml).
OPENS="-XX:+IgnoreUnrecognizedVMOptions --add-modules=jdk.incubator.vector --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/sun.nio.cs=ALL-UNNAMED --add-opens=java.base/sun.security.action=ALL-UNNAMED --add-opens=java.base/sun.util.calendar=ALL-UNNAMED --add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED -Dio.netty.tryReflectionSetAccessible=true -Dio.netty.allocator.type=pooled -Dio.netty.handler.ssl.defaultEndpointVerificationAlgorithm=NONE --sun-misc-unsafe-memory-access=allow --enable-native-access=ALL-UNNAMED"

mkdir -p "$ROOT/target"
for scope in provided runtime; do
  echo "[sparkslim] resolving the jobs module's $scope class path (Maven)" >&2
  if ! (cd "$ROOT" && ./mvnw -q dependency:build-classpath -pl jobs \
          -Dmdep.includeScope="$scope" -Dmdep.outputFile="$CP_PREFIX-$scope.txt"); then
    echo "[sparkslim] Maven could not resolve the class path; run ./mvnw -q -DskipTests install first" >&2
    exit 1
  fi
done

mkdir -p "$SPARK_HOME/jars" "$SPARK_HOME/conf" "$SPARK_HOME/bin"
find "$SPARK_HOME/jars" -maxdepth 1 -type l -delete   # drop links from an earlier run
for scope in provided runtime; do
  ENTRIES=()
  IFS=':' read -r -a ENTRIES < "$CP_PREFIX-$scope.txt" || true   # Maven writes no final newline: read "fails" at EOF
  for jar in ${ENTRIES[@]+"${ENTRIES[@]}"}; do
    name="$(basename "$jar")"
    [[ "$name" == *.jar && "$name" != sparkslim-* ]] || continue
    ln -sf "$jar" "$SPARK_HOME/jars/$name"
  done
done
if ! compgen -G "$SPARK_HOME/jars/spark-core_2.13-*.jar" >/dev/null; then
  echo "[sparkslim] no spark-core_2.13 jar in $CP_PREFIX-provided.txt: is Spark still a provided dependency of jobs?" >&2
  exit 1
fi

# Without the Spark launcher, spark.driver.extraJavaOptions does not reach the driver: -Xss8m is set here.
cat > "$SPARK_HOME/bin/spark-submit" <<SCRIPT
#!/usr/bin/env bash
SPARK_HOME="\$(cd "\$(dirname "\${BASH_SOURCE[0]}")/.." && pwd)"; export SPARK_HOME SPARK_SCALA_VERSION=2.13
exec "\${JAVA_HOME:+\$JAVA_HOME/bin/}java" $OPENS -Xss8m -cp "\$SPARK_HOME/conf:\$SPARK_HOME/jars/*" org.apache.spark.deploy.SparkSubmit "\$@"
SCRIPT
chmod +x "$SPARK_HOME/bin/spark-submit"

echo "[sparkslim] SPARK_HOME ready: $SPARK_HOME ($(find "$SPARK_HOME/jars" -maxdepth 1 -type l | wc -l) jars)" >&2
echo "            next: deploy/standalone/start-cluster.sh" >&2
