package sparkslim.core.plan;

import java.nio.charset.StandardCharsets;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.prune.PruningMethod;
import sparkslim.core.quant.ActOrder;

/**
 * The plan of {@code sparkslim prune}: every setting parsed and checked by {@link #of}, then against the model by
 * {@link #check} as soon as its config.json is read (before any weight), all before Spark starts. The resume
 * fingerprint ({@link #fingerprint}) is computed from the parsed values, so equal settings spelled differently
 * ({@code 0.5} and {@code 0.50}, {@code 2:4} and {@code  2:4}, {@code fp16} and {@code float16}) resume each other.
 */
public record PrunePlan(ModelSettings model, OutputSettings output, PruningSettings pruning, QuantizationSettings quantization,
                        CalibrationSettings calibration, EvalSettings eval, SparkSettings spark) {
  public static PrunePlan of(Config c) {
    PruningSettings pruning = PruningSettings.of(c);
    QuantizationSettings quantization = QuantizationSettings.of(c);
    checkJoint(pruning, quantization);
    CalibrationSettings calibration = CalibrationSettings.of(c, true);
    EvalSettings eval = EvalSettings.of(c, false);
    return new PrunePlan(ModelSettings.of(c), OutputSettings.of(c), pruning, quantization, calibration, eval, SparkSettings.of(c));
  }

  /**
   * Pruning with quantization is SparseGPT's joint sweep (SparseGPT §4): GPTQ quantizes each column as SparseGPT
   * prunes it, in GPTQ's column order (act-order; N:M masks only in column order), with one block size and one dampening.
   */
  private static void checkJoint(PruningSettings pruning, QuantizationSettings quantization) {
    if (quantization.method() == QuantizationSettings.Method.NONE) {
      return;
    }
    String method = ConfigKey.QUANTIZATION_METHOD.key();
    if (quantization.method() != QuantizationSettings.Method.GPTQ) {
      throw new SparkslimException("'" + method + "' is " + quantization.method().configName() + " but prune quantizes only with gptq,"
          + " jointly with sparsegpt in one column sweep (or run sparkslim quantize on the pruned model)");
    }
    if (pruning.method() != PruningMethod.SPARSEGPT) {
      throw new SparkslimException("'" + method + "' is gptq with '" + ConfigKey.PRUNING_METHOD.key() + "' " + pruning.method().configName()
          + ": the joint sweep prunes with sparsegpt (or run sparkslim quantize on the pruned model)");
    }
    if (quantization.actOrder() != ActOrder.OFF && !pruning.mask().isUnstructured()) {
      throw new SparkslimException("'" + ConfigKey.QUANTIZATION_ACT_ORDER.key() + "' is " + quantization.actOrder().configName() + " with '"
          + ConfigKey.PRUNING_MASK_STRUCTURE.key() + "' " + pruning.mask() + ": an N:M group is M consecutive input columns, so the"
          + " joint sweep must take them in column order: set --" + ConfigKey.QUANTIZATION_ACT_ORDER.key() + "=off");
    }
    if (quantization.keepZeros()) {
      throw new SparkslimException("'" + ConfigKey.QUANTIZATION_KEEP_ZEROS.key() + "' is true with '" + method
          + "' gptq: the joint sweep chooses its own mask from dense weights; keep-zeros is for quantizing an already pruned model");
    }
    if (pruning.layers() != PruningSettings.Layers.ALL) {
      throw new SparkslimException("'" + ConfigKey.PRUNING_LAYERS.key() + "' is " + pruning.layers().configName() + " with '" + method
          + "' gptq: a quantized checkpoint quantizes every linear, so every block goes through the joint sweep (use all)");
    }
    if (pruning.dampeningFraction() != quantization.dampeningFraction()) {
      throw new SparkslimException("'" + ConfigKey.PRUNING_DAMPENING_FRACTION.key() + "' is " + pruning.dampeningFraction() + " but '"
          + ConfigKey.QUANTIZATION_DAMPENING_FRACTION.key() + "' is " + quantization.dampeningFraction()
          + ": the joint sweep uses one Hessian, set both to the same value");
    }
    if (pruning.blockSize() != quantization.blockSize()) {
      throw new SparkslimException("'" + ConfigKey.PRUNING_BLOCK_SIZE.key() + "' is " + pruning.blockSize() + " but '"
          + ConfigKey.QUANTIZATION_BLOCK_SIZE.key() + "' is " + quantization.blockSize() + ": the joint sweep has one block size, set both");
    }
  }

  /** Whether the pruned linears are quantized in the same sweep. */
  public boolean quantizes() {
    return quantization.method() != QuantizationSettings.Method.NONE;
  }

  /**
   * Checks the settings against the model's config.json ({@code source}): N:M against every pruned linear's input
   * width, SparseLLM against the FFN, the calibration and eval window lengths against max_position_embeddings, and
   * that {@code output.dtype=auto} resolves.
   */
  public PrunePlan check(ModelSpec spec, String source) {
    pruning.check(spec, source);
    quantization.check(spec, source);
    calibration.check(spec, source);
    eval.check(spec, source);
    output.check(spec, source);
    return this;
  }

  /** How many blocks are pruned (the first ones) in a model of {@code numLayers} blocks. */
  public int prunedBlocks(int numLayers) {
    return pruning.layers().prunedBlocks(numLayers);
  }

  /**
   * The text the fingerprint hashes: the model's root, then every setting that changes the pruned tensors, one
   * {@code key=value} per line, with values in canonical form.
   */
  public String canonical(String modelRoot) {
    String text = String.join("\n", modelRoot, pruning.canonical(), calibration.canonical(),
        ConfigKey.OUTPUT_DTYPE.key() + "=" + output.canonicalDtype());
    return quantizes() ? text + "\n" + quantization.canonical() : text; // unquantized: the text of earlier versions, which resume
  }

  /** SHA-256 of {@link #canonical}; resume refuses shards written with another fingerprint. */
  public String fingerprint(String modelRoot) {
    return TensorShardTable.sha256(canonical(modelRoot).getBytes(StandardCharsets.UTF_8));
  }
}
