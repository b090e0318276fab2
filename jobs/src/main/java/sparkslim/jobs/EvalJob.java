package sparkslim.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.eval.EvalWindows;
import sparkslim.core.io.OutputDirectory;
import sparkslim.core.io.WindowNllTable;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.tokenize.TextFiles;
import sparkslim.core.tokenize.TextTokenizer;
import sparkslim.jobs.spark.SparkSessions;
import sparkslim.jobs.spark.TaskThreads;

/**
 * {@code sparkslim eval}: perplexity of a HuggingFace model on text files. The driver validates and tokenizes, the
 * windows are partitioned over Spark tasks (one forward pass per window against a broadcast model), and the driver
 * combines the window NLLs in window order, so the PPL is identical for any number of executors or partitions.
 */
public final class EvalJob {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** Validated settings of this job. */
  record Settings(String modelPath, List<String> texts, int seqlen, int maxWindows, int partitions, String outputPath,
                  String master, String appName) {
    static Settings from(Config c) {
      List<String> texts = c.list(ConfigKey.EVAL_TEXTS);
      if (texts.isEmpty()) {
        throw new SparkslimException("Missing required key 'eval.texts' (" + ConfigKey.EVAL_TEXTS.description() + "): pass --eval.texts=FILE[,FILE...]");
      }
      int seqlen = c.integer(ConfigKey.EVAL_SEQLEN);
      if (seqlen < 2) {
        throw new SparkslimException("'eval.seqlen' is set to " + seqlen + " but must be at least 2");
      }
      int maxWindows = c.integer(ConfigKey.EVAL_MAX_WINDOWS);
      if (maxWindows < 0) {
        throw new SparkslimException("'eval.max-windows' is set to " + maxWindows + " but must be >= 0 (0 = all windows)");
      }
      int partitions = c.integer(ConfigKey.EVAL_PARTITIONS);
      if (partitions < 0) {
        throw new SparkslimException("'eval.partitions' is set to " + partitions + " but must be >= 0 (0 = automatic)");
      }
      return new Settings(c.required(ConfigKey.MODEL_PATH), texts, seqlen, maxWindows, partitions, c.required(ConfigKey.OUTPUT_PATH),
          c.string(ConfigKey.SPARK_MASTER).trim(), c.string(ConfigKey.SPARK_APP_NAME));
    }
  }

  /** One window to evaluate; {@code text} indexes {@link Settings#texts}. */
  record WindowTask(int text, int window, int[] tokens) implements Serializable {}

  /** One evaluated window, with where it ran. */
  record WindowResult(int text, int window, double nll, String executorId, long pid) implements Serializable {}

  private EvalJob() {}

  public static void run(List<String> args) {
    long t0 = System.nanoTime();
    Config config = ConfigLoader.fromArgs(args);
    Settings s = Settings.from(config);
    String runId = "eval-" + UUID.randomUUID().toString().substring(0, 8);
    Configuration hadoopConf = new Configuration();
    log("run %s: model.path=%s eval.texts=%s output.path=%s", runId, s.modelPath(), s.texts(), s.outputPath());

    // Validate everything on the driver before Spark starts: model directory, tokenizer, texts.
    ModelDirectory model = ModelDirectory.open(s.modelPath(), hadoopConf);
    List<int[]> tokenized = new ArrayList<>();
    List<String> names = new ArrayList<>();
    List<WindowTask> tasks = new ArrayList<>();
    try (TextTokenizer tokenizer = TextTokenizer.load(model.fileSystem(), model.tokenizerPath())) {
      for (int t = 0; t < s.texts().size(); t++) {
        Path path = new Path(s.texts().get(t));
        String text = TextFiles.read(path, hadoopConf, ConfigKey.EVAL_TEXTS.key());
        int[] tokens = tokenizer.encode(text);
        names.add(path.getName());
        tokenized.add(tokens);
        List<int[]> windows = EvalWindows.cut(tokens, s.seqlen(), s.maxWindows(), path.toString());
        for (int w = 0; w < windows.size(); w++) {
          tasks.add(new WindowTask(t, w, windows.get(w)));
        }
        log("text %s: %d tokens, %d windows of %d", path.getName(), tokens.length, windows.size(), s.seqlen());
      }
    }
    if (names.stream().distinct().count() != names.size()) {
      throw new SparkslimException("'eval.texts' names two files with the same file name " + names + ": report.json keys must be unique");
    }
    if (s.seqlen() > model.spec().maxPositionEmbeddings()) {
      throw new SparkslimException("'eval.seqlen' is " + s.seqlen() + " but the model's max_position_embeddings is "
          + model.spec().maxPositionEmbeddings() + " (" + model.root() + "/config.json)");
    }
    long tTokenized = System.nanoTime();
    CausalLm lm = model.loadModel();
    long tLoaded = System.nanoTime();
    OutputDirectory out = OutputDirectory.prepare(s.outputPath(), runId, hadoopConf);

    SparkSession spark = SparkSessions.start(s.master(), s.appName());
    try {
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      long tSpark = System.nanoTime();
      int partitions = s.partitions() > 0 ? s.partitions() : Math.max(1, 2 * jsc.defaultParallelism());
      partitions = Math.min(partitions, tasks.size());
      jsc.setJobGroup(runId, "sparkslim eval: " + tasks.size() + " windows", false);
      Broadcast<CausalLm> bcModel = jsc.broadcast(lm);
      JavaRDD<WindowTask> rdd = jsc.parallelize(tasks, partitions);
      List<WindowResult> results = new ArrayList<>(rdd.map(task -> {
        TaskThreads.configureOnce();
        CausalLm m = bcModel.value();
        double nll = m.windowNll(task.tokens());
        return new WindowResult(task.text(), task.window(), nll, SparkEnv.get().executorId(), ProcessHandle.current().pid());
      }).collect());
      bcModel.destroy();
      long tEvaluated = System.nanoTime();
      results.sort(Comparator.comparingInt(WindowResult::text).thenComparingInt(WindowResult::window));

      ObjectNode report = JSON.createObjectNode();
      report.put("job", "eval");
      report.put("run_id", runId);
      report.put("model", s.modelPath());
      ObjectNode eval = report.putObject("eval");
      List<WindowNllTable.Row> rows = new ArrayList<>();
      for (int t = 0; t < names.size(); t++) {
        final int textIndex = t;
        double[] nlls = results.stream().filter(r -> r.text() == textIndex).mapToDouble(WindowResult::nll).toArray();
        ObjectNode e = eval.putObject(names.get(t));
        e.put("ppl", EvalWindows.perplexity(nlls));
        e.put("windows", nlls.length);
        e.put("tokens", tokenized.get(t).length);
        e.put("seqlen", s.seqlen());
        e.put("mean_nll", Math.log(EvalWindows.perplexity(nlls)));
        log("%s: ppl=%.6f over %d windows", names.get(t), EvalWindows.perplexity(nlls), nlls.length);
      }
      for (WindowResult r : results) {
        rows.add(new WindowNllTable.Row(runId, s.modelPath(), names.get(r.text()), r.window(), s.seqlen(), r.nll(), r.executorId()));
      }
      ObjectNode sparkNode = report.putObject("spark");
      sparkNode.put("master", jsc.master());
      sparkNode.put("app_id", jsc.sc().applicationId());
      sparkNode.put("partitions", partitions);
      sparkNode.put("driver_pid", ProcessHandle.current().pid());
      ArrayNode executors = sparkNode.putArray("executors");
      Map<String, long[]> byExecutor = new TreeMap<>(); // id -> {pid, windows}
      for (WindowResult r : results) {
        byExecutor.computeIfAbsent(r.executorId(), k -> new long[] {r.pid(), 0})[1]++;
      }
      byExecutor.forEach((id, v) -> executors.addObject().put("id", id).put("pid", v[0]).put("windows", v[1]));

      WindowNllTable.write(new Path(out.staged("window_nll"), "part-00000.parquet"), rows, hadoopConf);
      out.writeString("resolved-config.yaml", config.toYaml());
      long tWritten = System.nanoTime();
      ObjectNode seconds = report.putObject("seconds");
      seconds.put("tokenize", secs(t0, tTokenized));
      seconds.put("load_model", secs(tTokenized, tLoaded));
      seconds.put("spark_start", secs(tLoaded, tSpark));
      seconds.put("evaluate", secs(tSpark, tEvaluated));
      seconds.put("write", secs(tEvaluated, tWritten));
      seconds.put("total", secs(t0, System.nanoTime()));
      out.writeString("report.json", JSON.writeValueAsString(report) + "\n");
      out.commit();
      log("wrote %s/report.json and _SUCCESS", out.root());
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      out.abort();
      throw new IllegalStateException(e);
    } catch (RuntimeException e) {
      out.abort();
      throw e;
    } finally {
      spark.stop();
    }
  }

  private static double secs(long from, long to) {
    return Math.round((to - from) / 1e6) / 1e3;
  }

  static void log(String format, Object... args) {
    System.err.println("[sparkslim eval] " + String.format(format, args));
  }
}
