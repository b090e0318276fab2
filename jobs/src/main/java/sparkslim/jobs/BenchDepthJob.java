package sparkslim.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.ModelDirectory;
import sparkslim.jobs.driver.BlockImportanceScorer;
import sparkslim.jobs.driver.CalibrationSource;
import sparkslim.jobs.spark.SparkSessions;

/**
 * {@code sparkslim bench-depth}: the PPL criterion's candidate phase (every block skipped in turn, plus the whole
 * model, over the calibration windows) once on each master of {@code bench.masters}, one after the other in this JVM.
 * Prints one JSON line per master with its seconds, then the speed-up of the last master over the first, and checks
 * that every master gave the same scores to the last bit.
 */
public final class BenchDepthJob {
  /** Window chunks per candidate when calibration.partitions is 0: the same task grid on every master. */
  static final int DEFAULT_CHUNKS = 4;

  private BenchDepthJob() {}

  /** The ';'-separated masters of 'bench.masters', at least two. */
  static List<String> masters(Config c) {
    List<String> masters = new ArrayList<>();
    for (String m : c.string(ConfigKey.BENCH_MASTERS).split(";")) {
      if (!m.isBlank()) {
        masters.add(m.trim());
      }
    }
    if (masters.size() < 2) {
      throw new SparkslimException("'bench.masters' lists " + masters + " but needs at least two masters to compare");
    }
    return masters;
  }

  public static void run(List<String> args) {
    Config c = ConfigLoader.fromArgs(DepthPruneJob.JOB, args);
    List<String> masters = masters(c);
    Configuration hadoopConf = new Configuration();
    ModelDirectory model = ModelDirectory.open(c.required(ConfigKey.MODEL_PATH), hadoopConf);
    List<int[]> windows = CalibrationSource.windows(c, model, hadoopConf);
    int chunks = c.integer(ConfigKey.CALIBRATION_PARTITIONS) > 0 ? c.integer(ConfigKey.CALIBRATION_PARTITIONS) : DEFAULT_CHUNKS;
    CausalLm lm = model.loadModel();
    List<Integer> candidates = new ArrayList<>();
    for (int b = 0; b < lm.numBlocks(); b++) {
      candidates.add(b);
    }
    ObjectMapper json = new ObjectMapper();
    List<Double> seconds = new ArrayList<>();
    double[] firstScores = null;
    for (String master : masters) {
      SparkSession spark = SparkSessions.start(master, c.string(ConfigKey.SPARK_APP_NAME) + "-bench-depth");
      try {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Broadcast<CausalLm> broadcast = jsc.broadcast(lm);
        BlockImportanceScorer scorer = new BlockImportanceScorer(jsc, broadcast, windows, chunks);
        long warmStart = System.nanoTime();
        scorer.ppl(Set.of(), candidates);
        double warmup = (System.nanoTime() - warmStart) / 1e9;
        long start = System.nanoTime();
        BlockImportanceScorer.Scores scores = scorer.ppl(Set.of(), candidates);
        double secs = (System.nanoTime() - start) / 1e9;
        seconds.add(secs);
        if (firstScores == null) {
          firstScores = scores.scores();
        } else if (!Arrays.equals(firstScores, scores.scores())) {
          throw new IllegalStateException("Scores on " + master + " differ from " + masters.get(0) + ": " + Arrays.toString(scores.scores())
              + " vs " + Arrays.toString(firstScores));
        }
        ObjectNode line = json.createObjectNode();
        line.put("bench", "depth-ppl-candidates");
        line.put("master", master);
        line.put("executors", jsc.sc().getExecutorMemoryStatus().size() - (master.startsWith("local-cluster") ? 1 : 0));
        line.put("candidates", candidates.size() + 1);
        line.put("windows", windows.size());
        line.put("seqlen", windows.get(0).length);
        line.put("tasks", (candidates.size() + 1) * Math.min(chunks, windows.size()));
        line.put("first_run_seconds", warmup);
        line.put("seconds", secs);
        line.put("model_ppl", scores.modelScore());
        System.out.println(line);
        broadcast.destroy();
      } finally {
        spark.stop();
      }
    }
    ObjectNode summary = json.createObjectNode();
    summary.put("bench", "depth-ppl-candidates");
    summary.put("speedup", seconds.get(0) / seconds.get(seconds.size() - 1));
    summary.put("of", masters.get(masters.size() - 1));
    summary.put("over", masters.get(0));
    summary.put("identical_scores", true);
    System.out.println(summary);
  }
}
