package sparkslim.jobs;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.eval.EvalMode;
import sparkslim.core.eval.EvalTexts;
import sparkslim.core.io.AvroSchemas;
import sparkslim.core.io.DType;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelExporter;
import sparkslim.core.plan.PrunePlan;
import sparkslim.core.plan.PruningSettings;
import sparkslim.core.plan.QuantizationSettings;
import sparkslim.core.compress.LinearSolver;
import sparkslim.core.prune.LinearCensus;
import sparkslim.core.prune.LinearPruner;
import sparkslim.core.prune.MaskStructure;
import sparkslim.core.prune.PruningMethod;
import sparkslim.core.prune.sparsellm.FfnKind;
import sparkslim.core.prune.sparsellm.SparseLlmOptions;
import sparkslim.core.prune.sparsellm.SparseLlmSolver;
import sparkslim.jobs.driver.FfnAlternation;
import sparkslim.jobs.driver.LayerSequentialDriver;

/**
 * {@code sparkslim prune}: layer-sequential magnitude / Wanda / SparseGPT pruning on Spark. Writes
 * {@code OUT/shards/} and {@code OUT/metrics/} block by block (resumable), then {@code OUT/model/} (a HuggingFace
 * directory), {@code report.json} with the sparsity and eval PPL, the resolved config, and {@code _SUCCESS}.
 */
public final class PruneJob {

  private PruneJob() {}

  public static void run(List<String> args) {
    run(JobRun.start("prune", args));
  }

  /** Runs a resolved configuration (from the command line, or a sweep's point inside its application). */
  static void run(JobRun run) {
    long t0 = run.startNanos();
    Config config = run.config();
    // Every setting is parsed and checked here, then against the model's config.json before any weight is read:
    // a user error never reaches Spark.
    PrunePlan plan = PrunePlan.of(config);
    PruningSettings settings = plan.pruning();
    PruningMethod method = settings.method();
    double sparsity = settings.sparsity();
    MaskStructure mask = settings.mask();
    double damp = settings.dampeningFraction();
    int blockSize = settings.blockSize();
    String layers = settings.layers().configName();
    String modelPath = plan.model().path();
    String outputPath = plan.output().path();
    Configuration hadoopConf = run.hadoopConf();
    ModelDirectory model = ModelDirectory.open(modelPath, hadoopConf, plan::check);
    DType dtype = plan.output().dtype(model.spec());
    DType weightDtype = ModelExporter.storedDtype(model);
    QuantizationSettings quantization = plan.quantizes() ? plan.quantization() : null; // joint SparseGPT + GPTQ
    LayerSequentialDriver.SparseLlm sparseLlm = null;
    if (method == PruningMethod.SPARSELLM) {
      FfnKind kind = FfnKind.of(model.spec(), model.root() + "/config.json");
      SparseLlmOptions options = settings.sparseLlm().resolve(kind);
      sparseLlm = new LayerSequentialDriver.SparseLlm(kind, options, new SparseLlmSolver(options,
          new LinearPruner(method, sparsity, mask, blockSize, damp, settings.zeroDeadColumns()).sparseGpt()));
      run.log("sparsellm: %s FFN, alpha %s, beta %s, gamma %s, %d iterations", kind, options.alpha(), options.beta(), options.gamma(),
          options.iterations());
    }
    int prunedBlocks = plan.prunedBlocks(model.spec().numLayers());
    List<int[]> windows = run.calibrationWindows(plan.calibration(), model);
    EvalTexts evalTexts = run.evalTexts(plan.eval(), model);
    String fingerprint = plan.fingerprint(model.root().toString());
    EvalMode evalMode = plan.eval().mode();
    String runId = run.runId();
    run.log("run %s: %s sparsity %.3f mask %s%s on %s, %d calibration windows of %d tokens, output dtype %s", runId, method.configName(),
        sparsity, mask, quantization == null ? "" : " jointly with gptq " + quantization.scheme(weightDtype).label(), modelPath, windows.size(),
        windows.get(0).length, dtype);
    LayerSequentialDriver.SparseLlm sparseLlmStep = sparseLlm;

    run.onSpark(outputPath, config.string(ConfigKey.SPARK_MASTER).trim(), config.string(ConfigKey.SPARK_APP_NAME), (jsc, out, report) -> {
      Path shardsDir = new Path(out.root(), "shards"); // written in place, block by block: a rerun resumes from them
      Path metricsDir = new Path(out.root(), "metrics");
      int partitions = plan.calibration().partitions(jsc.defaultParallelism());
      LinearPruner pruner = new LinearPruner(method, sparsity, mask, blockSize, damp, settings.zeroDeadColumns());
      LinearSolver solver = quantization == null ? pruner.solver() : quantization.solver(weightDtype, pruner.sparseGpt());
      LayerSequentialDriver driver = new LayerSequentialDriver(jsc, hadoopConf, model, modelPath, solver,
          quantization == null ? null : quantization.strategy(), mask, dtype, runId, fingerprint,
          sparseLlmStep, prunedBlocks, m -> run.log("%s", m));
      List<FfnAlternation.Iteration> alternations = new ArrayList<>();
      List<LayerSequentialDriver.LinearOutcome> linears = new ArrayList<>();
      List<LayerSequentialDriver.BlockOutcome> blocks = new ArrayList<>();
      LayerSequentialDriver.BlockSink sink = new LayerSequentialDriver.BlockSink() {
        @Override
        public Path shardFile(int block) {
          return CompressedOutput.blockFile(shardsDir, block);
        }

        @Override
        public void writeMetrics(int block, List<LayerSequentialDriver.LinearOutcome> outcomes) {
          PruneJob.writeMetrics(CompressedOutput.blockFile(metricsDir, block), runId, method.configName(), sparsity, outcomes,
              hadoopConf);
        }

        @Override
        public void writeSparseLlm(int block, List<FfnAlternation.Iteration> iterations) {
          writeSparseLlmMetrics(new Path(metricsDir, String.format("sparsellm-block-%05d.parquet", block)), runId, iterations, hadoopConf);
          alternations.addAll(iterations);
        }

        @Override
        public void resumedSparseLlm(int block) {
          alternations.addAll(readSparseLlmMetrics(new Path(metricsDir, String.format("sparsellm-block-%05d.parquet", block)), hadoopConf));
        }
      };
      run.shareFirstBlockStatistics(driver, model, plan.calibration());
      LinearCensus census = driver.run(windows, partitions, sink, linears, blocks);
      long tPruned = System.nanoTime();

      Path exported = out.staged("model");
      ModelExporter.exportShards(model, sink::shardFile,
          quantization == null ? null : CompressedOutput.quantizedBlocks(quantization, weightDtype, sink::quantizedFile), dtype,
          out.fileSystem(), exported, hadoopConf);
      run.log("wrote %s", exported);

      report.put("model", modelPath);
      report.put("method", method.configName());
      report.put("mask_structure", mask.toString());
      report.put("layers", layers);
      report.put("pruned_blocks", prunedBlocks);
      if (sparseLlmStep != null) {
        sparseLlmReport(report.putObject("sparsellm"), sparseLlmStep, alternations);
      }
      if (quantization != null) {
        CompressedOutput.quantization(report.putObject("quantization"), quantization, weightDtype, model, exported, out.fileSystem());
      }
      report.put("output_dtype", dtype.hfName());
      report.put("calibration_windows", windows.size());
      report.put("calibration_seqlen", windows.get(0).length);
      ObjectNode sp = report.putObject("sparsity");
      sp.put("target", mask.isUnstructured() ? sparsity : (double) mask.n() / mask.m());
      sp.put("actual", census.sparsity());
      sp.put("zeros", census.zeros()).put("numel", census.numel());
      report.put("parameters", model.spec().parameterCount());
      report.put("nonzero_parameters", model.spec().parameterCount() - census.zeros());
      if (!mask.isUnstructured()) {
        sp.putObject("structure").put("n", mask.n()).put("m", mask.m()).put("groups", census.groups())
            .put("groups_with_exactly_n_zeros", census.exactlyN()).put("groups_with_at_least_n_zeros", census.atLeastN());
      }
      ObjectNode eval = report.putObject("eval");
      CompressedOutput.evaluate(jsc, exported, model.spec(), evalTexts, evalMode, eval, "after pruning", hadoopConf, m -> run.log("%s", m));
      long tEval = System.nanoTime();
      CompressedOutput.blocks(report, blocks);
      ObjectNode seconds = report.putObject("seconds");
      seconds.put("prune", (tPruned - t0) / 1e9);
      seconds.put("eval", (tEval - tPruned) / 1e9);
      seconds.put("total", (System.nanoTime() - t0) / 1e9);
      report.putObject("spark").put("master", jsc.master()).put("app_id", jsc.sc().applicationId()).put("calibration_partitions", partitions);
      run.log("sparsity %.4f; wrote %s/model", census.sparsity(), out.root());
    });
  }

  /**
   * SHA-256 over every setting that changes the pruned tensors, from the parsed values ({@link PrunePlan#fingerprint}), so
   * {@code 0.5} and {@code 0.50} agree; resume refuses shards with another fingerprint.
   */
  static String fingerprint(Config c, ModelDirectory model) {
    return PrunePlan.of(c).fingerprint(model.root().toString());
  }

  static void sparseLlmReport(ObjectNode node, LayerSequentialDriver.SparseLlm sparseLlm, List<FfnAlternation.Iteration> alternations) {
    node.put("ffn_kind", sparseLlm.kind().name());
    node.put("alpha", sparseLlm.options().alpha()).put("beta", sparseLlm.options().beta()).put("gamma", sparseLlm.options().gamma())
        .put("iterations", sparseLlm.options().iterations());
    ArrayNode blocks = node.putArray("objective");
    Map<Integer, ArrayNode> byBlock = new java.util.TreeMap<>();
    for (FfnAlternation.Iteration it : alternations) {
      byBlock.computeIfAbsent(it.block(), b -> blocks.addObject().put("block", b).putArray("values")).add(it.objective());
    }
  }

  static void writeSparseLlmMetrics(Path file, String runId, List<FfnAlternation.Iteration> iterations, Configuration conf) {
    org.apache.avro.Schema schema = AvroSchemas.load("SparseLlmIteration");
    List<GenericRecord> rows = new ArrayList<>();
    for (FfnAlternation.Iteration it : iterations) {
      GenericRecord r = new GenericData.Record(schema);
      r.put("run_id", runId);
      r.put("block", it.block());
      r.put("iteration", it.iteration());
      r.put("objective", it.objective());
      r.put("weight_terms", new java.util.LinkedHashMap<>(it.weightTerms()));
      r.put("rejected", new ArrayList<>(it.rejected()));
      r.put("bytes_collected", it.bytesCollected());
      r.put("seconds", it.seconds());
      rows.add(r);
    }
    AvroSchemas.writeAtomically(file, schema, rows, conf);
  }

  /** The rows {@link #writeSparseLlmMetrics} wrote, for a resumed block's part of the report. */
  static List<FfnAlternation.Iteration> readSparseLlmMetrics(Path file, Configuration conf) {
    List<FfnAlternation.Iteration> iterations = new ArrayList<>();
    for (GenericRecord r : AvroSchemas.read(file, conf)) {
      Map<String, Double> terms = new java.util.LinkedHashMap<>();
      ((Map<?, ?>) r.get("weight_terms")).forEach((k, v) -> terms.put(k.toString(), (Double) v));
      List<String> rejected = new ArrayList<>();
      ((List<?>) r.get("rejected")).forEach(x -> rejected.add(x.toString()));
      iterations.add(new FfnAlternation.Iteration((Integer) r.get("block"), (Integer) r.get("iteration"), (Double) r.get("objective"),
          terms, rejected, (Long) r.get("bytes_collected"), (Double) r.get("seconds")));
    }
    return iterations;
  }

  static void writeMetrics(Path file, String runId, String method, double sparsity, List<LayerSequentialDriver.LinearOutcome> outcomes,
                           Configuration conf) {
    org.apache.avro.Schema schema = AvroSchemas.load("LinearMetrics");
    List<GenericRecord> rows = new ArrayList<>();
    for (LayerSequentialDriver.LinearOutcome o : outcomes) {
      GenericRecord r = new GenericData.Record(schema);
      r.put("run_id", runId);
      r.put("block", o.block());
      r.put("linear", o.linear());
      r.put("method", method);
      r.put("target_sparsity", sparsity);
      r.put("actual_sparsity", o.zeros() / (double) o.numel());
      r.put("reconstruction_loss", o.reconstructionLoss());
      r.put("solver_loss", Double.isNaN(o.solverLoss()) ? null : o.solverLoss());
      r.put("seconds", o.seconds());
      r.put("fallback", o.fallback());
      rows.add(r);
    }
    AvroSchemas.writeAtomically(file, schema, rows, conf);
  }
}
