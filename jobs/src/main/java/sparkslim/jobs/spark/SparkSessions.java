package sparkslim.jobs.spark;

import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

/**
 * Starts the job's SparkSession. With no {@code spark.master} key the master is the one spark-submit gives, or an
 * embedded {@code local[*]}. Every executor JVM gets the stack size LAPACK needs and the OpenBLAS kernel choice that
 * avoids the AVX-512 dpotrf bug (docs: platform traps).
 */
public final class SparkSessions {
  public static final String DEFAULT_MASTER = "local[*]";
  /** Multi-threaded LAPACK crashes at the default 1 MB thread stack. */
  public static final String EXECUTOR_JAVA_OPTIONS = "-Xss8m";
  public static final String OPENBLAS_CORETYPE = "Haswell";

  /** How many times {@link #start} was called in this JVM (tests check that a user error starts no Spark). */
  private static final AtomicInteger STARTED = new AtomicInteger();

  private SparkSessions() {}

  /** The number of {@link #start} calls so far in this JVM. */
  public static int started() {
    return STARTED.get();
  }

  public static SparkSession start(String configuredMaster, String appName) {
    STARTED.incrementAndGet();
    SparkConf conf = new SparkConf(); // picks up spark.* system properties set by spark-submit
    String master = !configuredMaster.isBlank() ? configuredMaster : conf.get("spark.master", DEFAULT_MASTER);
    conf.setMaster(master).setAppName(conf.get("spark.app.name", appName));
    String javaOptions = conf.get("spark.executor.extraJavaOptions", "");
    if (!javaOptions.contains("-Xss")) {
      conf.set("spark.executor.extraJavaOptions", (javaOptions + " " + EXECUTOR_JAVA_OPTIONS + cacheDirOption()).trim());
    }
    conf.setIfMissing("spark.executorEnv.OPENBLAS_CORETYPE", OPENBLAS_CORETYPE);
    // Java serialization keeps every object written to a stream reachable until the stream resets (default: every 100
    // records). Our records are large arrays (hidden states, slices of statistics), so a reset after each one keeps a
    // shuffle writer from holding a second copy of everything it wrote.
    conf.setIfMissing("spark.serializer.objectStreamReset", "1");
    if (master.startsWith("local")) {
      conf.setIfMissing("spark.ui.enabled", "false");
      conf.setIfMissing("spark.driver.host", "127.0.0.1");
      conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
    }
    if (master.startsWith("local-cluster")) {
      // executors are separate JVMs started from SPARK_HOME; give them this JVM's class path
      conf.setIfMissing("spark.executor.extraClassPath", System.getProperty("java.class.path"));
      conf.setIfMissing("spark.scheduler.minRegisteredResourcesRatio", "1.0"); // wait for every executor before the first task
      // local-cluster[workers,cores,memoryMB]: the worker's memory is the executor's heap (Spark's default is 1g)
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("local-cluster\\[\\s*\\d+\\s*,\\s*\\d+\\s*,\\s*(\\d+)\\s*]").matcher(master);
      if (m.matches()) {
        conf.setIfMissing("spark.executor.memory", m.group(1) + "m");
      }
    }
    return SparkSession.builder().config(conf).getOrCreate();
  }

  private static String cacheDirOption() {
    String dir = System.getProperty("org.bytedeco.javacpp.cachedir");
    return dir == null ? "" : " -Dorg.bytedeco.javacpp.cachedir=" + dir;
  }
}
