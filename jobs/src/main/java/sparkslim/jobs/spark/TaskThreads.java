package sparkslim.jobs.spark;

import sparkslim.core.linalg.Blas;

/**
 * Runs OpenBLAS single-threaded inside Spark tasks: parallelism comes from tasks, one per core. This is also what
 * makes results independent of the executor layout: measured on the eval job, OpenBLAS sgemm with 2 threads and
 * with 1 thread gave PPLs that differed in the 7th digit (74.48558818 vs 74.48559198), while tasks with a fixed
 * single thread give identical digits on local[1], local[2] and local-cluster.
 */
public final class TaskThreads {
  public static final int BLAS_THREADS_PER_TASK = 1;
  private static volatile boolean configured;

  private TaskThreads() {}

  /** Call at the start of a task; configures the JVM once (BLAS threads, the JIT-compiled vector kernels: {@code Ops.warmUp}). */
  public static void configureOnce() {
    if (!configured) {
      synchronized (TaskThreads.class) {
        if (!configured) {
          Blas.setThreads(BLAS_THREADS_PER_TASK);
          sparkslim.core.model.Ops.warmUp();
          configured = true;
        }
      }
    }
  }
}
