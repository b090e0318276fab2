package sparkslim.core.prune.sparsellm;

import static org.bytedeco.openblas.global.openblas.CblasRight;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasUpper;

import java.util.List;
import org.bytedeco.openblas.global.openblas;

/**
 * The decoded (fp64) sums of a {@link LeastSquaresAccumulator} for the fit B ≈ A·Wᵀ + 1·bᵀ (tokens as rows; A is
 * (numTokens, inFeatures), B is (numTokens, outFeatures)): what the driver holds. Sizes are those of the weights and
 * the Gram matrix, never of the number of tokens.
 *
 * @param sumAtA (in, in) Σ AᵀA, full symmetric
 * @param sumBtA (out, in) Σ BᵀA
 * @param sumA (in) Σ over tokens of A's rows
 * @param sumB (out) Σ over tokens of B's rows
 * @param sumSquaresB (out) Σ over tokens of B²
 */
public record LeastSquaresSums(int inFeatures, int outFeatures, double[] sumAtA, double[] sumBtA, double[] sumA,
                               double[] sumB, double[] sumSquaresB, long numSamples, long numTokens) {
  /** SparseGPT's factor in H = (2 / numSamples)·Σ AᵀA (see HessianAccumulator). */
  private static final double HESSIAN_SCALE = 2.0;
  /** Weight rows per BLAS call in {@link #residual}; bounds its fp64 scratch. */
  private static final int RESIDUAL_ROWS_PER_CALL = 512;

  /**
   * From the decoded components in the order of {@link LeastSquaresAccumulator#components()}; the first is the
   * upper triangle of Σ AᵀA packed row by row, unpacked here into a full symmetric matrix.
   */
  public static LeastSquaresSums decode(int inFeatures, int outFeatures, List<double[]> components) {
    if (components.size() != 6) {
      throw new IllegalArgumentException("Expected 6 least-squares components, got " + components.size());
    }
    double[] packed = components.get(0);
    if (packed.length != LeastSquaresAccumulator.packedSize(inFeatures)) {
      throw new IllegalArgumentException("Expected " + LeastSquaresAccumulator.packedSize(inFeatures) + " packed entries of ΣAᵀA for "
          + inFeatures + " input features, got " + packed.length);
    }
    double[] atA = new double[inFeatures * inFeatures]; // (in, in)
    for (int i = 0, k = 0; i < inFeatures; i++) {
      for (int j = i; j < inFeatures; j++, k++) {
        atA[i * inFeatures + j] = packed[k];
        atA[j * inFeatures + i] = packed[k];
      }
    }
    double[] counts = components.get(5);
    return new LeastSquaresSums(inFeatures, outFeatures, atA, components.get(1), components.get(2), components.get(3),
        components.get(4), Math.round(counts[0]), Math.round(counts[1]));
  }

  /**
   * The SparseGPT Hessian of the linear's input, H = (2 / numSamples)·Σ AᵀA, a new array.
   *
   * @throws IllegalStateException if no sample was added
   */
  public double[] hessian() {
    if (numSamples == 0) {
      throw new IllegalStateException("Cannot compute a Hessian: no calibration samples were added");
    }
    double scale = HESSIAN_SCALE / numSamples;
    double[] h = new double[sumAtA.length];
    for (int i = 0; i < h.length; i++) {
      h[i] = scale * sumAtA[i];
    }
    return h;
  }

  /**
   * The squared error of output rows [fromRow, toRow) of the fit, Σ_tokens Σ_{o ∈ rows} (w_o·a + b_o − B_o)², from
   * the sums alone (fp64):
   * Σ_o [w_oᵀ(ΣAᵀA)w_o + 2b_o·w_o·ΣA − 2w_o·(ΣBᵀA)_o + n·b_o² − 2b_o·ΣB_o + ΣB²_o].
   * This is the weight-dependent part of the SparseLLM objective, evaluated on the driver for any candidate W.
   *
   * @param w (toRow − fromRow, in) row-major weights of those rows
   * @param bias (toRow − fromRow) or null
   */
  public double residual(float[] w, float[] bias, int fromRow, int toRow) {
    int rows = toRow - fromRow;
    int in = inFeatures;
    if (fromRow < 0 || toRow > outFeatures || rows < 0 || w.length != (long) rows * in || (bias != null && bias.length != rows)) {
      throw new IllegalArgumentException("Cannot evaluate the residual of rows [" + fromRow + ", " + toRow + ") of a ("
          + outFeatures + ", " + in + ") fit with " + w.length + " weights");
    }
    int chunk = Math.max(1, Math.min(rows, RESIDUAL_ROWS_PER_CALL));
    double[] wd = new double[chunk * in]; // (chunk, in)
    double[] wg = new double[chunk * in]; // (chunk, in) = W·ΣAᵀA
    double total = 0;
    for (int r0 = 0; r0 < rows; r0 += chunk) {
      int n = Math.min(chunk, rows - r0);
      for (int i = 0; i < n * in; i++) {
        wd[i] = w[r0 * in + i];
      }
      openblas.cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, n, in, 1.0, sumAtA, in, wd, in, 0.0, wg, in);
      for (int r = 0; r < n; r++) {
        int o = fromRow + r0 + r;
        double quadratic = 0;
        double cross = 0;
        double linearA = 0;
        for (int i = 0; i < in; i++) {
          double wi = wd[r * in + i];
          quadratic += wi * wg[r * in + i];
          cross += wi * sumBtA[o * in + i];
          linearA += wi * sumA[i];
        }
        double b = bias == null ? 0 : bias[r0 + r];
        total += quadratic - 2 * cross + 2 * b * linearA + numTokens * b * b - 2 * b * sumB[o] + sumSquaresB[o];
      }
    }
    return total;
  }
}
