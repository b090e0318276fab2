package sparkslim.core.quant;

import sparkslim.core.calib.InputStatistics;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.compress.LinearSolver;
import sparkslim.core.io.DType;

/**
 * Round-to-nearest (docs/depth_quant.md §2.3): each group's grid from its min and max, each weight rounded to its
 * nearest code. Needs no data. With the compressed-tensors convention and a bf16 or fp16 weight it reproduces
 * llm-compressor's codes and scales bit for bit (examples/golden/quant).
 */
public final class RtnSolver implements LinearSolver {
  private static final long serialVersionUID = 1L;
  private final QuantScheme scheme;
  private final DType working;

  /**
   * @param weightDtype the dtype the weights are stored in: the arithmetic is done in it when the scales are stored in
   *     it too (PyTorch's type promotion), else in fp32
   */
  public RtnSolver(QuantScheme scheme, DType weightDtype) {
    this.scheme = scheme;
    this.working = workingDtype(weightDtype, scheme.scaleDtype());
  }

  /** The dtype PyTorch computes x / scale in: the common dtype of the weight and the scale, else fp32. */
  public static DType workingDtype(DType weightDtype, DType scaleDtype) {
    return weightDtype == scaleDtype ? weightDtype : DType.F32;
  }

  @Override
  public boolean readsStatistics() {
    return false;
  }

  @Override
  public CompressedLinear.Quantized solve(float[] w, int rows, int cols, InputStatistics stats, double[] scratch) {
    return quantize(w, rows, cols, scheme, working);
  }

  /** Quantizes {@code w} (rows, cols) by round-to-nearest on min/max grids; {@code w} is not modified. */
  public static CompressedLinear.Quantized quantize(float[] w, int rows, int cols, QuantScheme scheme, DType working) {
    return quantize(w, rows, cols, scheme, working, false);
  }

  /**
   * As {@link #quantize(float[], int, int, QuantScheme, DType)}; with {@code clipSearch}, each group's grid comes from
   * {@link QuantGrid#searchParams} (per tensor: min/max).
   */
  public static CompressedLinear.Quantized quantize(float[] w, int rows, int cols, QuantScheme scheme, DType working, boolean clipSearch) {
    int width = scheme.groupWidth(cols);
    int groups = cols / width;
    byte[] codes = new byte[rows * cols]; // (rows, cols)
    float[] scales = new float[rows * groups]; // (rows, groups)
    byte[] zeros = scheme.symmetric() ? null : new byte[rows * groups]; // symmetric: zero point 0 in both conventions
    QuantGrid.Params whole = scheme.strategy() == QuantStrategy.TENSOR ? QuantGrid.params(w, 0, w.length, scheme, working) : null;
    for (int r = 0; r < rows; r++) {
      for (int g = 0; g < groups; g++) {
        int from = r * cols + g * width;
        QuantGrid.Params p = whole != null ? whole : clipSearch ? QuantGrid.searchParams(w, from, width, scheme, working)
            : QuantGrid.params(w, from, width, scheme, working);
        scales[r * groups + g] = p.scale();
        if (zeros != null) {
          zeros[r * groups + g] = (byte) p.zeroPoint();
        }
        for (int i = from; i < from + width; i++) {
          codes[i] = (byte) QuantGrid.code(w[i], p, scheme, working);
        }
      }
    }
    return new CompressedLinear.Quantized(rows, cols, scheme.bits(), width, scheme.scaleDtype(), codes, scales, zeros, null, null, Double.NaN, null);
  }
}
