package sparkslim.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.prune.MaskStructure;
import sparkslim.core.prune.SparseGptSolver;
import sparkslim.core.prune.sparsellm.FfnKind;
import sparkslim.core.prune.sparsellm.FfnState;
import sparkslim.core.prune.sparsellm.FfnWeights;
import sparkslim.core.prune.sparsellm.SparseLlmOptions;
import sparkslim.core.prune.sparsellm.SparseLlmSolver;
import sparkslim.jobs.driver.DenseFfn;
import sparkslim.jobs.driver.FfnAlternation;
import sparkslim.jobs.spark.ExecutorModels;
import sparkslim.jobs.spark.SparkSessions;
import sparkslim.jobs.spark.TaskThreads;

/**
 * {@code sparkslim bench-sparsellm}: the SparseLLM alternation of one LLaMA FFN at given shapes (default LLaMA-7B:
 * d = 4096, f = 11008) on random data, once per calibration token count in {@code bench.tokens}. Reports, per run,
 * the driver's peak heap, the bytes of statistics the driver fetched per alternation (the objective only: the fits are
 * solved by tasks where their statistics meet), and the bytes of all task results (Spark's own count), which must not
 * grow with the tokens. The alternations' files go under {@code output.path} (default: a temporary directory; give a
 * shared path on a cluster).
 */
public final class BenchSparseLlmJob {
  private BenchSparseLlmJob() {}

  public static void run(List<String> args) {
    Config c = ConfigLoader.fromArgs(args);
    int d = c.integer(ConfigKey.BENCH_HIDDEN);
    int f = c.integer(ConfigKey.BENCH_FFN);
    int sampleTokens = c.integer(ConfigKey.BENCH_SAMPLE_TOKENS);
    List<Integer> tokenCounts = new ArrayList<>();
    for (String t : c.list(ConfigKey.BENCH_TOKENS)) {
      try {
        tokenCounts.add(Integer.parseInt(t.trim()));
      } catch (NumberFormatException e) {
        throw new SparkslimException("'bench.tokens' holds '" + t + "' but must be a comma-separated list of token counts");
      }
    }
    for (int tokens : tokenCounts) {
      if (tokens < sampleTokens || tokens % sampleTokens != 0) {
        throw new SparkslimException("'bench.tokens' holds " + tokens + " but must be a positive multiple of 'bench.sample-tokens' ("
            + sampleTokens + ")");
      }
    }
    FfnKind kind = FfnKind.LLAMA_SWIGLU;
    SparseLlmOptions options = SparseLlmOptions.resolve(kind, c.string(ConfigKey.PRUNING_SPARSELLM_ALPHA), c.string(ConfigKey.PRUNING_SPARSELLM_BETA),
        c.string(ConfigKey.PRUNING_SPARSELLM_GAMMA), c.string(ConfigKey.PRUNING_SPARSELLM_ITERATIONS),
        c.integer(ConfigKey.PRUNING_SPARSELLM_S_GRADIENT_STEPS), c.decimal(ConfigKey.PRUNING_SPARSELLM_S_LEARNING_RATE));
    SparseLlmSolver solver = new SparseLlmSolver(options, new SparseGptSolver(c.decimal(ConfigKey.PRUNING_SPARSITY), MaskStructure.UNSTRUCTURED,
        c.integer(ConfigKey.PRUNING_BLOCK_SIZE), c.decimal(ConfigKey.PRUNING_DAMPENING_FRACTION), false));
    SparkSession spark = SparkSessions.start(c.string(ConfigKey.SPARK_MASTER).trim(), c.string(ConfigKey.SPARK_APP_NAME));
    ObjectMapper json = new ObjectMapper();
    try {
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      AtomicLong resultBytes = new AtomicLong();
      spark.sparkContext().addSparkListener(new SparkListener() {
        @Override
        public void onTaskEnd(SparkListenerTaskEnd end) {
          if (end.taskMetrics() != null) {
            resultBytes.addAndGet(end.taskMetrics().resultSize());
          }
        }
      });
      DenseFfn dense = new DenseFfn.Seeded(d, f, 1); // (f, d), (f, d), (d, f)
      String output = c.string(ConfigKey.OUTPUT_PATH).trim();
      String scratch = output.isEmpty() ? java.nio.file.Files.createTempDirectory("sparkslim-bench-sparsellm").toString() : output;
      for (int tokens : tokenCounts) {
        int samples = tokens / sampleTokens;
        List<Integer> indices = new ArrayList<>();
        for (int i = 0; i < samples; i++) {
          indices.add(i);
        }
        JavaRDD<FfnState> states = jsc.parallelize(indices, Math.min(samples, 2 * jsc.defaultParallelism())).map(i -> {
          TaskThreads.configureOnce();
          FfnWeights weights = ExecutorModels.step("bench-sparsellm-dense", dense::weights);
          float[] x = gaussian(new Random(1000L + i), sampleTokens * d, 1); // (sampleTokens, d)
          return FfnState.capture(i, x, sampleTokens, weights);
        }).persist(StorageLevel.DISK_ONLY());
        states.count();
        System.gc();
        resetPeaks();
        resultBytes.set(0);
        long t0 = System.nanoTime();
        String parts = new org.apache.hadoop.fs.Path(scratch, "_parts-" + tokens).toString();
        FfnAlternation.Result result = new FfnAlternation(jsc, solver, options, BenchSparseLlmJob::log).run(0, states, dense,
            new FfnAlternation.Parts(parts, "", sparkslim.core.io.DType.F32, "bench-sparsellm", "bench-sparsellm"));
        org.apache.hadoop.fs.Path partsPath = new org.apache.hadoop.fs.Path(parts);
        partsPath.getFileSystem(jsc.hadoopConfiguration()).delete(partsPath, true);
        ObjectNode line = json.createObjectNode();
        line.put("benchmark", "sparsellm-ffn").put("hidden", d).put("ffn", f).put("tokens", tokens).put("samples", samples)
            .put("iterations", options.iterations()).put("master", jsc.master()).put("executors", jsc.sc().getExecutorIds().size());
        ArrayNode perIteration = line.putArray("bytes_collected_per_iteration");
        ArrayNode objective = line.putArray("objective");
        for (FfnAlternation.Iteration it : result.iterations()) {
          perIteration.add(it.bytesCollected());
          objective.add(it.objective());
        }
        line.put("task_result_bytes_total", resultBytes.get());
        line.put("driver_peak_heap_bytes", peakHeap());
        line.put("driver_max_heap_bytes", Runtime.getRuntime().maxMemory());
        line.put("seconds", (System.nanoTime() - t0) / 1e9);
        System.out.println(json.writeValueAsString(line));
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } finally {
      spark.stop();
    }
  }

  static float[] gaussian(Random rnd, int size, double scale) {
    float[] values = new float[size];
    for (int i = 0; i < size; i++) {
      values[i] = (float) (rnd.nextGaussian() * scale);
    }
    return values;
  }

  private static void resetPeaks() {
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      if (pool.getType() == MemoryType.HEAP) {
        pool.resetPeakUsage();
      }
    }
  }

  /** Σ over heap pools of their peak usage since {@link #resetPeaks} (an upper bound of the peak heap). */
  private static long peakHeap() {
    long total = 0;
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      if (pool.getType() == MemoryType.HEAP) {
        total += pool.getPeakUsage().getUsed();
      }
    }
    return total;
  }

  static void log(String message) {
    System.err.println("[sparkslim bench-sparsellm] " + message);
  }
}
