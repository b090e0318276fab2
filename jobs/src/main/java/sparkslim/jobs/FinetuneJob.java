package sparkslim.jobs;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.eval.EvalTexts;
import sparkslim.core.io.DType;
import sparkslim.core.io.OutputDirectory;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.LoraAdapter;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelExporter;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.model.Tensor;
import sparkslim.core.plan.FinetunePlan;
import sparkslim.core.plan.FinetuneSettings;
import sparkslim.core.prune.LinearCensus;
import sparkslim.core.prune.MaskStructure;
import sparkslim.core.quant.QuantScheme;
import sparkslim.core.quant.QuantizedShardTable;
import sparkslim.core.quant.RtnSolver;
import sparkslim.core.report.LinePlot;
import sparkslim.core.tokenize.TextFiles;
import sparkslim.core.tokenize.TextTokenizer;
import sparkslim.core.train.PeftAdapterWriter;
import sparkslim.core.train.Trainer;
import sparkslim.core.train.TrainingCheckpoint;
import sparkslim.core.train.TrainingMetrics;
import sparkslim.core.train.TrainingRecipe;
import sparkslim.core.train.TrainingWindows;
import sparkslim.jobs.driver.EvalSource;
import sparkslim.jobs.spark.DistributedGradients;
import sparkslim.jobs.spark.SparkSessions;

/**
 * {@code sparkslim finetune}: recovery training, data-parallel on Spark. Each step's windows are split over the tasks,
 * whose exact gradient sums are reduced by key ({@link DistributedGradients}); the driver clips, applies AdamW and
 * broadcasts the trainable parameters of the next step. LoRA (adapters, base frozen), full fine-tuning (zeros of a
 * pruned model kept) and QAT (the blocks' linears fake-quantized), each optionally distilled from a teacher.
 *
 * <p>Writes {@code OUT/model/} (LoRA: the adapters merged into a dense HF checkpoint; full: the trained HF checkpoint;
 * QAT: a compressed-tensors checkpoint of the trained weights on the grids the forward used, through the quantization
 * exporter), {@code OUT/adapter/} (LoRA: a PEFT adapter directory), {@code OUT/checkpoints/step-NNNNN.parquet} (the
 * trainable parameters and AdamW state, every {@code finetune.checkpoint-every} steps and at the end: a rerun resumes
 * from the newest), {@code OUT/metrics/steps-NNNNN.parquet} (loss, gradient norm, learning rate, tokens/s per step),
 * {@code OUT/loss.png}, {@code report.json} with the PPL before and after, the resolved config and {@code _SUCCESS}.
 */
public final class FinetuneJob {
  public static final String JOB = "finetune";
  /** Test hook: {@code -Dsparkslim.inject-failure-after-step=k} fails the run right after the checkpoint of k steps. */
  public static final String INJECT_FAILURE_PROPERTY = "sparkslim.inject-failure-after-step";

  private FinetuneJob() {}

  public static void run(List<String> args) {
    JobRun run = JobRun.start(JOB, args);
    long t0 = run.startNanos();
    Config config = run.config();
    // Every setting is parsed and checked here, then against the models' config.json and the training text, before
    // any weight is read: a user error never reaches Spark.
    FinetunePlan plan = FinetunePlan.of(config);
    FinetuneSettings f = plan.finetune();
    Configuration conf = run.hadoopConf();
    String modelPath = plan.model().path();
    ModelDirectory model = ModelDirectory.open(modelPath, conf, plan::check);
    ModelSpec spec = model.spec();
    String configSource = model.root() + "/" + ModelDirectory.CONFIG_FILE;
    ModelDirectory teacherDir = null;
    if (!f.teacherPath().isEmpty()) {
      try {
        teacherDir = ModelDirectory.open(f.teacherPath(), conf);
      } catch (SparkslimException e) {
        throw new SparkslimException("'" + ConfigKey.FINETUNE_TEACHER_PATH.key() + "' = " + f.teacherPath() + " is not a usable teacher: "
            + e.getMessage());
      }
      plan.checkTeacher(spec, bytes(model.fileSystem(), model.tokenizerPath()), teacherDir.spec(),
          bytes(teacherDir.fileSystem(), teacherDir.tokenizerPath()), teacherDir.root().toString());
    }
    int[] tokens;
    try (TextTokenizer tokenizer = TextTokenizer.load(model.fileSystem(), model.tokenizerPath())) {
      tokens = tokenizer.encode(TextFiles.read(new Path(f.text()), conf, ConfigKey.FINETUNE_TEXT.key()));
    }
    TrainingWindows data = new TrainingWindows(tokens, f.seqlen(), f.batchSize(), f.seed(), f.text(), ConfigKey.FINETUNE_BATCH_SIZE.key());
    int totalSteps = data.stepsPerEpoch() * f.epochs();
    int steps = f.maxSteps() > 0 ? Math.min(f.maxSteps(), totalSteps) : totalSteps;
    EvalTexts evalTexts = EvalSource.texts(plan.eval(), model, conf);
    DType dtype = plan.output().dtype(spec);
    String tokensSha = TensorShardTable.sha256(intBytes(tokens));
    String fingerprint = plan.fingerprint(model.root().toString(), tokensSha);
    String master = SparkSessions.resolveMaster(config.string(ConfigKey.SPARK_MASTER).trim());
    // activation checkpointing when one window's tape per concurrent task would take over a quarter of an executor
    long executorMemory = SparkSessions.executorMemoryBytes(master);
    long tapeBytes = TrainingRecipe.tapeFloats(spec, f.seqlen()) * Float.BYTES;
    boolean recompute = tapeBytes * Runtime.getRuntime().availableProcessors() > executorMemory / 4;
    String runId = run.runId();
    run.log("run %s: %s on %s, %d windows of %d tokens from %s, %d steps of %d windows (%d per epoch x %d epochs%s), lr %s, seed %d%s",
        runId, f.method().configName(), modelPath, data.count(), f.seqlen(), f.text(), steps, f.batchSize(), data.stepsPerEpoch(), f.epochs(),
        steps < totalSteps ? ", stopping after " + steps : "", f.learningRate(), f.seed(), teacherDir == null ? "" : ", distilled from "
            + f.teacherPath() + " (temperature " + f.kdTemperature() + ", ce-weight " + f.kdCeWeight() + ")");
    ModelDirectory teacherDirectory = teacherDir;
    // LoRA's base and a teacher are frozen: in fp32 when that takes at most a quarter of an executor (no widening per
    // product), else held as stored (bf16: half of fp32), the same values either way. Full and QAT train every array in
    // fp32. Every JVM reads them from their directories (DistributedGradients.model); none is broadcast.
    boolean lora = f.method() == FinetuneSettings.Method.LORA;
    DistributedGradients.ModelSource student = new DistributedGradients.ModelSource(qualified(model),
        lora && spec.parameterCount() * Float.BYTES > executorMemory / 4);
    DistributedGradients.ModelSource teacher = teacherDir == null ? null : new DistributedGradients.ModelSource(qualified(teacherDir),
        teacherDir.spec().parameterCount() * Float.BYTES > executorMemory / 4);

    run.onSpark(plan.output().path(), master, config.string(ConfigKey.SPARK_APP_NAME), (jsc, out, report) -> {
      int partitions = Math.min(f.batchSize() / f.microBatchSize(), jsc.defaultParallelism());
      report.put("model", modelPath);
      report.put("method", f.method().configName());
      // the input model as a user loads it: in memory, or block by block when larger than an executor
      CompressedOutput.evaluate(jsc, model.root(), spec, evalTexts, plan.eval().mode(), report.putObject("eval_before"), "before training", conf,
          m -> run.log("%s", m));
      long tTrain = System.nanoTime();
      DistributedGradients.clear();
      try {
        CausalLm lm = DistributedGradients.model(student);
        CausalLm teacherLm = teacher == null ? null : DistributedGradients.model(teacher);
        TrainingRecipe recipe = plan.recipe(lm, configSource, totalSteps, dtype, recompute);
        Trainer trainer = recipe.build(lm, teacherLm);
        Path checkpoints = new Path(out.root(), "checkpoints"); // in place: a rerun resumes from them
        Path metrics = new Path(out.root(), "metrics");
        int start = resume(out.fileSystem(), checkpoints, fingerprint, steps, trainer, conf, run);
        train(run, jsc, data, trainer, recipe, student, teacher, start, steps, partitions, checkpoints, metrics, fingerprint, f, conf, out);
        long tExport = System.nanoTime();

        Path exported = out.staged("model");
        FileSystem fs = out.fileSystem();
        switch (f.method()) {
          case LORA -> {
            CausalLm adapted = trainer.model();
            ModelExporter.exportEncoded(model, spec.numLayers(), i -> merged(adapted.blocks().get(i), spec, dtype), dtype, fs, exported,
                ModelExporter.DEFAULT_MAX_SHARD_BYTES, Map.of());
            PeftAdapterWriter.write(adapted, f.loraDropout(), modelPath, fs, out.staged("adapter"));
            run.log("wrote %s (adapters merged) and %s (PEFT adapter)", exported, out.staged("adapter"));
          }
          case FULL -> {
            ModelExporter.exportEncoded(model, lm.globals(), spec.numLayers(), i -> encoded(lm.blocks().get(i), dtype), dtype, fs, exported,
                ModelExporter.DEFAULT_MAX_SHARD_BYTES, Map.of());
            run.log("wrote %s", exported);
          }
          case QAT -> {
            exportQuantized(plan, model, lm, dtype, recipe.scheme(), recipe.working(), runId, fingerprint, out, conf);
            run.log("wrote %s (compressed-tensors, the trained weights on the grids the forward used)", exported);
          }
          default -> throw new IllegalStateException("Unhandled method " + f.method());
        }
        long tEval = System.nanoTime();

        List<TrainingMetrics.Step> curve = TrainingMetrics.readAll(metrics, steps, conf);
        String shown = modelPath.length() > 48 ? "..." + modelPath.substring(modelPath.length() - 45) : modelPath;
        byte[] png = LinePlot.png("finetune " + f.method().configName() + ": " + shown, "step",
            teacherLm == null ? "loss (mean NLL)" : "loss (distillation)", lossSeries(curve, 10));
        try (FSDataOutputStream o = fs.create(out.staged("loss.png"), true)) {
          o.write(png);
        }
        ObjectNode eval = report.putObject("eval");
        DType modelDtype = dtype;
        CompressedOutput.evaluate(jsc, exported, spec, evalTexts, plan.eval().mode(), eval, "after " + f.method().configName(), conf,
            m -> run.log("%s", m));
        long tEnd = System.nanoTime();
        report(report, plan, f, data, recipe, trainer, curve, start, steps, totalSteps, modelDtype, lm, teacherDirectory, model, exported, fs);
        ObjectNode seconds = report.putObject("seconds");
        seconds.put("train", (tExport - tTrain) / 1e9);
        seconds.put("export", (tEval - tExport) / 1e9);
        seconds.put("eval", (tEnd - tEval) / 1e9);
        seconds.put("total", (System.nanoTime() - t0) / 1e9);
        report.putObject("spark").put("master", jsc.master()).put("app_id", jsc.sc().applicationId()).put("partitions", partitions)
            .put("recompute", recompute).put("exchange", jsc.isLocal() ? "in-memory" : "broadcast-shuffle");
        run.log("trained %d steps; wrote %s/model", steps, out.root());
      } finally {
        DistributedGradients.clear(); // local-mode tasks ran in this JVM; full fine-tuning trained its copy in place
      }
    });
  }

  /** Restores the newest checkpoint of this run's settings (at most {@code steps} steps done); returns the steps done. */
  private static int resume(FileSystem fs, Path dir, String fingerprint, int steps, Trainer trainer, Configuration conf, JobRun run)
      throws IOException {
    if (!fs.exists(dir)) {
      return 0;
    }
    int best = 0;
    for (FileStatus st : fs.listStatus(dir)) {
      int done = TrainingCheckpoint.stepsOf(st.getPath().getName());
      if (done > best && done <= steps) {
        best = done;
      }
    }
    if (best == 0) {
      return 0;
    }
    Path file = TrainingCheckpoint.file(dir, best);
    TrainingCheckpoint c = TrainingCheckpoint.read(file, fingerprint, conf);
    trainer.restore(c.values(), c.optimizers());
    run.log("resumed from %s: %d of %d steps done", file, best, steps);
    return best;
  }

  private static void train(JobRun run, JavaSparkContext jsc, TrainingWindows data, Trainer trainer, TrainingRecipe recipe,
      DistributedGradients.ModelSource student, DistributedGradients.ModelSource teacher, int start, int steps, int partitions, Path checkpoints, Path metrics, String fingerprint, FinetuneSettings f,
      Configuration conf, OutputDirectory out) throws IOException {
    if (start >= steps) {
      return;
    }
    Map<String, Integer> sizes = new LinkedHashMap<>();
    trainer.parameters().forEach((name, p) -> sizes.put(name, p.length));
    long trainable = sizes.values().stream().mapToLong(Integer::longValue).sum();
    run.log("%,d trainable parameters in %d tensors; %d tasks per step", trainable, sizes.size(), partitions);
    List<TrainingMetrics.Step> segment = new ArrayList<>();
    int segmentStart = start;
    long tokensPerStep = (long) f.batchSize() * f.seqlen();
    long t0 = System.nanoTime();
    try {
      for (int k = start; k < steps; k++) {
        long ts = System.nanoTime();
        List<DistributedGradients.MicroBatch> microBatches = new ArrayList<>();
        List<DistributedGradients.Window> windows = new ArrayList<>();
        for (int id : data.batch(k)) {
          windows.add(new DistributedGradients.Window(id, data.window(id)));
          if (windows.size() == f.microBatchSize()) {
            microBatches.add(new DistributedGradients.MicroBatch(windows));
            windows = new ArrayList<>();
          }
        }
        jsc.setJobGroup("step-" + k, "sparkslim finetune: step " + k, false);
        Trainer.GradientSums sums = DistributedGradients.compute(jsc, run.runId(), student, teacher, recipe, trainer.parameters(), sizes, k,
            microBatches, partitions);
        Trainer.StepResult r = trainer.step(k, sums);
        double seconds = (System.nanoTime() - ts) / 1e9;
        TrainingMetrics.Step step = new TrainingMetrics.Step(run.runId(), k, k / data.stepsPerEpoch(), r.loss(), r.gradNorm(), r.learningRate(),
            tokensPerStep, seconds);
        segment.add(step);
        double elapsed = (System.nanoTime() - t0) / 1e9;
        double eta = elapsed / (k + 1 - start) * (steps - k - 1);
        run.log("step %d/%d (epoch %d): loss %.4f, grad norm %.4f, lr %.3e, %d tokens in %.2f s (%.0f tokens/s), eta %s", k + 1, steps,
            step.epoch() + 1, r.loss(), r.gradNorm(), r.learningRate(), tokensPerStep, seconds, step.tokensPerSecond(), duration(eta));
        boolean last = k + 1 == steps;
        if (last || (k + 1) % f.checkpointEvery() == 0) {
          TrainingMetrics.write(TrainingMetrics.file(metrics, segmentStart), segment, conf);
          Path file = TrainingCheckpoint.file(checkpoints, k + 1);
          TrainingCheckpoint.write(file, run.runId(), fingerprint, k + 1, trainer, conf);
          FileSystem fs = out.fileSystem();
          for (FileStatus st : fs.listStatus(checkpoints)) { // only the newest is kept
            int done = TrainingCheckpoint.stepsOf(st.getPath().getName());
            if (done >= 0 && done != k + 1) {
              fs.delete(st.getPath(), false);
            }
          }
          run.log("checkpoint %s", file);
          segment.clear();
          segmentStart = k + 1;
          String inject = System.getProperty(INJECT_FAILURE_PROPERTY);
          if (inject != null && Integer.parseInt(inject) == k + 1) {
            throw new IllegalStateException("Injected failure after the checkpoint of step " + (k + 1) + " (" + INJECT_FAILURE_PROPERTY + ")");
          }
        }
      }
    } finally {
      jsc.clearJobGroup();
    }
  }

  /**
   * A LoRA-adapted block's tensors with each adapter merged into its linear's weight (W + α/r·B·A), each computed when
   * the writer reaches it: one widened tensor in memory at a time, never a block (LLaMA-7B: 0.81 GB in fp32).
   */
  private static Map<String, ModelExporter.Encoded> merged(DecoderBlock block, ModelSpec spec, DType dtype) {
    Map<String, ModelExporter.Encoded> out = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> e : spec.blockTensorShapes().entrySet()) {
      String name = e.getKey();
      out.put(name, new ModelExporter.Encoded(e.getValue(), () -> {
        float[] w = block.tensor(name).data();
        String linear = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : null;
        LoraAdapter adapter = linear == null ? null : block.adapters().get(linear);
        return TensorShardTable.encode(adapter == null ? w : adapter.merged(w), dtype);
      }));
    }
    return out;
  }

  private static Map<String, ModelExporter.Encoded> encoded(DecoderBlock block, DType dtype) {
    Map<String, ModelExporter.Encoded> out = new LinkedHashMap<>();
    block.tensors().forEach((name, t) -> out.put(name, new ModelExporter.Encoded(t.shape(), () -> TensorShardTable.encode(t.data(), dtype))));
    return out;
  }

  /**
   * QAT's export: each block's linears quantized by RTN on the scheme the forward fake-quantized with (so the loader's
   * dequantized weights are exactly the W̃ of the last forward) into {@code quantized/block-NNNNN.parquet}, the block's
   * other tensors into {@code shards/block-NNNNN.parquet}, then the compressed-tensors checkpoint from them.
   */
  private static void exportQuantized(FinetunePlan plan, ModelDirectory model, CausalLm lm, DType dtype, QuantScheme scheme, DType working,
      String runId, String fingerprint, OutputDirectory out, Configuration conf) {
    ModelSpec spec = model.spec();
    List<String> linears = DecoderBlock.linearNames(spec);
    Path shards = out.staged("shards");
    Path quantized = out.staged("quantized");
    for (int b = 0; b < spec.numLayers(); b++) {
      String prefix = spec.blockPrefix(b);
      DecoderBlock block = lm.blocks().get(b);
      List<QuantizedShardTable.Row> rows = new ArrayList<>();
      List<TensorShardTable.Entry> rest = new ArrayList<>();
      for (Map.Entry<String, Tensor> e : block.tensors().entrySet()) {
        String name = e.getKey();
        String linear = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : null;
        Tensor t = e.getValue();
        if (linear != null && linears.contains(linear)) {
          rows.add(new QuantizedShardTable.Row(runId, fingerprint, b, prefix + linear, scheme.strategy(),
              RtnSolver.quantize(t.data(), (int) t.shape()[0], (int) t.shape()[1], scheme, working)));
        } else {
          rest.add(new TensorShardTable.Entry(prefix + name, t.shape(), dtype, TensorShardTable.roundTo(t.data(), dtype), null));
        }
      }
      QuantizedShardTable.write(CompressedOutput.blockFile(quantized, b), rows, conf);
      TensorShardTable.write(CompressedOutput.blockFile(shards, b), runId, fingerprint, b, rest, conf);
    }
    ModelExporter.exportShards(model, lm.globals(), b -> CompressedOutput.blockFile(shards, b),
        CompressedOutput.quantizedBlocks(plan.quantization(), dtype, b -> CompressedOutput.blockFile(quantized, b)), dtype,
        out.fileSystem(), out.staged("model"), conf);
  }

  /** The loss per step, and its mean over the last {@code window} steps (the trend under the batch-to-batch noise). */
  private static List<LinePlot.Series> lossSeries(List<TrainingMetrics.Step> curve, int window) {
    double[] x = new double[curve.size()];
    double[] y = new double[curve.size()];
    double[] mean = new double[curve.size()];
    double sum = 0;
    for (int i = 0; i < x.length; i++) {
      x[i] = curve.get(i).step() + 1;
      y[i] = curve.get(i).loss();
      sum += y[i] - (i >= window ? y[i - window] : 0);
      mean[i] = sum / Math.min(i + 1, window);
    }
    return List.of(new LinePlot.Series("loss per step", x, y), new LinePlot.Series("mean of the last " + window + " steps", x, mean));
  }

  private static void report(ObjectNode report, FinetunePlan plan, FinetuneSettings f, TrainingWindows data, TrainingRecipe recipe,
      Trainer trainer, List<TrainingMetrics.Step> curve, int start, int steps, int totalSteps, DType dtype, CausalLm lm,
      ModelDirectory teacher, ModelDirectory model, Path exported, FileSystem fs) {
    report.put("output_dtype", dtype.hfName());
    ObjectNode training = report.putObject("training");
    training.put("text", f.text());
    training.put("windows", data.count());
    training.put("seqlen", f.seqlen());
    training.put("batch_size", f.batchSize());
    training.put("micro_batch_size", f.microBatchSize());
    training.put("epochs", f.epochs());
    training.put("steps", steps);
    training.put("schedule_steps", totalSteps);
    training.put("resumed_from_step", start);
    training.put("learning_rate", f.learningRate());
    training.put("warmup_fraction", f.warmupFraction());
    training.put("max_grad_norm", f.maxGradNorm());
    training.put("seed", f.seed());
    long trainable = trainer.parameters().values().stream().mapToLong(p -> p.length).sum();
    training.put("trainable_parameters", trainable);
    training.put("kept_zeros_tensors", trainer.keptZeros().size());
    double seconds = curve.stream().mapToDouble(TrainingMetrics.Step::seconds).sum();
    long tokens = curve.stream().mapToLong(TrainingMetrics.Step::tokens).sum();
    training.put("tokens", tokens);
    training.put("tokens_per_second", seconds > 0 ? tokens / seconds : 0);
    ObjectNode loss = training.putObject("loss");
    if (!curve.isEmpty()) {
      loss.put("first", curve.get(0).loss());
      loss.put("last", curve.get(curve.size() - 1).loss());
    }
    ArrayNode perStep = loss.putArray("per_step");
    curve.forEach(s -> perStep.add(s.loss()));
    if (recipe.loraTargets() != null) {
      ObjectNode lora = report.putObject("lora");
      lora.put("rank", f.loraRank());
      lora.put("alpha", f.loraAlpha());
      lora.put("dropout", f.loraDropout());
      recipe.loraTargets().stream().sorted().forEach(lora.putArray("targets")::add);
    }
    if (teacher != null) {
      ObjectNode kd = report.putObject("distillation");
      kd.put("teacher", f.teacherPath());
      kd.put("temperature", f.kdTemperature());
      kd.put("ce_weight", f.kdCeWeight());
    }
    if (recipe.scheme() != null) {
      ObjectNode q = report.putObject("quantization");
      CompressedOutput.quantization(q, plan.quantization(), dtype, model, exported, fs);
      q.put("quant_noise", f.quantNoise());
      q.put("quant_noise_block", f.quantNoiseBlock());
    }
    if (recipe.loraTargets() == null) { // full and QAT: how many weights of the blocks' linears are exactly 0
      LinearCensus census = LinearCensus.EMPTY;
      for (DecoderBlock b : lm.blocks()) {
        for (String linear : b.linearNames()) {
          Tensor w = b.tensor(linear + ".weight");
          census = census.plus(LinearCensus.of(w.data(), (int) w.shape()[0], (int) w.shape()[1], MaskStructure.UNSTRUCTURED));
        }
      }
      report.put("zero_fraction", census.sparsity());
    }
  }

  private static String duration(double seconds) {
    long s = Math.round(seconds);
    return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", s / 3600, s / 60 % 60)
        : s >= 60 ? String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60) : s + "s";
  }

  /** The model directory as every executor opens it (qualified: file:/… or hdfs://…). */
  private static String qualified(ModelDirectory dir) {
    return dir.fileSystem().makeQualified(dir.root()).toString();
  }

  private static byte[] bytes(FileSystem fs, Path file) {
    try (InputStream in = fs.open(file)) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + file, e);
    }
  }

  private static byte[] intBytes(int[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(v);
    return b.array();
  }
}
