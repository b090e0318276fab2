package sparkslim.jobs;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.eval.EvalTexts;
import sparkslim.core.io.DType;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelExporter;
import sparkslim.core.plan.QuantizationSettings;
import sparkslim.core.plan.QuantizePlan;
import sparkslim.core.prune.LinearCensus;
import sparkslim.core.prune.MaskStructure;
import sparkslim.jobs.driver.LayerSequentialDriver;

/**
 * {@code sparkslim quantize}: RTN or GPTQ weight quantization on Spark, layer-sequential (GPTQ's Hessians come from the
 * statistics pipeline and each block's inputs from the already quantized blocks before it; RTN reads no data). Writes
 * {@code OUT/quantized/} (the packed linears, Parquet) and {@code OUT/shards/} (the other block tensors) block by block,
 * so a rerun resumes; then {@code OUT/model/}, a compressed-tensors {@code pack-quantized} or GPTQ checkpoint;
 * {@code report.json} with the scheme, bits per weight, sizes, per-block seconds and the PPL of the exported model; the
 * resolved config; and {@code _SUCCESS}.
 */
public final class QuantizeJob {

  private QuantizeJob() {}

  public static void run(List<String> args) {
    run(JobRun.start("quantize", args));
  }

  /** Runs a resolved configuration (from the command line, or a sweep's point inside its application). */
  static void run(JobRun run) {
    long t0 = run.startNanos();
    Config config = run.config();
    // Every setting is parsed and checked here, then against the model's config.json before any weight is read:
    // a user error never reaches Spark.
    QuantizePlan plan = QuantizePlan.of(config);
    QuantizationSettings q = plan.quantization();
    String modelPath = plan.model().path();
    String outputPath = plan.output().path();
    Configuration hadoopConf = run.hadoopConf();
    ModelDirectory model = ModelDirectory.open(modelPath, hadoopConf, plan::check);
    DType dtype = plan.output().dtype(model.spec());
    DType weightDtype = ModelExporter.storedDtype(model);
    List<int[]> windows = q.readsCalibration() ? run.calibrationWindows(plan.calibration(), model) : List.of();
    EvalTexts evalTexts = run.evalTexts(plan.eval(), model);
    String fingerprint = plan.fingerprint(model.root().toString());
    String runId = run.runId();
    String scheme = q.scheme(weightDtype).label();
    run.log("run %s: %s %s (%s) on %s, %s, output dtype %s", runId, q.method().configName(), scheme, q.format().configName(), modelPath,
        windows.isEmpty() ? "no calibration data" : windows.size() + " calibration windows of " + windows.get(0).length + " tokens", dtype);

    run.onSpark(outputPath, config.string(ConfigKey.SPARK_MASTER).trim(), config.string(ConfigKey.SPARK_APP_NAME), (jsc, out, report) -> {
      Path shardsDir = new Path(out.root(), "shards"); // written in place, block by block: a rerun resumes from them
      Path metricsDir = new Path(out.root(), "metrics");
      int partitions = plan.calibration().partitions(jsc.defaultParallelism());
      LayerSequentialDriver driver = new LayerSequentialDriver(jsc, hadoopConf, model, modelPath, plan.solver(weightDtype), q.strategy(),
          MaskStructure.UNSTRUCTURED, dtype, runId, fingerprint, null, model.spec().numLayers(), m -> run.log("%s", m));
      List<LayerSequentialDriver.LinearOutcome> linears = new ArrayList<>();
      List<LayerSequentialDriver.BlockOutcome> blocks = new ArrayList<>();
      LayerSequentialDriver.BlockSink sink = new LayerSequentialDriver.BlockSink() {
        @Override
        public Path shardFile(int block) {
          return CompressedOutput.blockFile(shardsDir, block);
        }

        @Override
        public void writeMetrics(int block, List<LayerSequentialDriver.LinearOutcome> outcomes) {
          PruneJob.writeMetrics(CompressedOutput.blockFile(metricsDir, block), runId, q.method().configName(), 0.0,
              outcomes, hadoopConf);
        }
      };
      run.shareFirstBlockStatistics(driver, model, plan.calibration());
      LinearCensus census = driver.run(windows, partitions, sink, linears, blocks);
      long tQuantized = System.nanoTime();

      Path exported = out.staged("model");
      ModelExporter.exportShards(model, sink::shardFile, CompressedOutput.quantizedBlocks(q, weightDtype, sink::quantizedFile), dtype,
          out.fileSystem(), exported, hadoopConf);
      run.log("wrote %s", exported);
      long tExported = System.nanoTime();

      report.put("model", modelPath);
      report.put("method", q.method().configName());
      report.put("scheme", scheme);
      CompressedOutput.quantization(report.putObject("quantization"), q, weightDtype, model, exported, out.fileSystem());
      report.put("output_dtype", dtype.hfName());
      report.put("calibration_windows", windows.size());
      report.put("calibration_seqlen", windows.isEmpty() ? 0 : windows.get(0).length);
      report.put("zero_fraction", census.sparsity());
      report.put("parameters", model.spec().parameterCount());
      ObjectNode eval = report.putObject("eval");
      CompressedOutput.evaluate(jsc, exported, model.spec(), evalTexts, plan.eval().mode(), eval, "after quantization", hadoopConf,
          m -> run.log("%s", m));
      long tEval = System.nanoTime();
      CompressedOutput.blocks(report, blocks);
      ObjectNode seconds = report.putObject("seconds");
      seconds.put("quantize", (tQuantized - t0) / 1e9);
      seconds.put("export", (tExported - tQuantized) / 1e9);
      seconds.put("eval", (tEval - tExported) / 1e9);
      seconds.put("total", (System.nanoTime() - t0) / 1e9);
      report.putObject("spark").put("master", jsc.master()).put("app_id", jsc.sc().applicationId()).put("calibration_partitions", partitions);
      run.log("%s: %.3f bits per weight in the quantized linears; wrote %s/model", scheme,
          report.path("quantization").path("bits_per_weight").path("quantized_linears").asDouble(), out.root());
    });
  }
}
