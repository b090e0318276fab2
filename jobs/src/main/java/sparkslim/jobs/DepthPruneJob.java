package sparkslim.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.depth.BlockImportance;
import sparkslim.core.SparkslimException;
import sparkslim.core.depth.DepthCriterion;
import sparkslim.core.depth.DepthMode;
import sparkslim.core.depth.DepthPlanner;
import sparkslim.core.depth.DepthRound;
import sparkslim.core.depth.ShortenedModel;
import sparkslim.core.eval.EvalMode;
import sparkslim.core.eval.EvalTexts;
import sparkslim.core.depth.BlockScoreTable;
import sparkslim.core.io.DType;
import sparkslim.core.io.OutputDirectory;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelExporter;
import sparkslim.core.plan.DepthPrunePlan;
import sparkslim.jobs.driver.BlockImportanceScorer;
import sparkslim.jobs.spark.PerplexityEvaluator;
import sparkslim.jobs.spark.ExecutorModels;
import sparkslim.jobs.spark.SparkSessions;

/**
 * {@code sparkslim depth-prune}: depth pruning after Shortened LLaMA (Kim et al., 2024). Scores every block (PPL with
 * the block skipped, Taylor+ or magnitude), drops the protected blocks from the order, removes the least important
 * ones (one-shot, or one per round with re-scoring), and writes a smaller dense HuggingFace model. Each round's scores go
 * to {@code OUT/scores/round-NNNNN.parquet} as soon as they exist, so a rerun resumes after the last written round.
 */
public final class DepthPruneJob {
  public static final String JOB = "depth-prune";
  /** Test hook: {@code -Dsparkslim.inject-failure-after-round=r} fails the run right after round r is written. */
  public static final String INJECT_FAILURE_PROPERTY = "sparkslim.inject-failure-after-round";
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private DepthPruneJob() {}

  public static void run(List<String> args) {
    run(JobRun.start(JOB, args));
  }

  /** Runs a resolved configuration (from the command line, or a sweep's point inside its application). */
  static void run(JobRun run) {
    long t0 = run.startNanos();
    Config config = run.config();
    // Every setting is parsed and checked here, then against the model's config.json before any weight is read:
    // a user error never reaches Spark.
    DepthPrunePlan plan = DepthPrunePlan.of(config);
    DepthCriterion criterion = plan.depth().criterion();
    DepthMode mode = plan.depth().mode();
    int numBlocks = plan.depth().numBlocks();
    String modelPath = plan.model().path();
    String outputPath = plan.output().path();
    Configuration hadoopConf = run.hadoopConf();
    ModelDirectory model = ModelDirectory.open(modelPath, hadoopConf, plan::check);
    String configSource = model.root() + "/" + ModelDirectory.CONFIG_FILE;
    int numLayers = model.spec().numLayers();
    SortedSet<Integer> protectedBlocks = plan.depth().protectedBlocks(numLayers, configSource);
    DType dtype = plan.output().dtype(model.spec());
    List<int[]> windows = criterion.needsCalibration() ? run.calibrationWindows(plan.calibration(), model) : List.of();
    EvalTexts evalTexts = run.evalTexts(plan.eval(), model);
    String windowsSha = windowsSha256(windows);
    String fingerprint = plan.fingerprint(model.root().toString(), protectedBlocks, windowsSha);
    String runId = run.runId();
    run.log("run %s: remove %d of %d blocks of %s by %s (%s), protected %s, %s", runId, numBlocks, numLayers, modelPath, criterion.configName(),
        mode.configName(), protectedBlocks, windows.isEmpty() ? "no calibration" : windows.size() + " calibration windows of " + windows.get(0).length);
    String master = SparkSessions.resolveMaster(config.string(ConfigKey.SPARK_MASTER).trim());
    EvalMode.Decision decision = plan.eval().mode().decide(model.spec().parameterCount() * Float.BYTES, SparkSessions.executorMemoryBytes(master));
    boolean streamed = decision.mode() == EvalMode.STREAMED;
    run.log("%s", decision.logLine());
    if (streamed && criterion == DepthCriterion.TAYLOR) {
      throw new SparkslimException("'" + ConfigKey.DEPTH_CRITERION.key() + "' is taylor, whose backward pass needs the whole model in each "
          + "executor, but the model runs streamed (" + decision.reason() + "): use depth.criterion=ppl or magnitude, which stream, "
          + "or give the executors more memory ('spark.executor.memory') and set '" + ConfigKey.EVAL_MODE.key() + "=in-memory'");
    }
    // streamed: the driver reads no weights but one block at a time (magnitude), the executors read them from the files
    CausalLm lm = streamed ? null : run.shared().get("dense model", model.root().toString(), model::loadModel);
    String location = model.root().toString();

    run.onSpark(outputPath, master, config.string(ConfigKey.SPARK_APP_NAME), (jsc, out, report) -> {
      Path scoresDir = new Path(out.root(), "scores"); // written in place, round by round: a rerun resumes from them
      int partitions = plan.calibration().partitions(jsc.defaultParallelism());
      Broadcast<CausalLm> broadcast = streamed ? null : jsc.broadcast(lm);
      BlockImportanceScorer scorer = streamed ? BlockImportanceScorer.streamed(jsc, location, numLayers, windows, partitions)
          : new BlockImportanceScorer(jsc, broadcast, windows, partitions);
      List<DepthRound> rounds = new ArrayList<>();
      List<Boolean> resumed = new ArrayList<>();
      List<Integer> removed = new ArrayList<>();
      int numRounds = mode == DepthMode.ONE_SHOT ? 1 : numBlocks;
      for (int r = 0; r < numRounds; r++) {
        Path file = new Path(scoresDir, String.format("round-%05d.parquet", r));
        DepthRound round;
        if (exists(out, file)) {
          round = BlockScoreTable.read(file, fingerprint, numLayers, hadoopConf);
          run.log("round %d: resumed from %s, removes %s", r, file, round.removed());
          resumed.add(true);
        } else {
          jsc.setJobGroup("round-" + r, "sparkslim depth-prune: " + criterion.configName() + " round " + r, false);
          round = score(r, criterion, scorer, model, lm, removed, protectedBlocks, mode == DepthMode.ONE_SHOT ? numBlocks : 1,
              run.shared(), windowsSha + " " + streamed);
          BlockScoreTable.write(file, runId, fingerprint, criterion.configName(), round, protectedBlocks, hadoopConf);
          run.log("round %d: %s order %s, removes %s (%.1fs)", r, criterion.configName(), round.order(), round.removed(), round.seconds());
          resumed.add(false);
          String inject = System.getProperty(INJECT_FAILURE_PROPERTY);
          if (inject != null && Integer.parseInt(inject) == r) {
            throw new IllegalStateException("Injected failure after round " + r + " (" + INJECT_FAILURE_PROPERTY + ")");
          }
        }
        rounds.add(round);
        removed.addAll(round.removed());
      }
      if (broadcast != null) {
        broadcast.destroy();
      }
      List<Integer> kept = new ArrayList<>();
      for (int b = 0; b < numLayers; b++) {
        if (!removed.contains(b)) {
          kept.add(b);
        }
      }
      long tScored = System.nanoTime();

      Map<String, Object> metadata = new LinkedHashMap<>();
      metadata.put("removed_layers", removed);
      metadata.put("criterion", criterion.configName());
      metadata.put("mode", mode.configName());
      metadata.put("protected_layers", new ArrayList<>(protectedBlocks));
      metadata.put("num_calibration_samples", windows.size());
      metadata.put("calibration_seqlen", windows.isEmpty() ? 0 : windows.get(0).length);
      metadata.put("calibration_sha256", windowsSha);
      metadata.put("source_model", modelPath);
      metadata.put("run_id", runId);
      Path staged = out.staged("model");
      ShortenedModel.export(model, kept, dtype, out.fileSystem(), staged, metadata);
      long tExported = System.nanoTime();

      report.put("model", modelPath);
      report.put("output_dtype", dtype.hfName());
      report.put("num_hidden_layers_before", numLayers);
      report.put("num_hidden_layers_after", kept.size());
      report.put("parameters_before", ShortenedModel.parameters(model.spec(), allBlocks(numLayers)));
      report.put("parameters_after", ShortenedModel.parameters(model.spec(), kept));
      report.put("eval_mode", decision.mode().configName());
      depthReport(report.putObject("depth"), criterion, mode, numBlocks, protectedBlocks, rounds, resumed, removed, kept);
      ObjectNode calibration = report.putObject("calibration");
      calibration.put("windows", windows.size());
      calibration.put("seqlen", windows.isEmpty() ? 0 : windows.get(0).length);
      calibration.put("sha256", windowsSha);
      ObjectNode evalBefore = report.putObject("eval_before");
      ObjectNode evalAfter = report.putObject("eval");
      if (evalTexts != null) {
        int evalPartitions = Math.min(evalTexts.windows().size(), 2 * jsc.defaultParallelism());
        List<PerplexityEvaluator.WindowResult> before;
        List<PerplexityEvaluator.WindowResult> after;
        if (streamed) { // the shortened model is read back from the staged export, as a user would load it
          String exported = out.fileSystem().makeQualified(staged).toString();
          int perStack = PerplexityEvaluator.stackSize(model.spec(), evalTexts);
          before = PerplexityEvaluator.evaluateStreamed(jsc, location, numLayers, perStack, evalTexts, evalPartitions,
              m -> run.log("eval before: %s", m));
          after = PerplexityEvaluator.evaluateStreamed(jsc, exported, kept.size(), perStack, evalTexts, evalPartitions,
              m -> run.log("eval after: %s", m));
          ExecutorModels.clear(); // local mode ran the tasks in this JVM: drop what they cached
        } else {
          before = run.shared().get("dense eval", location + " " + plan.eval(), () -> PerplexityEvaluator.evaluate(jsc, lm, evalTexts, evalPartitions));
          after = PerplexityEvaluator.evaluate(jsc, ShortenedModel.inMemory(lm, kept, dtype), evalTexts, evalPartitions);
        }
        PerplexityEvaluator.report(evalBefore, evalTexts, before);
        PerplexityEvaluator.report(evalAfter, evalTexts, after);
        for (int t = 0; t < evalTexts.names().size(); t++) {
          run.log("%s: ppl before %.6f, after removing %s: %.6f", evalTexts.names().get(t), PerplexityEvaluator.perplexity(before, t), removed,
              PerplexityEvaluator.perplexity(after, t));
        }
      }
      long tEval = System.nanoTime();
      ObjectNode seconds = report.putObject("seconds");
      seconds.put("score", (tScored - t0) / 1e9);
      seconds.put("export", (tExported - tScored) / 1e9);
      seconds.put("eval", (tEval - tExported) / 1e9);
      seconds.put("total", (System.nanoTime() - t0) / 1e9);
      report.putObject("spark").put("master", jsc.master()).put("app_id", jsc.sc().applicationId()).put("calibration_partitions", partitions);
      run.log("removed %s, kept %s; wrote %s/model", removed, kept, out.root());
    });
  }

  /** Scores the blocks still in the model and picks the {@code take} least important unprotected ones. */
  private static DepthRound score(int round, DepthCriterion criterion, BlockImportanceScorer scorer, ModelDirectory model, CausalLm lm,
                                  List<Integer> removed, Set<Integer> protectedBlocks, int take, SharedWork shared, String calibrationKey) {
    long start = System.nanoTime();
    int numLayers = model.spec().numLayers();
    List<Integer> remaining = new ArrayList<>();
    for (int b = 0; b < numLayers; b++) {
      if (!removed.contains(b)) {
        remaining.add(b);
      }
    }
    Set<Integer> skip = Set.copyOf(removed);
    // A round's scores depend on the model, the calibration windows, the criterion and the blocks already removed, not on
    // how many blocks the run removes: one-shot runs of one criterion with different depth.num-blocks share them.
    BlockImportanceScorer.Scores scores = shared.get("block scores", model.root() + " " + criterion.configName() + " " + calibrationKey
        + " " + new TreeSet<>(skip), () -> blockScores(criterion, scorer, model, lm, skip, remaining));
    List<Integer> order = DepthPlanner.order(scores.scores(), remaining);
    List<Integer> candidates = DepthPlanner.withoutProtected(order, protectedBlocks);
    return new DepthRound(round, scores.scores(), order, List.copyOf(candidates.subList(0, take)), scores.modelScore(),
        (System.nanoTime() - start) / 1e9);
  }

  private static BlockImportanceScorer.Scores blockScores(DepthCriterion criterion, BlockImportanceScorer scorer, ModelDirectory model,
                                                          CausalLm lm, Set<Integer> skip, List<Integer> remaining) {
    int numLayers = model.spec().numLayers();
    BlockImportanceScorer.Scores scores;
    switch (criterion) {
      case PPL:
        scores = scorer.ppl(skip, remaining);
        break;
      case TAYLOR:
        scores = scorer.taylor(skip);
        break;
      case MAGNITUDE:
        double[] magnitude = new double[numLayers];
        java.util.Arrays.fill(magnitude, Double.NaN);
        // streamed: one block at a time from the files (the driver's only weights)
        remaining.forEach(b -> magnitude[b] = BlockImportance.magnitude(lm != null ? lm.blocks().get(b)
            : sparkslim.core.model.DecoderBlock.of(model.spec(), model.loadBlock(b))));
        scores = new BlockImportanceScorer.Scores(magnitude, Double.NaN);
        break;
      default:
        throw new IllegalStateException("Unhandled criterion " + criterion);
    }
    return scores;
  }

  static void depthReport(ObjectNode node, DepthCriterion criterion, DepthMode mode, int numBlocks, Set<Integer> protectedBlocks,
                          List<DepthRound> rounds, List<Boolean> resumed, List<Integer> removed, List<Integer> kept) {
    DepthRound first = rounds.get(0);
    node.put("criterion", criterion.configName());
    node.put("mode", mode.configName());
    node.put("num_blocks", numBlocks);
    protectedBlocks.forEach(node.putArray("protected")::add);
    putScores(node.putArray("scores"), first.scores());
    first.order().forEach(node.putArray("order")::add);
    DepthPlanner.withoutProtected(first.order(), protectedBlocks).forEach(node.putArray("candidate_order")::add);
    removed.forEach(node.putArray("removed")::add);
    kept.forEach(node.putArray("kept")::add);
    putNumber(node, "model_score", first.modelScore());
    ArrayNode roundNodes = node.putArray("rounds");
    for (int i = 0; i < rounds.size(); i++) {
      DepthRound r = rounds.get(i);
      ObjectNode rn = roundNodes.addObject();
      rn.put("round", r.round());
      putScores(rn.putArray("scores"), r.scores());
      r.order().forEach(rn.putArray("order")::add);
      r.removed().forEach(rn.putArray("removed")::add);
      putNumber(rn, "model_score", r.modelScore());
      rn.put("seconds", r.seconds());
      rn.put("resumed", resumed.get(i));
    }
  }

  private static void putScores(ArrayNode array, double[] scores) {
    for (double s : scores) {
      if (Double.isNaN(s)) {
        array.addNull();
      } else {
        array.add(s);
      }
    }
  }

  private static void putNumber(ObjectNode node, String key, double value) {
    if (Double.isNaN(value)) {
      node.putNull(key);
    } else {
      node.put(key, value);
    }
  }

  private static boolean exists(OutputDirectory out, Path file) {
    try {
      return out.fileSystem().exists(file);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("Cannot check " + file, e);
    }
  }

  private static List<Integer> allBlocks(int numLayers) {
    List<Integer> all = new ArrayList<>();
    for (int b = 0; b < numLayers; b++) {
      all.add(b);
    }
    return all;
  }

  /** SHA-256 of the calibration token ids (int32 little-endian, window after window); "" without calibration. */
  static String windowsSha256(List<int[]> windows) {
    if (windows.isEmpty()) {
      return "";
    }
    ByteBuffer buf = ByteBuffer.allocate(windows.stream().mapToInt(w -> w.length).sum() * Integer.BYTES).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    for (int[] w : windows) {
      for (int id : w) {
        buf.putInt(id);
      }
    }
    return TensorShardTable.sha256(buf.array());
  }

  static void log(String format, Object... args) {
    System.err.println("[sparkslim depth-prune] " + String.format(format, args));
  }
}
