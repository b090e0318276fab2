package sparkslim.jobs;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.IntFunction;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import sparkslim.core.eval.EvalMode;
import sparkslim.core.eval.EvalTexts;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsFile;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelExporter;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.plan.QuantizationSettings;
import sparkslim.core.quant.QuantScheme;
import sparkslim.jobs.driver.LayerSequentialDriver;
import sparkslim.jobs.spark.PerplexityEvaluator;
import sparkslim.jobs.spark.SparkSessions;

/**
 * The parts of a compression job's output that prune and quantize share: the quantized export of the block shards, the
 * evaluation of the exported model as a user loads it, and the report's per-block times, sizes and bits per weight.
 */
final class CompressedOutput {
  /** The tensors that stand for a quantized linear's weight in either format. */
  private static final Set<String> QUANTIZED_SUFFIXES = Set.of(".weight_packed", ".weight_scale", ".weight_zero_point", ".weight_g_idx",
      ".weight_shape", ".qweight", ".qzeros", ".scales", ".g_idx");

  private CompressedOutput() {}

  /** The quantized linears of every block (in {@code quantized/block-NNNNN.parquet}) as the exporter writes them. */
  static ModelExporter.QuantizedBlocks quantizedBlocks(QuantizationSettings q, DType weightDtype, IntFunction<Path> fileOfBlock) {
    return new ModelExporter.QuantizedBlocks(fileOfBlock, q.checkpointFormat(), q.scheme(weightDtype), q.storesGroupIndex(),
        q.quantizationConfig(weightDtype));
  }

  /**
   * Evaluates the exported model as a user loads it (a quantized checkpoint dequantized exactly as the report's
   * weights): in memory, or block by block when it is larger than an executor. Fills {@code eval} and logs each PPL.
   */
  static void evaluate(JavaSparkContext jsc, Path exported, ModelSpec spec, EvalTexts texts, EvalMode mode, ObjectNode eval, String what,
                       Configuration conf, Consumer<String> log) {
    if (texts == null) {
      return;
    }
    int partitions = Math.min(texts.windows().size(), 2 * jsc.defaultParallelism());
    EvalMode.Decision decision = mode.decide(spec.parameterCount() * Float.BYTES, SparkSessions.executorMemoryBytes(jsc.master()));
    log.accept("eval " + decision.logLine());
    List<PerplexityEvaluator.WindowResult> results = decision.mode() == EvalMode.STREAMED
        ? PerplexityEvaluator.evaluateStreamed(jsc, exported.toString(), spec.numLayers(),
            PerplexityEvaluator.stackSize(spec, texts), texts, partitions, log)
        : PerplexityEvaluator.evaluate(jsc, ModelDirectory.open(exported.toString(), conf).loadModel(), texts, partitions);
    PerplexityEvaluator.report(eval, texts, results);
    for (int t = 0; t < texts.names().size(); t++) {
      log.accept(String.format("%s %s: ppl=%.6f", texts.names().get(t), what, PerplexityEvaluator.perplexity(results, t)));
    }
  }

  /** Block {@code block}'s file in a per-block directory ({@code shards/}, {@code quantized/}, {@code factors/}, {@code metrics/}). */
  static Path blockFile(Path dir, int block) {
    return new Path(dir, String.format("block-%05d.parquet", block));
  }

  /** The report's {@code blocks}: per-block seconds of each phase, and whether the block was resumed. */
  static void blocks(ObjectNode report, List<LayerSequentialDriver.BlockOutcome> blocks) {
    ArrayNode nodes = report.putArray("blocks");
    for (LayerSequentialDriver.BlockOutcome b : blocks) {
      nodes.addObject().put("block", b.block()).put("resumed", b.resumed()).put("statistics", b.statistics()).put("solve", b.solve())
          .put("propagate", b.propagate()).put("write", b.write());
    }
  }

  /**
   * The report's {@code quantization}: method, scheme, the stored bits per weight of the quantized linears measured from
   * the exported files (codes, scales, zero points, g_idx and shapes) next to the scheme's nominal figure, and the
   * model's size on disk against the input's.
   */
  static void quantization(ObjectNode node, QuantizationSettings q, DType weightDtype, ModelDirectory input, Path exported, FileSystem fs) {
    QuantScheme scheme = q.scheme(weightDtype);
    ModelSpec spec = input.spec();
    node.put("method", q.method().configName());
    node.put("scheme", scheme.label());
    node.put("bits", q.bits());
    node.put("group_size", q.strategy() == sparkslim.core.quant.QuantStrategy.GROUP ? String.valueOf(q.groupSize()) : q.strategy().configName());
    node.put("symmetric", q.symmetric());
    node.put("act_order", q.effectiveActOrder().configName());
    node.put("format", q.format().configName());
    node.put("scale_dtype", scheme.scaleDtype().hfName());
    long weights = 0;
    double nominal = 0;
    for (String linear : DecoderBlock.linearNames(spec)) {
      long[] shape = spec.blockTensorShapes().get(linear + ".weight");
      weights += shape[0] * shape[1];
      nominal += scheme.bitsPerWeight((int) shape[0], (int) shape[1]) * shape[0] * shape[1];
    }
    weights *= spec.numLayers();
    nominal *= spec.numLayers();
    long quantizedBytes = 0;
    long outputBytes = 0;
    try {
      for (FileStatus st : fs.listStatus(exported, p -> p.getName().endsWith(".safetensors"))) {
        outputBytes += st.getLen();
        for (SafetensorsFile.Entry e : SafetensorsFile.open(fs, st.getPath()).entries().values()) {
          String name = e.name();
          if (QUANTIZED_SUFFIXES.stream().anyMatch(name::endsWith)) {
            quantizedBytes += e.end() - e.begin();
          }
        }
      }
      long inputBytes = 0;
      for (FileStatus st : input.fileSystem().listStatus(input.root(), p -> p.getName().endsWith(".safetensors"))) {
        inputBytes += st.getLen();
      }
      node.put("quantized_weights", weights);
      ObjectNode bpw = node.putObject("bits_per_weight");
      bpw.put("quantized_linears", 8.0 * quantizedBytes / weights);
      bpw.put("scheme", nominal / weights);
      bpw.put("model", 8.0 * outputBytes / spec.parameterCount());
      ObjectNode size = node.putObject("size_bytes");
      size.put("input", inputBytes);
      size.put("output", outputBytes);
      size.put("ratio", (double) outputBytes / inputBytes);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot measure " + exported, e);
    }
  }
}
