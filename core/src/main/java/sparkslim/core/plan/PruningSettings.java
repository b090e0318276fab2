package sparkslim.core.plan;

import java.util.Map;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.model.Architecture;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.prune.MaskStructure;
import sparkslim.core.prune.PruningMethod;
import sparkslim.core.prune.sparsellm.FfnKind;

/**
 * {@code pruning.*}: what the layer-sequential pruner does to each linear.
 *
 * @param method magnitude, wanda, sparsegpt or sparsellm
 * @param sparsity target fraction of zeros, finite, in [0, 1) (ignored by N:M, whose sparsity is N/M)
 * @param mask unstructured or N:M with 0 &lt; N &lt; M
 * @param dampeningFraction SparseGPT's H += fraction · mean(diag H) · I, finite, &ge; 0
 * @param blockSize SparseGPT columns per lazy-update block, &gt; 0
 * @param zeroDeadColumns SparseGPT: also zero the weights of inputs never active in calibration
 * @param layers every block, or only the first half
 * @param sparseLlm the SparseLLM hyperparameters (checked whatever the method, as they enter the fingerprint)
 */
public record PruningSettings(PruningMethod method, double sparsity, MaskStructure mask, double dampeningFraction, int blockSize,
                              boolean zeroDeadColumns, Layers layers, SparseLlmSettings sparseLlm) {

  /** The value of {@code pruning.layers}. */
  public enum Layers {
    ALL("all"), FIRST_HALF("first-half");

    private final String configName;

    Layers(String configName) {
      this.configName = configName;
    }

    public String configName() {
      return configName;
    }

    /** How many of a model's {@code numLayers} blocks are pruned (the first ones). */
    public int prunedBlocks(int numLayers) {
      return this == ALL ? numLayers : numLayers / 2;
    }

    static Layers parse(String text, String key) {
      for (Layers l : values()) {
        if (l.configName.equals(text.trim())) {
          return l;
        }
      }
      throw new SparkslimException("'" + key + "' is set to '" + text + "' but must be 'all' or 'first-half'");
    }
  }

  public static PruningSettings of(Config c) {
    PruningMethod method = PruningMethod.parse(c.required(ConfigKey.PRUNING_METHOD), ConfigKey.PRUNING_METHOD.key());
    String sparsityText = Values.text(c, ConfigKey.PRUNING_SPARSITY);
    double sparsity = Values.finite(c, ConfigKey.PRUNING_SPARSITY, "in [0, 1)");
    if (!(sparsity >= 0 && sparsity < 1)) {
      throw new SparkslimException("'" + ConfigKey.PRUNING_SPARSITY.key() + "' is set to " + sparsityText + " but must be in [0, 1)");
    }
    MaskStructure mask = MaskStructure.parse(c.string(ConfigKey.PRUNING_MASK_STRUCTURE), ConfigKey.PRUNING_MASK_STRUCTURE.key());
    double damp = Values.finite(c, ConfigKey.PRUNING_DAMPENING_FRACTION, ">= 0");
    if (!(damp >= 0)) {
      throw new SparkslimException("'" + ConfigKey.PRUNING_DAMPENING_FRACTION.key() + "' is set to "
          + Values.text(c, ConfigKey.PRUNING_DAMPENING_FRACTION) + " but must be >= 0");
    }
    int blockSize = Values.positive(c, ConfigKey.PRUNING_BLOCK_SIZE);
    boolean zeroDeadColumns = Values.bool(c, ConfigKey.PRUNING_ZERO_DEAD_COLUMNS);
    Layers layers = Layers.parse(c.string(ConfigKey.PRUNING_LAYERS), ConfigKey.PRUNING_LAYERS.key());
    return new PruningSettings(method, sparsity, mask, damp, blockSize, zeroDeadColumns, layers, SparseLlmSettings.of(c));
  }

  /**
   * Checks the settings against the model ({@code source} names its config.json): an N:M mask must tile the input width
   * of every pruned linear, and SparseLLM must support the model's FFN.
   */
  public void check(ModelSpec spec, String source) {
    if (!mask.isUnstructured() && layers.prunedBlocks(spec.numLayers()) > 0) {
      for (Map.Entry<String, long[]> e : spec.blockTensorShapes().entrySet()) {
        long[] shape = e.getValue();
        if (shape.length == 2 && e.getKey().endsWith(".weight") && shape[1] % mask.m() != 0) {
          throw new SparkslimException("'" + ConfigKey.PRUNING_MASK_STRUCTURE.key() + "' is set to " + mask + " but M = " + mask.m()
              + " does not divide the input width " + shape[1] + " of tensor '" + spec.blockPrefix(0) + e.getKey() + "' ("
              + widthName(spec, e.getKey(), shape[1]) + " in " + source + "): N:M prunes groups of M consecutive inputs, so M must divide "
              + "every pruned linear's input width");
        }
      }
    }
    if (method == PruningMethod.SPARSELLM) {
      sparseLlm.resolve(FfnKind.of(spec, source));
    }
  }

  /** Where an input width comes from in config.json, for messages. */
  private static String widthName(ModelSpec spec, String tensor, long width) {
    if (width == spec.hiddenSize()) {
      return "hidden_size=" + width;
    }
    if (width == spec.intermediateSize()) {
      return (spec.architecture() == Architecture.OPT ? "ffn_dim=" : "intermediate_size=") + width;
    }
    return "num_attention_heads x head_dim = " + spec.numHeads() + " x " + spec.headDim() + " = " + width;
  }

  /** Every setting that changes the pruned tensors, one per line, in a canonical form. */
  String canonical() {
    return String.join("\n",
        ConfigKey.PRUNING_METHOD.key() + "=" + method.configName(),
        ConfigKey.PRUNING_SPARSITY.key() + "=" + Values.canonical(sparsity),
        ConfigKey.PRUNING_MASK_STRUCTURE.key() + "=" + mask,
        ConfigKey.PRUNING_DAMPENING_FRACTION.key() + "=" + Values.canonical(dampeningFraction),
        ConfigKey.PRUNING_BLOCK_SIZE.key() + "=" + blockSize,
        ConfigKey.PRUNING_ZERO_DEAD_COLUMNS.key() + "=" + zeroDeadColumns,
        ConfigKey.PRUNING_LAYERS.key() + "=" + layers.configName(),
        sparseLlm.canonical());
  }
}
