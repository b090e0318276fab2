package sparkslim.jobs.driver;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkEnv;

/**
 * Test hook {@link LayerSequentialDriver#KILL_EXECUTOR_PROPERTY}: {@code -Dsparkslim.test.kill-executor=statistics:k} or
 * {@code solve:k} (on the driver) makes one executor JVM die in block k's statistics or solve stage, as {@code kill -9}
 * would (it halts with exit code 137), so the fault-tolerance tests see Spark lose a real executor with its shuffle
 * output and cached blocks, and recover. Where it fires:
 * <ul>
 *   <li>{@code statistics:k}: in a slice-merge task (the reduce side of the Gram-slice shuffle), after it has fetched
 *       its slices. The dying executor holds map outputs that stage needs, and cached calibration samples;</li>
 *   <li>{@code solve:k}: in a solve task, right after it wrote its linear's part file and before it returns its
 *       outcome, so the retried task finds the part file already there; and only on an executor that ran one of the
 *       block's slice-merge tasks, so the executor that dies holds shuffle output the solve stage reads.</li>
 * </ul>
 * The driver reads the property and ships this object in the task closures (executors never see the driver's system
 * properties). The first task attempt that fires creates a marker file, atomically, so exactly one JVM dies in a run;
 * it prints a line to its stderr first. Every later attempt (the retry, the replacement executor's tasks) finds the
 * marker and goes on. It never fires in the driver JVM ({@code local[*]} runs tasks there). The marker lives in the
 * driver's {@code java.io.tmpdir}, named by the Spark application and the run, so the hook is for
 * {@code local-cluster[...]}, whose executors share the driver's disk; the driver deletes it when the block's solves
 * are done.
 */
final class ExecutorKillHook implements Serializable {
  private static final long serialVersionUID = 1L;
  /** Exit code of a JVM killed by SIGKILL (128 + 9), what Spark sees after {@code kill -9}. */
  static final int EXIT_CODE = 137;
  private static final String STATISTICS = "statistics";
  private static final String SOLVE = "solve";
  /** The executor id of the driver (Spark's SparkContext.DRIVER_IDENTIFIER, which is not public API). */
  private static final String DRIVER = "driver";
  /** In an executor JVM: the markers of the solve hooks whose block's slice-merge tasks ran here. */
  private static final Set<String> MERGED_HERE = ConcurrentHashMap.newKeySet();

  private final String stage;
  private final int block;
  private final String marker;

  private ExecutorKillHook(String stage, int block, String marker) {
    this.stage = stage;
    this.block = block;
    this.marker = marker;
  }

  /** The hook for block {@code block} when the property asks for one, else null. Called on the driver. */
  static ExecutorKillHook of(int block, String applicationId, String runId) {
    String spec = System.getProperty(LayerSequentialDriver.KILL_EXECUTOR_PROPERTY);
    if (spec == null || spec.isBlank()) {
      return null;
    }
    String[] parts = spec.trim().split(":");
    if (parts.length != 2 || !(parts[0].equals(STATISTICS) || parts[0].equals(SOLVE)) || !parts[1].matches("\\d+")) {
      throw new IllegalArgumentException("-D" + LayerSequentialDriver.KILL_EXECUTOR_PROPERTY + "=" + spec
          + ": expected statistics:<block> or solve:<block>");
    }
    if (Integer.parseInt(parts[1]) != block) {
      return null;
    }
    String name = "sparkslim-kill-executor-" + applicationId.replaceAll("[^A-Za-z0-9_.-]", "_") + "-" + runId + "-" + parts[0] + "-" + block;
    return new ExecutorKillHook(parts[0], block, Path.of(System.getProperty("java.io.tmpdir"), name).toAbsolutePath().toString());
  }

  /** In a slice-merge task of the block, after it fetched its slices. */
  void inSliceMerge() {
    if (stage.equals(STATISTICS)) {
      fire();
    } else {
      MERGED_HERE.add(marker);
    }
  }

  /** In a solve task of the block, after it wrote its part file. */
  void inSolve() {
    if (stage.equals(SOLVE) && MERGED_HERE.contains(marker)) {
      fire();
    }
  }

  private void fire() {
    SparkEnv env = SparkEnv.get();
    if (env == null || DRIVER.equals(env.executorId())) {
      return;
    }
    try {
      Files.createFile(Path.of(marker)); // atomic: one JVM wins
    } catch (FileAlreadyExistsException e) {
      return;
    } catch (IOException e) {
      throw new UncheckedIOException("Test hook " + LayerSequentialDriver.KILL_EXECUTOR_PROPERTY + ": cannot create " + marker, e);
    }
    System.err.println("[sparkslim] test hook " + LayerSequentialDriver.KILL_EXECUTOR_PROPERTY + ": halting executor " + env.executorId()
        + " (pid " + ProcessHandle.current().pid() + ") in block " + block + "'s " + stage + " stage");
    System.err.flush();
    Runtime.getRuntime().halt(EXIT_CODE);
  }

  /** On the driver, when the block's solves are done: removes the marker. */
  void clear() {
    try {
      Files.deleteIfExists(Path.of(marker));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
