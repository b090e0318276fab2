package sparkslim.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import sparkslim.core.SparkslimException;
import sparkslim.core.bench.SparseGptBenchmark;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.io.DType;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.prune.LinearPruner;
import sparkslim.core.prune.MaskStructure;
import sparkslim.core.prune.PruningMethod;
import sparkslim.core.prune.SparseGptSolver;
import sparkslim.jobs.driver.CalibrationSource;
import sparkslim.jobs.driver.LayerSequentialDriver;
import sparkslim.jobs.driver.LinearSolveTask;
import sparkslim.jobs.driver.LinearStatistics;
import sparkslim.jobs.spark.SparkSessions;

/**
 * {@code sparkslim bench-solve}: the solve phase of one block (SparseGPT on each of its linears, one Spark task per
 * linear, largest first) on each master of {@code bench.masters}, one after the other in this JVM, with the same
 * statistics (block 0 of {@code model.path}, e.g. a {@code random-model --random.architecture=llama-7b}). Prints one JSON
 * line per master (statistics and solve seconds, per-linear seconds), the speed-up of the last master over the first, and
 * one SparseGPT solve of a 4096×11008 {@code down_proj} against its FLOP-bound time at this machine's sgemm peak, measured
 * in the same run. Fails if the masters' compressed linears differ in any bit.
 */
public final class BenchSolveJob {
  private BenchSolveJob() {}

  public static void run(List<String> args) {
    Config c = ConfigLoader.fromArgs("bench-solve", args);
    List<String> masters = BenchDepthJob.masters(c);
    Configuration hadoopConf = new Configuration();
    String location = c.required(ConfigKey.MODEL_PATH);
    ModelDirectory model = ModelDirectory.open(location, hadoopConf);
    List<int[]> windows = CalibrationSource.windows(c, model, hadoopConf);
    Map<String, LinearStatistics.LinearShape> shapes = LayerSequentialDriver.linearShapes(model.spec());
    double sparsity = c.decimal(ConfigKey.PRUNING_SPARSITY);
    LinearPruner pruner = new LinearPruner(PruningMethod.SPARSEGPT, sparsity, MaskStructure.UNSTRUCTURED, SparseGptSolver.DEFAULT_BLOCK_SIZE,
        SparseGptSolver.DEFAULT_DAMPENING_FRACTION, false);
    java.nio.file.Path scratch;
    try {
      scratch = Files.createTempDirectory("sparkslim-bench-solve");
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    ObjectMapper json = new ObjectMapper();
    List<Double> seconds = new ArrayList<>();
    Map<String, String> firstDigests = null;
    for (int k = 0; k < masters.size(); k++) {
      String master = masters.get(k);
      SparkSession spark = SparkSessions.start(master, c.string(ConfigKey.SPARK_APP_NAME) + "-bench-solve");
      try {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        long t0 = System.nanoTime();
        JavaRDD<LayerSequentialDriver.Sample> samples = LayerSequentialDriver.embed(jsc, location, windows, 2 * jsc.defaultParallelism());
        JavaPairRDD<String, LinearStatistics.Slice> statistics = LinearStatistics.compute(samples, location, 0, new ArrayList<>(shapes.values()), null);
        statistics.count();
        double statsSeconds = (System.nanoTime() - t0) / 1e9;
        String parts = scratch.resolve("master-" + k).toUri().toString();
        long t1 = System.nanoTime();
        List<LinearSolveTask.Solved> solved = statistics.mapPartitions(new LinearSolveTask(location, 0, shapes, pruner.solver(), MaskStructure.UNSTRUCTURED,
            DType.F32, parts, "bench-solve", "bench-solve", Map.of(), null, null)).collect();
        double solveSeconds = (System.nanoTime() - t1) / 1e9;
        seconds.add(solveSeconds);
        Map<String, String> digests = new LinkedHashMap<>();
        ObjectNode line = json.createObjectNode();
        line.put("bench", "block-solve");
        line.put("master", master);
        line.put("executors", jsc.sc().getExecutorMemoryStatus().size() - (master.startsWith("local-cluster") ? 1 : 0));
        line.put("windows", windows.size());
        line.put("seqlen", windows.get(0).length);
        line.put("statistics_seconds", statsSeconds);
        line.put("solve_seconds", solveSeconds);
        ObjectNode per = line.putObject("linear_seconds");
        for (String linear : shapes.keySet()) {
          for (LinearSolveTask.Solved s : solved) {
            if (s.outcome().linear().equals(linear)) {
              per.put(linear, s.outcome().seconds());
            }
          }
          digests.put(linear, TensorShardTable.sha256(TensorShardTable.read(LinearSolveTask.partFile(parts, linear), hadoopConf).values().iterator()
              .next().data()));
        }
        System.out.println(line);
        if (firstDigests == null) {
          firstDigests = digests;
        } else if (!firstDigests.equals(digests)) {
          throw new IllegalStateException("Compressed linears on " + master + " differ from " + masters.get(0) + ": " + digests + " vs " + firstDigests);
        }
        samples.unpersist(false);
      } finally {
        spark.stop();
      }
    }
    ObjectNode summary = json.createObjectNode();
    summary.put("bench", "block-solve-speedup");
    summary.put("first", masters.get(0));
    summary.put("last", masters.get(masters.size() - 1));
    summary.put("speedup", seconds.get(0) / seconds.get(seconds.size() - 1));
    summary.put("identical_outputs", true);
    System.out.println(summary);
    System.out.println(SparseGptBenchmark.run(4096, 11008, sparsity, SparseGptSolver.DEFAULT_BLOCK_SIZE));
  }
}
