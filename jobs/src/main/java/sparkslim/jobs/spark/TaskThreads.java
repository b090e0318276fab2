package sparkslim.jobs.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import sparkslim.core.linalg.Blas;

/**
 * Sizes OpenBLAS's thread pool inside executors so that concurrent tasks do not oversubscribe the cores:
 * threads = max(1, cores of the JVM / tasks that run at once in it). Measured on 2 cores with local[2]: two tasks
 * with 2 BLAS threads each spent a third of the CPU time in the kernel (thread hand-offs).
 */
public final class TaskThreads {
  private static volatile boolean configured;

  private TaskThreads() {}

  /** Call at the start of a task; configures the JVM once. */
  public static void configureOnce() {
    if (!configured) {
      synchronized (TaskThreads.class) {
        if (!configured) {
          int cores = Runtime.getRuntime().availableProcessors();
          Blas.setThreads(Math.max(1, cores / Math.max(1, concurrentTasks(SparkEnv.get().conf(), cores))));
          configured = true;
        }
      }
    }
  }

  static int concurrentTasks(SparkConf conf, int cores) {
    String master = conf.get("spark.master", "");
    int taskCpus = conf.getInt("spark.task.cpus", 1);
    if (master.startsWith("local[") && !master.startsWith("local-cluster")) {
      String n = master.substring("local[".length(), master.indexOf(']')).split(",")[0].trim();
      int slots = n.equals("*") ? cores : Integer.parseInt(n);
      return Math.max(1, slots / taskCpus);
    }
    if (master.equals("local")) {
      return 1;
    }
    return Math.max(1, conf.getInt("spark.executor.cores", 1) / taskCpus);
  }
}
