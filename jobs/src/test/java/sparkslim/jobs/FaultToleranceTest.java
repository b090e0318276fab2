package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import org.apache.spark.TaskFailedReason;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorAdded;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.jobs.driver.LayerSequentialDriver;

/**
 * Fault tolerance of {@code prune} on {@code local-cluster[2,1,1024]} (two real executor JVMs): an executor JVM killed
 * during a block's statistics stage, and separately during its solve stage, and the driver JVM killed mid-run then the
 * same command rerun. Each run must give safetensors byte-identical to an undisturbed {@code local[2]} run.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FaultToleranceTest {
  private static final String CLUSTER = "local-cluster[2,1,1024]";
  private static final int BLOCKS = 8; // tiny-llama-imdb

  @TempDir
  static Path tmp;
  private static Path reference;

  /**
   * SparseGPT 50% on tiny-llama-imdb with the prune tests' small calibration (8 windows of 128 tokens). Short: no eval,
   * and blocks 0-3 pruned (blocks 4-7 are still propagated and written, dense).
   */
  private static String[] args(Path out, String master) {
    return PruneJobTest.pruneArgs("tiny-llama-imdb", out, "--pruning.method=sparsegpt", "--pruning.sparsity=0.5",
        "--pruning.layers=first-half", "--eval.texts=", "--spark.master=" + master);
  }

  @BeforeAll
  @Timeout(value = 10, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  static void undisturbedReference() {
    TestSupport.ensureSparkHome();
    reference = tmp.resolve("reference");
    long t0 = System.nanoTime();
    assertEquals(0, TestSupport.sparkslim(args(reference, "local[2]")));
    System.out.printf("reference on local[2]: %.1fs%n", (System.nanoTime() - t0) / 1e9);
  }

  @Test
  void executorKilledDuringStatisticsStage() throws IOException {
    // in the slice-merge task of block 1's statistics (the reduce side of the Gram-slice shuffle)
    runWithExecutorKilled("statistics:1", "LinearStatistics.java");
  }

  @Test
  void executorKilledDuringSolveStage() throws IOException {
    // in a solve task of block 1 (the collect of LinearSolveTask results), after it wrote its part file, on the
    // executor holding the statistics' shuffle output: the statistics stages must run again
    runWithExecutorKilled("solve:1", "collect at LayerSequentialDriver.java");
    assertTrue(FaultListener.SUBMITTED.stream().anyMatch(s -> s.contains("LinearStatistics.java") && s.contains("block-1")),
        "a statistics stage of block 1 was resubmitted to recompute the lost shuffle output: " + FaultListener.SUBMITTED);
  }

  /**
   * Runs prune in this JVM on local-cluster with {@code -Dsparkslim.test.kill-executor=spec}: one executor JVM halts
   * (exit 137, as after kill -9) inside the chosen stage. Spark must lose it with its shuffle output and cached
   * blocks, retry, recompute what was lost, and finish with the reference bytes.
   */
  private void runWithExecutorKilled(String spec, String stageCallSite) throws IOException {
    Path out = tmp.resolve("kill-executor-" + spec.replace(':', '-'));
    FaultListener.reset();
    System.setProperty(LayerSequentialDriver.KILL_EXECUTOR_PROPERTY, spec);
    System.setProperty("spark.extraListeners", FaultListener.class.getName());
    long t0 = System.nanoTime();
    int code;
    try {
      code = TestSupport.sparkslim(args(out, CLUSTER));
    } finally {
      System.clearProperty(LayerSequentialDriver.KILL_EXECUTOR_PROPERTY);
      System.clearProperty("spark.extraListeners");
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    FaultListener.print(spec);
    assertEquals(0, code, "prune with an executor killed (" + spec + ")");
    assertTrue(Files.exists(out.resolve("_SUCCESS")));

    assertFalse(FaultListener.REMOVED.isEmpty(), "an executor was lost");
    List<FaultListener.Failure> lost = FaultListener.FAILURES.stream()
        .filter(f -> f.reason().startsWith("ExecutorLostFailure") && "block-1".equals(f.jobGroup()) && f.stage().contains(stageCallSite))
        .collect(Collectors.toList());
    assertFalse(lost.isEmpty(), "a task of block 1's stage '" + stageCallSite + "' failed with ExecutorLostFailure; failures: "
        + FaultListener.FAILURES);
    TestSupport.assertSameModel(reference, out);
    System.out.printf("%s: executor killed, run completed in %.1fs, identical safetensors (%d files)%n", spec, seconds,
        TestSupport.safetensors(out).size());
  }

  @Test
  void driverKilledMidRunThenRerunResumes() throws Exception {
    Path out = tmp.resolve("kill-driver");
    String[] args = args(out, CLUSTER);
    Path log = tmp.resolve("kill-driver.log");
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) { // this JVM's flags: the surefire argLine
      if (!a.startsWith("-Xmx") && !a.startsWith("-agentlib:jdwp") && !a.startsWith("-javaagent")) {
        command.add(a);
      }
    }
    command.add("-Xmx2g");
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(Main.class.getName());
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    builder.environment().putIfAbsent("OPENBLAS_CORETYPE", "Haswell");
    builder.environment().putIfAbsent("SPARK_LOCAL_IP", "127.0.0.1");

    long t0 = System.nanoTime();
    Path shard2 = out.resolve("shards").resolve("block-00002.parquet");
    Process driver = builder.start();
    List<ProcessHandle> executors = new ArrayList<>();
    boolean[] existed = new boolean[BLOCKS];
    try {
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(6);
      while (!Files.exists(shard2)) {
        if (!driver.isAlive()) {
          fail("the prune process exited (" + driver.exitValue() + ") before writing " + shard2 + ":\n" + tail(log));
        }
        if (System.nanoTime() > deadline) {
          fail("no " + shard2 + " after 6 minutes:\n" + tail(log));
        }
        Thread.sleep(20);
      }
      executors.addAll(driver.descendants().collect(Collectors.toList()));
      driver.destroyForcibly(); // SIGKILL
      assertTrue(driver.waitFor(2, TimeUnit.MINUTES), "the killed driver exits");
      for (int b = 0; b < BLOCKS; b++) {
        existed[b] = Files.exists(out.resolve("shards").resolve(String.format("block-%05d.parquet", b)));
      }
    } finally {
      driver.destroyForcibly();
      reap(executors);
    }
    double killedAfter = (System.nanoTime() - t0) / 1e9;
    System.out.printf("driver (pid %d) killed after %.1fs, exit %d; shards written then: %s; its %d child JVMs are gone%n", driver.pid(),
        killedAfter, driver.exitValue(), shardList(existed), executors.size());
    assertEquals(137, driver.exitValue(), "killed by SIGKILL");
    assertFalse(Files.exists(out.resolve("_SUCCESS")), "no _SUCCESS after the killed run");
    assertTrue(existed[0] && existed[1] && existed[2], "blocks 0-2 were written before the kill");
    assertFalse(existed[BLOCKS - 1], "the driver was killed mid-run, before the last block");

    long t1 = System.nanoTime();
    assertEquals(0, TestSupport.sparkslim(args), "the rerun of the same command");
    double rerun = (System.nanoTime() - t1) / 1e9;
    assertTrue(Files.exists(out.resolve("_SUCCESS")), "_SUCCESS after the rerun");
    JsonNode blocks = TestSupport.readJson(out.resolve("report.json")).get("blocks");
    assertEquals(BLOCKS, blocks.size());
    List<Integer> resumed = new ArrayList<>();
    for (int b = 0; b < BLOCKS; b++) {
      assertEquals(b, blocks.get(b).get("block").asInt());
      assertEquals(existed[b], blocks.get(b).get("resumed").asBoolean(), "block " + b + " resumed iff its shard was written before the kill");
      if (existed[b]) {
        resumed.add(b);
      }
    }
    TestSupport.assertSameModel(reference, out);
    System.out.printf("rerun in %.1fs resumed blocks %s, solved the rest; identical safetensors%n", rerun, resumed);
  }

  /** Waits for the killed driver's child JVMs (its executors) to exit, as they do when they lose the driver; kills any left. */
  private static void reap(List<ProcessHandle> children) {
    for (ProcessHandle p : children) {
      try {
        p.onExit().get(60, TimeUnit.SECONDS);
      } catch (TimeoutException e) {
        System.out.println("child JVM " + p.pid() + " still alive 60s after its driver was killed: killing it");
        p.destroyForcibly();
      } catch (Exception e) {
        p.destroyForcibly();
      }
    }
  }

  private static String shardList(boolean[] existed) {
    List<Integer> blocks = new ArrayList<>();
    for (int b = 0; b < existed.length; b++) {
      if (existed[b]) {
        blocks.add(b);
      }
    }
    return "blocks " + blocks;
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** Records what Spark saw: stages (with their job group), failed task attempts, executors added and removed. */
  public static final class FaultListener extends SparkListener {
    record Failure(int stageId, int stageAttempt, String stage, String jobGroup, String executor, String reason) {}

    static final Map<Integer, String[]> STAGES = new ConcurrentHashMap<>(); // id -> {name, job group}
    static final Queue<Failure> FAILURES = new ConcurrentLinkedQueue<>();
    static final Queue<String> ADDED = new ConcurrentLinkedQueue<>();
    static final Queue<String> REMOVED = new ConcurrentLinkedQueue<>();
    static final Queue<String> SUBMITTED = new ConcurrentLinkedQueue<>();

    static void reset() {
      STAGES.clear();
      FAILURES.clear();
      ADDED.clear();
      REMOVED.clear();
      SUBMITTED.clear();
    }

    @Override
    public void onStageSubmitted(SparkListenerStageSubmitted event) {
      String group = event.properties() == null ? null : event.properties().getProperty("spark.jobGroup.id");
      STAGES.put(event.stageInfo().stageId(), new String[] {event.stageInfo().name(), group});
      if (event.stageInfo().attemptNumber() > 0) {
        SUBMITTED.add("stage " + event.stageInfo().stageId() + " (" + event.stageInfo().name() + ", " + group + ") attempt "
            + event.stageInfo().attemptNumber() + ": " + event.stageInfo().numTasks() + " tasks");
      }
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd event) {
      if (event.reason() instanceof TaskFailedReason failed) {
        String[] stage = STAGES.getOrDefault(event.stageId(), new String[] {"?", null});
        FAILURES.add(new Failure(event.stageId(), event.stageAttemptId(), stage[0], stage[1], event.taskInfo().executorId(),
            failed.toErrorString().lines().findFirst().orElse("")));
      }
    }

    @Override
    public void onExecutorAdded(SparkListenerExecutorAdded event) {
      ADDED.add(event.executorId());
    }

    @Override
    public void onExecutorRemoved(SparkListenerExecutorRemoved event) {
      REMOVED.add("executor " + event.executorId() + ": " + event.reason());
    }

    static void print(String spec) {
      System.out.println(spec + ": executors added " + ADDED + ", removed " + REMOVED);
      FAILURES.forEach(f -> System.out.println(spec + ": failed task in stage " + f.stageId() + "." + f.stageAttempt() + " (" + f.stage()
          + ", " + f.jobGroup() + ") on executor " + f.executor() + ": " + f.reason()));
      SUBMITTED.forEach(s -> System.out.println(spec + ": resubmitted " + s));
    }
  }
}
