package sparkslim.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.hadoop.fs.Path;
import java.util.List;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.eval.EvalMode;
import sparkslim.core.eval.EvalTexts;
import sparkslim.core.io.OutputDirectory;
import sparkslim.core.io.WindowNllTable;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.plan.EvalPlan;
import sparkslim.core.tokenize.TextTokenizer;
import sparkslim.jobs.spark.ExecutorModels;
import sparkslim.jobs.spark.PerplexityEvaluator;
import sparkslim.jobs.spark.SparkSessions;

/**
 * {@code sparkslim eval}: perplexity of a HuggingFace model on text files. The driver validates and tokenizes, the
 * windows are partitioned over Spark tasks (in-memory: one forward pass per window against a broadcast model; streamed:
 * the windows' hidden states go through one block per stage, each executor reading the block from the model files),
 * and the driver combines the window NLLs in window order, so the PPL is identical for any number of executors or
 * partitions, and in either mode.
 */
public final class EvalJob {
  /** Validated settings of this job: a flat view of its {@link EvalPlan}, and the eval mode. */
  record Settings(String modelPath, List<String> texts, int seqlen, int maxWindows, int partitions, EvalMode mode, String outputPath,
                  String master, String appName) {
    static Settings from(EvalPlan p, Config c) {
      return new Settings(p.model().path(), p.eval().texts(), p.eval().seqlen(), p.eval().maxWindows(), p.eval().partitions(), p.eval().mode(),
          p.output().path(), p.spark().master(), p.spark().appName());
    }
  }

  private EvalJob() {}

  public static void run(List<String> args) {
    run(JobRun.start("eval", args));
  }

  /** Runs a resolved configuration (from the command line, or a sweep's dense point inside its application). */
  static void run(JobRun run) {
    long t0 = run.startNanos();
    Config config = run.config();
    EvalPlan plan = EvalPlan.of(config);
    Settings s = Settings.from(plan, config);
    Configuration hadoopConf = run.hadoopConf();
    run.log("run %s: model.path=%s eval.texts=%s output.path=%s", run.runId(), s.modelPath(), s.texts(), s.outputPath());

    // Validate everything on the driver before Spark starts: model directory, tokenizer, texts.
    ModelDirectory model = ModelDirectory.open(s.modelPath(), hadoopConf, plan::check);
    EvalTexts texts = run.evalTexts(plan.eval(), model);
    for (int t = 0; t < texts.names().size(); t++) {
      run.log("text %s: %d tokens, %d windows of %d", texts.names().get(t), texts.tokenCounts().get(t), texts.windowCount(t), s.seqlen());
    }
    long tTokenized = System.nanoTime();
    String master = SparkSessions.resolveMaster(s.master());
    long modelBytes = model.spec().parameterCount() * Float.BYTES;
    EvalMode.Decision decision = s.mode().decide(modelBytes, SparkSessions.executorMemoryBytes(master));
    run.log("%s", decision.logLine());
    boolean streamed = decision.mode() == EvalMode.STREAMED;
    // streamed: the driver reads no weights, the executors read them from the files (ExecutorModels)
    CausalLm lm = streamed ? null : run.shared().get("dense model", model.root().toString(), model::loadModel);
    long tLoaded = System.nanoTime();

    run.onSpark(s.outputPath(), master, s.appName(), (jsc, out, report) -> {
      long tSpark = System.nanoTime();
      int partitions = Math.min(s.partitions() > 0 ? s.partitions() : Math.max(1, 2 * jsc.defaultParallelism()), texts.windows().size());
      jsc.setJobGroup(run.runId(), "sparkslim eval: " + texts.windows().size() + " windows", false);
      List<PerplexityEvaluator.WindowResult> results;
      if (streamed) {
        ExecutorModels.clear(); // local mode: tasks run in this JVM; read the files afresh
        try {
          results = PerplexityEvaluator.evaluateStreamed(jsc, model.root().toString(), model.spec().numLayers(),
              PerplexityEvaluator.stackSize(model.spec(), texts), texts, partitions, m -> run.log("%s", m));
        } finally {
          ExecutorModels.clear();
        }
      } else {
        results = run.shared().get("dense eval", model.root() + " " + plan.eval(), () -> PerplexityEvaluator.evaluate(jsc, lm, texts, partitions));
      }
      long tEvaluated = System.nanoTime();

      report.put("model", s.modelPath());
      report.put("parameters", model.spec().parameterCount());
      report.put("mode", decision.mode().configName());
      PerplexityEvaluator.report(report.putObject("eval"), texts, results);
      for (int t = 0; t < texts.names().size(); t++) {
        run.log("%s: ppl=%.6f over %d windows", texts.names().get(t), PerplexityEvaluator.perplexity(results, t), texts.windowCount(t));
      }
      ObjectNode sparkNode = report.putObject("spark");
      sparkNode.put("master", jsc.master());
      sparkNode.put("app_id", jsc.sc().applicationId());
      sparkNode.put("partitions", partitions);
      sparkNode.put("driver_pid", ProcessHandle.current().pid());
      PerplexityEvaluator.reportExecutors(sparkNode.putArray("executors"), results);
      List<WindowNllTable.Row> rows = PerplexityEvaluator.rows(run.runId(), s.modelPath(), texts, results);
      WindowNllTable.write(new Path(out.staged("window_nll"), "part-00000.parquet"), rows, hadoopConf);
      long tWritten = System.nanoTime();
      ObjectNode seconds = report.putObject("seconds");
      seconds.put("tokenize", secs(t0, tTokenized));
      seconds.put("load_model", secs(tTokenized, tLoaded));
      seconds.put("spark_start", secs(tLoaded, tSpark));
      seconds.put("evaluate", secs(tSpark, tEvaluated));
      seconds.put("write", secs(tEvaluated, tWritten));
      seconds.put("total", secs(t0, System.nanoTime()));
    });
  }

  private static double secs(long from, long to) {
    return Math.round((to - from) / 1e6) / 1e3;
  }
}
