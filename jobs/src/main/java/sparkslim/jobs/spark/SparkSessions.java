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
  /** Spark's default {@code spark.executor.memory}. */
  public static final long DEFAULT_EXECUTOR_MEMORY_MB = 1024;
  private static final long MIB = 1024L * 1024;
  private static final java.util.regex.Pattern LOCAL_CLUSTER =
      java.util.regex.Pattern.compile("local-cluster\\[\\s*\\d+\\s*,\\s*\\d+\\s*,\\s*(\\d+)\\s*]");

  /** How many times {@link #start} was called in this JVM (tests check that a user error starts no Spark). */
  private static final AtomicInteger STARTED = new AtomicInteger();

  private SparkSessions() {}

  /** The number of {@link #start} calls so far in this JVM. */
  public static int started() {
    return STARTED.get();
  }

  /** The master {@link #start} uses: {@code spark.master} from the config, else spark-submit's, else {@code local[*]}. */
  public static String resolveMaster(String configuredMaster) {
    return !configuredMaster.isBlank() ? configuredMaster.trim() : new SparkConf().get("spark.master", DEFAULT_MASTER);
  }

  /**
   * The heap, in bytes, of one executor of a session {@link #start}ed on {@code master}, known before it starts:
   * for {@code local[...]} the tasks run in this JVM ({@link Runtime#maxMemory}); for {@code local-cluster[n,c,MB]}
   * MB, unless {@code spark.executor.memory} is given (as {@link #start} sets it); otherwise {@code spark.executor.memory}
   * (spark-submit's, via system properties), Spark's default 1g if unset.
   */
  public static long executorMemoryBytes(String master) {
    SparkConf conf = new SparkConf();
    return executorMemoryBytes(master, conf.contains("spark.executor.memory") ? conf.get("spark.executor.memory") : null,
        Runtime.getRuntime().maxMemory());
  }

  /** As {@link #executorMemoryBytes(String)}, with the setting of {@code spark.executor.memory} (or null) and this JVM's max heap given. */
  public static long executorMemoryBytes(String master, String executorMemorySetting, long driverMaxMemory) {
    String m = master.trim();
    if (m.equals("local") || m.startsWith("local[")) {
      return driverMaxMemory;
    }
    if (executorMemorySetting == null) {
      java.util.regex.Matcher lc = LOCAL_CLUSTER.matcher(m);
      return lc.matches() ? Long.parseLong(lc.group(1)) * MIB : DEFAULT_EXECUTOR_MEMORY_MB * MIB;
    }
    try {
      return org.apache.spark.network.util.JavaUtils.byteStringAsMb(executorMemorySetting.trim()) * MIB;
    } catch (NumberFormatException e) {
      throw new sparkslim.core.SparkslimException("'spark.executor.memory' is set to '" + executorMemorySetting
          + "' but must be a memory size such as 4g or 4096m");
    }
  }

  public static SparkSession start(String configuredMaster, String appName) {
    return start(configuredMaster, appName, java.util.Map.of());
  }

  /** As {@link #start(String, String)}, with {@code settings} set where neither spark-submit nor the system properties set them. */
  public static SparkSession start(String configuredMaster, String appName, java.util.Map<String, String> settings) {
    STARTED.incrementAndGet();
    SparkConf conf = new SparkConf(); // picks up spark.* system properties set by spark-submit
    settings.forEach(conf::setIfMissing);
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
    // Our tasks are long (a block's statistics, a linear's solve) and read their input from the files or a shuffle:
    // waiting up to 3 s per locality level for a busy executor (Spark's default) only leaves another one idle.
    conf.setIfMissing("spark.locality.wait", "0s");
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
      java.util.regex.Matcher m = LOCAL_CLUSTER.matcher(master);
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
