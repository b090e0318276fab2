package sparkslim.jobs;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.eval.EvalTexts;
import sparkslim.core.io.AvroSchemas;
import sparkslim.core.io.DType;
import sparkslim.core.lowrank.LowRankCheckpoint;
import sparkslim.core.lowrank.LowRankExport;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.plan.LowRankPlan;
import sparkslim.core.plan.LowRankSettings;
import sparkslim.core.prune.MaskStructure;
import sparkslim.jobs.driver.LayerSequentialDriver;

/**
 * {@code sparkslim lowrank}: SVD-LLM (or plain SVD) low-rank factorization on Spark, layer-sequential (docs/depth_quant.md
 * §5): Σ XᵀX of every linear comes from the statistics pipeline, each linear is factored in its own solve task, and each
 * block's inputs come from the already factored blocks before it. Writes {@code OUT/factors/} (the factors, Parquet)
 * and {@code OUT/shards/} (the other block tensors) block by block, so a rerun resumes; then
 * {@code OUT/model/} (the factored checkpoint: {@code <linear>.u_proj.weight}, {@code <linear>.v_proj.weight}, the ranks
 * in config.json), {@code OUT/model-dense/} (W′ multiplied back, fp32, for transformers), {@code report.json} with the
 * rank and truncation loss per linear, the parameter counts and the PPL of the factored model, the resolved config
 * and {@code _SUCCESS}.
 */
public final class LowRankJob {

  private LowRankJob() {}

  public static void run(List<String> args) {
    run(JobRun.start("lowrank", args));
  }

  /** Runs a resolved configuration (from the command line, or a sweep's point inside its application). */
  static void run(JobRun run) {
    long t0 = run.startNanos();
    Config config = run.config();
    // Every setting is parsed and checked here, then against the model's config.json before any weight is read:
    // a user error never reaches Spark.
    LowRankPlan plan = LowRankPlan.of(config);
    LowRankSettings lowRank = plan.lowRank();
    String modelPath = plan.model().path();
    String outputPath = plan.output().path();
    Configuration hadoopConf = run.hadoopConf();
    ModelDirectory model = ModelDirectory.open(modelPath, hadoopConf, plan::check);
    ModelSpec spec = model.spec();
    DType dtype = plan.output().dtype(spec);
    boolean readsData = lowRank.method().readsStatistics();
    List<int[]> windows = readsData ? run.calibrationWindows(plan.calibration(), model) : List.of();
    EvalTexts evalTexts = run.evalTexts(plan.eval(), model);
    String fingerprint = plan.fingerprint(model.root().toString());
    String runId = run.runId();
    Map<String, Integer> ranks = lowRank.ranks(spec);
    run.log("run %s: %s ratio %s on %s (ranks %s), %s, output dtype %s", runId, lowRank.method().configName(), lowRank.ratio(), modelPath,
        ranks, windows.isEmpty() ? "no calibration data" : windows.size() + " calibration windows of " + windows.get(0).length + " tokens", dtype);

    run.onSpark(outputPath, config.string(ConfigKey.SPARK_MASTER).trim(), config.string(ConfigKey.SPARK_APP_NAME), (jsc, out, report) -> {
      Path shardsDir = new Path(out.root(), "shards"); // written in place, block by block: a rerun resumes from them
      Path factorsDir = new Path(out.root(), "factors");
      Path metricsDir = new Path(out.root(), "metrics");
      int partitions = plan.calibration().partitions(jsc.defaultParallelism());
      LayerSequentialDriver driver = new LayerSequentialDriver(jsc, hadoopConf, model, modelPath, lowRank.solver(), null,
          MaskStructure.UNSTRUCTURED, dtype, runId, fingerprint, null, spec.numLayers(), m -> run.log("%s", m));
      List<LayerSequentialDriver.LinearOutcome> linears = new ArrayList<>();
      List<LayerSequentialDriver.BlockOutcome> blocks = new ArrayList<>();
      LayerSequentialDriver.BlockSink sink = new LayerSequentialDriver.BlockSink() {
        @Override
        public Path shardFile(int block) {
          return CompressedOutput.blockFile(shardsDir, block);
        }

        @Override
        public Path factorsFile(int block) {
          return CompressedOutput.blockFile(factorsDir, block);
        }

        @Override
        public void writeMetrics(int block, List<LayerSequentialDriver.LinearOutcome> outcomes) {
          PruneJob.writeMetrics(CompressedOutput.blockFile(metricsDir, block), runId, lowRank.method().configName(), 0.0, outcomes, hadoopConf);
        }
      };
      if (readsData) {
        run.shareFirstBlockStatistics(driver, model, plan.calibration());
      }
      driver.run(windows, partitions, sink, linears, blocks);
      long tFactored = System.nanoTime();

      Map<String, Integer> fullRanks = new LinkedHashMap<>();
      for (int b = 0; b < spec.numLayers(); b++) {
        for (Map.Entry<String, Integer> e : ranks.entrySet()) {
          fullRanks.put(spec.blockPrefix(b) + e.getKey(), e.getValue());
        }
      }
      LowRankCheckpoint checkpoint = new LowRankCheckpoint(lowRank.method().configName(), lowRank.ratio(), fullRanks);
      Path exported = out.staged("model");
      LowRankExport.factored(model, sink::shardFile, sink::factorsFile, checkpoint, dtype, out.fileSystem(), exported, hadoopConf);
      run.log("wrote %s (factored)", exported);
      Path dense = out.staged("model-dense");
      LowRankExport.dense(model, sink::shardFile, sink::factorsFile, checkpoint, out.fileSystem(), dense, hadoopConf);
      run.log("wrote %s (W′ = U·V multiplied back, fp32)", dense);
      long tExported = System.nanoTime();

      report.put("model", modelPath);
      report.put("method", lowRank.method().configName());
      report.put("ratio", lowRank.ratio());
      report.put("output_dtype", dtype.hfName());
      report.put("calibration_windows", windows.size());
      report.put("calibration_seqlen", windows.isEmpty() ? 0 : windows.get(0).length);
      ObjectNode parameters = report.putObject("parameters");
      long linearsBefore = 0;
      long linearsAfter = 0;
      Map<String, long[]> shapes = spec.blockTensorShapes();
      for (Map.Entry<String, Integer> e : ranks.entrySet()) {
        long[] shape = shapes.get(e.getKey() + ".weight"); // (outFeatures, inFeatures)
        linearsBefore += shape[0] * shape[1] * spec.numLayers();
        linearsAfter += (long) e.getValue() * (shape[0] + shape[1]) * spec.numLayers();
      }
      parameters.put("before", spec.parameterCount());
      parameters.put("after", spec.parameterCount() - linearsBefore + linearsAfter);
      parameters.put("linears_before", linearsBefore);
      parameters.put("linears_after", linearsAfter);
      parameters.put("kept_fraction_of_linears", linearsAfter / (double) linearsBefore);
      ObjectNode rankNode = report.putObject("ranks");
      ranks.forEach(rankNode::put);
      ArrayNode perLinear = report.putArray("linears");
      for (int b = 0; b < spec.numLayers(); b++) { // from the metrics files: resumed blocks included
        for (GenericRecord r : AvroSchemas.read(CompressedOutput.blockFile(metricsDir, b), hadoopConf)) {
          String linear = r.get("linear").toString();
          ObjectNode n = perLinear.addObject().put("block", (Integer) r.get("block")).put("linear", linear).put("rank", ranks.get(linear));
          n.put("truncation_loss", (Double) r.get("solver_loss"));
          Double measured = (Double) r.get("reconstruction_loss"); // ‖(W − W′)Xᵀ‖²_F / tokens of the exported weights; none without data
          n.put("reconstruction_loss", measured == null || measured.isNaN() ? null : measured);
          n.put("seconds", (Double) r.get("seconds"));
          n.put("fallback", r.get("fallback") == null ? null : r.get("fallback").toString());
        }
      }
      ObjectNode eval = report.putObject("eval");
      CompressedOutput.evaluate(jsc, exported, spec, evalTexts, plan.eval().mode(), eval, "after factorization", hadoopConf,
          m -> run.log("%s", m));
      long tEval = System.nanoTime();
      CompressedOutput.blocks(report, blocks);
      ObjectNode seconds = report.putObject("seconds");
      seconds.put("factor", (tFactored - t0) / 1e9);
      seconds.put("export", (tExported - tFactored) / 1e9);
      seconds.put("eval", (tEval - tExported) / 1e9);
      seconds.put("total", (System.nanoTime() - t0) / 1e9);
      report.putObject("spark").put("master", jsc.master()).put("app_id", jsc.sc().applicationId()).put("calibration_partitions", partitions);
      run.log("%s ratio %s: %d parameters of %d kept (linears %.4f); wrote %s/model and %s/model-dense", lowRank.method().configName(),
          lowRank.ratio(), parameters.get("after").asLong(), spec.parameterCount(), linearsAfter / (double) linearsBefore, out.root(), out.root());
    });
  }
}
