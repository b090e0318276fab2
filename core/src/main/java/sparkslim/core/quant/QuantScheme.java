package sparkslim.core.quant;

import java.io.Serializable;
import sparkslim.core.io.DType;

/**
 * What a quantized linear stores (docs/depth_quant.md §2.1): the bit width, symmetric or asymmetric, how many weights
 * share a scale, the convention that computes the grid, and the dtype the scales are stored in (the model's dtype for
 * compressed-tensors, F16 for GPTQ). Scales are rounded to {@code scaleDtype} before the codes are computed, and the
 * dequantized weights are rounded to it as a loader computes them, so what is evaluated is exactly what is loaded.
 *
 * @param bits 2, 3, 4 or 8
 * @param groupSize the number of consecutive input columns per scale for {@link QuantStrategy#GROUP}, else 0
 */
public record QuantScheme(int bits, boolean symmetric, QuantStrategy strategy, int groupSize, QuantConvention convention,
                          DType scaleDtype) implements Serializable {
  private static final long serialVersionUID = 1L;

  public QuantScheme {
    if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
      throw new IllegalArgumentException("bits must be 2, 3, 4 or 8, found " + bits);
    }
    if (strategy == QuantStrategy.GROUP ? groupSize <= 0 : groupSize != 0) {
      throw new IllegalArgumentException("group size " + groupSize + " with strategy " + strategy.configName()
          + " (a group strategy needs a size > 0, the others 0)");
    }
    if (!scaleDtype.isFloating()) {
      throw new IllegalArgumentException("scale dtype must be F32, F16 or BF16, found " + scaleDtype);
    }
  }

  /** Symmetric W{bits} in groups of {@code groupSize}, compressed-tensors convention. */
  public static QuantScheme group(int bits, int groupSize, boolean symmetric, DType scaleDtype) {
    return new QuantScheme(bits, symmetric, QuantStrategy.GROUP, groupSize, QuantConvention.SIGNED_ZERO_POINT, scaleDtype);
  }

  /** The smallest signed code, −2^(bits−1). */
  public int qmin() {
    return -(1 << (bits - 1));
  }

  /** The largest signed code, 2^(bits−1) − 1. */
  public int qmax() {
    return (1 << (bits - 1)) - 1;
  }

  /**
   * The number of consecutive input columns that share a scale in a linear {@code cols} wide: {@code groupSize}, or
   * {@code cols} per channel and per tensor.
   *
   * @throws IllegalArgumentException if the group size does not divide {@code cols}
   */
  public int groupWidth(int cols) {
    if (strategy != QuantStrategy.GROUP) {
      return cols;
    }
    if (cols % groupSize != 0) {
      throw new IllegalArgumentException("group size " + groupSize + " does not divide the input width " + cols);
    }
    return groupSize;
  }

  /** The scales of a (rows, cols) linear: 1 per tensor, (rows, 1) per channel, (rows, cols / groupSize) per group. */
  public int numScales(int rows, int cols) {
    return strategy == QuantStrategy.TENSOR ? 1 : rows * (cols / groupWidth(cols));
  }

  /** Stored bits per weight, the scales and zero points included: b + (16 + b)/g for asymmetric groups (§2.1). */
  public double bitsPerWeight(int rows, int cols) {
    long weights = (long) rows * cols;
    long scales = numScales(rows, cols);
    return bits + (double) scales * (8 * scaleDtype.bytes() + (symmetric ? 0 : bits)) / weights;
  }

  /** The same scheme stored with another convention or scale dtype. */
  public QuantScheme with(QuantConvention newConvention, DType newScaleDtype) {
    return new QuantScheme(bits, symmetric, strategy, groupSize, newConvention, newScaleDtype);
  }

  /** A short name for logs and reports, e.g. {@code w4-g128-sym} or {@code w8-channel-asym}. */
  public String label() {
    String granularity = strategy == QuantStrategy.GROUP ? "g" + groupSize : strategy.configName();
    return "w" + bits + "-" + granularity + "-" + (symmetric ? "sym" : "asym");
  }
}
