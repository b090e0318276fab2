package sparkslim.core.plan;

import java.util.Locale;
import java.util.Map;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.io.DType;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.quant.ActOrder;
import sparkslim.core.quant.QuantConvention;
import sparkslim.core.quant.QuantScheme;
import sparkslim.core.quant.QuantStrategy;
import sparkslim.core.quant.GptqSolver;
import sparkslim.core.quant.QuantizationConfigs;
import sparkslim.core.quant.QuantizedCheckpoint;
import sparkslim.core.quant.RtnSolver;
import sparkslim.core.compress.LinearSolver;
import sparkslim.core.prune.SparseGptSolver;

/**
 * {@code quantization.*}: how each linear is quantized and how the checkpoint is stored (docs/depth_quant.md §2).
 *
 * @param method none, rtn or gptq
 * @param bits 2, 3, 4 or 8
 * @param strategy per group, per channel or per tensor
 * @param groupSize input columns per scale for a group strategy, else 0
 * @param actOrder GPTQ's column order
 * @param format the exported layout
 * @param dampeningFraction GPTQ's H += fraction · mean(diag H) · I, finite, ≥ 0
 * @param blockSize GPTQ's columns per lazy-update block, > 0
 * @param keepZeros GPTQ: the input's exact zeros stay 0 (a pruned model keeps its mask)
 */
public record QuantizationSettings(Method method, int bits, QuantStrategy strategy, int groupSize, boolean symmetric, ActOrder actOrder,
                                   Format format, double dampeningFraction, int blockSize, boolean keepZeros) {

  /** The value of {@code quantization.method}. */
  public enum Method {
    NONE, RTN, GPTQ;

    public String configName() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** The value of {@code quantization.format}. */
  public enum Format {
    COMPRESSED_TENSORS("compressed-tensors"), GPTQ("gptq");

    private final String configName;

    Format(String configName) {
      this.configName = configName;
    }

    public String configName() {
      return configName;
    }
  }

  public static QuantizationSettings of(Config c) {
    Method method = parse(Method.values(), Method::configName, c.string(ConfigKey.QUANTIZATION_METHOD), ConfigKey.QUANTIZATION_METHOD);
    int bits = Values.integer(c, ConfigKey.QUANTIZATION_BITS);
    if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
      throw new SparkslimException("'" + ConfigKey.QUANTIZATION_BITS.key() + "' is set to " + bits + " but must be 2, 3, 4 or 8");
    }
    String group = c.string(ConfigKey.QUANTIZATION_GROUP_SIZE).trim();
    QuantStrategy strategy;
    int groupSize = 0;
    if (group.equals("channel")) {
      strategy = QuantStrategy.CHANNEL;
    } else if (group.equals("tensor")) {
      strategy = QuantStrategy.TENSOR;
    } else {
      strategy = QuantStrategy.GROUP;
      groupSize = Values.integer(ConfigKey.QUANTIZATION_GROUP_SIZE.key(), group, "> 0, or 'channel' or 'tensor'");
      if (groupSize <= 0) {
        throw new SparkslimException("'" + ConfigKey.QUANTIZATION_GROUP_SIZE.key() + "' is set to " + group
            + " but must be an integer > 0, 'channel' or 'tensor'");
      }
    }
    boolean symmetric = Values.bool(c, ConfigKey.QUANTIZATION_SYMMETRIC);
    ActOrder actOrder = parse(ActOrder.values(), ActOrder::configName, c.string(ConfigKey.QUANTIZATION_ACT_ORDER), ConfigKey.QUANTIZATION_ACT_ORDER);
    Format format = parse(Format.values(), Format::configName, c.string(ConfigKey.QUANTIZATION_FORMAT), ConfigKey.QUANTIZATION_FORMAT);
    double damp = Values.finite(c, ConfigKey.QUANTIZATION_DAMPENING_FRACTION, ">= 0");
    if (!(damp >= 0)) {
      throw new SparkslimException("'" + ConfigKey.QUANTIZATION_DAMPENING_FRACTION.key() + "' is set to "
          + Values.text(c, ConfigKey.QUANTIZATION_DAMPENING_FRACTION) + " but must be >= 0");
    }
    int blockSize = Values.positive(c, ConfigKey.QUANTIZATION_BLOCK_SIZE);
    boolean keepZeros = Values.bool(c, ConfigKey.QUANTIZATION_KEEP_ZEROS);
    if (format == Format.GPTQ) {
      if (!symmetric) {
        throw new SparkslimException("'" + ConfigKey.QUANTIZATION_FORMAT.key() + "' is gptq but '" + ConfigKey.QUANTIZATION_SYMMETRIC.key()
            + "' is false: the GPTQ v1 layout stores zero − 1, so an asymmetric zero of 0 overflows into its neighbours"
            + " (use quantization.format=compressed-tensors for asymmetric codes)");
      }
      if (bits != 4 && bits != 8) {
        throw new SparkslimException("'" + ConfigKey.QUANTIZATION_FORMAT.key() + "' is gptq but '" + ConfigKey.QUANTIZATION_BITS.key()
            + "' is " + bits + ": the GPTQ loaders (Marlin, exllama) read 4 or 8 bits (use compressed-tensors for " + bits + " bits)");
      }
      if (strategy == QuantStrategy.TENSOR) {
        throw new SparkslimException("'" + ConfigKey.QUANTIZATION_FORMAT.key() + "' is gptq but '" + ConfigKey.QUANTIZATION_GROUP_SIZE.key()
            + "' is tensor: the GPTQ layout has a scale per group or per channel");
      }
    }
    if (strategy == QuantStrategy.TENSOR && !symmetric) {
      throw new SparkslimException("'" + ConfigKey.QUANTIZATION_GROUP_SIZE.key() + "' is tensor with '"
          + ConfigKey.QUANTIZATION_SYMMETRIC.key() + "' false: an asymmetric per-tensor scheme has no pack-quantized zero-point layout");
    }
    return new QuantizationSettings(method, bits, strategy, groupSize, symmetric, actOrder, format, damp, blockSize, keepZeros);
  }

  private static <E> E parse(E[] values, java.util.function.Function<E, String> name, String text, ConfigKey key) {
    StringBuilder allowed = new StringBuilder();
    for (E v : values) {
      if (name.apply(v).equals(text.trim())) {
        return v;
      }
      allowed.append(allowed.length() == 0 ? "" : " | ").append(name.apply(v));
    }
    throw new SparkslimException("'" + key.key() + "' is set to '" + text + "' but must be one of " + allowed);
  }

  /**
   * The scheme for a model whose weights are stored in {@code modelDtype}: compressed-tensors stores the scales in the
   * model's dtype and uses its signed convention; GPTQ stores fp16 scales.
   */
  public QuantScheme scheme(DType modelDtype) {
    return new QuantScheme(bits, symmetric, strategy, groupSize, QuantConvention.SIGNED_ZERO_POINT,
        format == Format.GPTQ ? DType.F16 : modelDtype);
  }

  /** Whether the method reads calibration data (GPTQ's Hessians; RTN needs none). */
  public boolean readsCalibration() {
    return method == Method.GPTQ;
  }

  /** The layout the checkpoint is written in. */
  public QuantizedCheckpoint.Format checkpointFormat() {
    return format == Format.GPTQ ? QuantizedCheckpoint.Format.GPTQ : QuantizedCheckpoint.Format.COMPRESSED_TENSORS;
  }

  /** Whether each quantized linear stores its column-to-group map (GPTQ's g_idx always; compressed-tensors' with dynamic act-order). */
  public boolean storesGroupIndex() {
    return format == Format.GPTQ || (method == Method.GPTQ && actOrder == ActOrder.DYNAMIC);
  }

  /** The column order as written in the checkpoint's config (RTN has none). */
  public ActOrder effectiveActOrder() {
    return method == Method.GPTQ ? actOrder : ActOrder.OFF;
  }

  /**
   * The per-linear solver for weights stored in {@code weightDtype}: RTN, or GPTQ, the latter choosing each column's
   * mask with {@code pruner} in the same sweep when it is given (joint SparseGPT + GPTQ; N:M masks in column order only).
   */
  public LinearSolver solver(DType weightDtype, SparseGptSolver pruner) {
    QuantScheme scheme = scheme(weightDtype);
    if (method == Method.RTN) {
      return new RtnSolver(scheme, weightDtype);
    }
    if (method == Method.GPTQ) {
      return pruner == null ? new GptqSolver(scheme, blockSize, dampeningFraction, actOrder, keepZeros)
          : new GptqSolver(scheme, blockSize, dampeningFraction, actOrder, pruner);
    }
    throw new IllegalStateException("no solver for quantization.method=none");
  }

  /**
   * The checkpoint's {@code quantization_config} (compressed-tensors: every Linear but lm_head; GPTQ: also its
   * quantize_config.json).
   */
  public com.fasterxml.jackson.databind.node.ObjectNode quantizationConfig(DType weightDtype) {
    return format == Format.GPTQ ? QuantizationConfigs.gptq(scheme(weightDtype), effectiveActOrder(), dampeningFraction)
        : QuantizationConfigs.compressedTensors(scheme(weightDtype), effectiveActOrder(), java.util.List.of("lm_head"));
  }

  /** The group size must divide the input width of every quantized linear (the first one that it does not is named). */
  public void check(ModelSpec spec, String source) {
    if (method == Method.NONE || strategy != QuantStrategy.GROUP) {
      return;
    }
    for (Map.Entry<String, long[]> e : spec.blockTensorShapes().entrySet()) {
      long[] shape = e.getValue();
      if (shape.length == 2 && e.getKey().endsWith(".weight") && shape[1] % groupSize != 0) {
        throw new SparkslimException("'" + ConfigKey.QUANTIZATION_GROUP_SIZE.key() + "' is set to " + groupSize + " but it does not divide the"
            + " input width " + shape[1] + " of linear '" + spec.blockPrefix(0) + e.getKey().substring(0, e.getKey().length() - ".weight".length())
            + "' (" + source + "): use a divisor of every linear's input width, 'channel' or 'tensor'");
      }
    }
  }

  /** Every setting that changes the quantized tensors, one per line, in a canonical form. */
  String canonical() {
    return String.join("\n",
        ConfigKey.QUANTIZATION_METHOD.key() + "=" + method.configName(),
        ConfigKey.QUANTIZATION_BITS.key() + "=" + bits,
        ConfigKey.QUANTIZATION_GROUP_SIZE.key() + "=" + (strategy == QuantStrategy.GROUP ? String.valueOf(groupSize) : strategy.configName()),
        ConfigKey.QUANTIZATION_SYMMETRIC.key() + "=" + symmetric,
        ConfigKey.QUANTIZATION_ACT_ORDER.key() + "=" + actOrder.configName(),
        ConfigKey.QUANTIZATION_FORMAT.key() + "=" + format.configName(),
        ConfigKey.QUANTIZATION_DAMPENING_FRACTION.key() + "=" + Values.canonical(dampeningFraction),
        ConfigKey.QUANTIZATION_BLOCK_SIZE.key() + "=" + blockSize
        + (keepZeros ? "\n" + ConfigKey.QUANTIZATION_KEEP_ZEROS.key() + "=true" : "")); // absent when false: fingerprints of earlier runs hold
  }
}
