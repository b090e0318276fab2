package sparkslim.core.prune.sparsellm;

import sparkslim.core.SparkslimException;
import sparkslim.core.linalg.Lapack;
import sparkslim.core.linalg.Ridge;

/**
 * The SparseLLM weight subproblem, solved on the driver from aggregated {@link LeastSquaresAccumulator} statistics:
 * for a fixed bias b (OPT keeps the layer's original bias; LLaMA has none, b = 0),
 * <pre>
 *   W = argmin_W ‖A·Wᵀ + 1·bᵀ − B‖²_F + λ‖W‖²_F
 *     = (ΣBᵀA − b·ΣAᵀ)·(ΣAᵀA + λI)⁻¹,      i.e. (ΣAᵀA + λI)·Wᵀ = Aᵀ(B − 1·bᵀ)
 * </pre>
 * with A the linear's input (tokens as rows) and B its target. This replaces the released code's
 * {@code W1 = (z − b1)·pinv(X)} (fp16, pinv in fp32) and its 10-step fc2 gradient descent, which barely moves W2
 * (docs/sparsellm.md §1.2 step 1, §6): the refits are least squares from the statistics "(z−b)Xᵀ, XXᵀ, Ypᵀ and ppᵀ".
 *
 * <p>Ridge: λ = ridgeFraction·mean(diag ΣAᵀA), default {@link #DEFAULT_RIDGE_FRACTION} = 1e-8. It only makes the
 * Cholesky factorisation safe when A is rank deficient (dead ReLU units make columns of p zero; fewer tokens than
 * inputs); a zero input column then gets zero weights, as the reference's pinv gives. For full-rank A the relative
 * bias on W is about λ / σ_min(ΣAᵀA). Solved in fp64 (dpotrf + dpotrs), returned in fp32.
 */
public final class WeightRefit {
  /** λ / mean(diag ΣAᵀA): a tiny ridge, enough to factor rank-deficient Gram matrices in fp64. */
  public static final double DEFAULT_RIDGE_FRACTION = 1e-8;

  private WeightRefit() {}

  /**
   * W for the statistics in {@code stats}, with {@link #DEFAULT_RIDGE_FRACTION}.
   *
   * @param bias (outFeatures) fixed bias b, or null for none
   * @return W (outFeatures, inFeatures) row-major
   */
  public static float[] refit(LeastSquaresAccumulator stats, float[] bias) {
    return refit(stats, bias, DEFAULT_RIDGE_FRACTION);
  }

  /**
   * W = (ΣBᵀA − b·ΣAᵀ)·(ΣAᵀA + λI)⁻¹ with λ = ridgeFraction·mean(diag ΣAᵀA).
   *
   * @param bias (outFeatures) fixed bias b, or null for none
   * @param ridgeFraction ≥ 0
   * @return W (outFeatures, inFeatures) row-major
   * @throws SparkslimException if ΣAᵀA + λI is not positive definite
   */
  public static float[] refit(LeastSquaresAccumulator stats, float[] bias, double ridgeFraction) {
    return refit(stats.decode(), bias, ridgeFraction);
  }

  /** As {@link #refit(LeastSquaresAccumulator, float[], double)}, from decoded sums (on the driver). */
  public static float[] refit(LeastSquaresSums sums, float[] bias, double ridgeFraction) {
    return refit(sums.sumAtA(), sums.sumBtA(), sums.sumA(), bias, sums.outFeatures(), sums.inFeatures(), ridgeFraction);
  }

  /**
   * The same from plain arrays.
   *
   * @param sumAtA (in, in) Σ AᵀA, full symmetric (not modified)
   * @param sumBtA (out, in) Σ BᵀA (not modified)
   * @param sumA (in) Σ rows of A; only read when bias is not null
   * @param bias (out) or null
   * @return W (out, in) row-major
   */
  public static float[] refit(double[] sumAtA, double[] sumBtA, double[] sumA, float[] bias, int out, int in,
                              double ridgeFraction) {
    if (sumAtA.length != (long) in * in || sumBtA.length != (long) out * in || (bias != null && (bias.length != out || sumA.length != in))) {
      throw new IllegalArgumentException("Cannot refit weights of shape (" + out + ", " + in + "): got ΣAᵀA of " + sumAtA.length
          + " values, ΣBᵀA of " + sumBtA.length + ", bias of " + (bias == null ? "none" : bias.length));
    }
    if (!(ridgeFraction >= 0 && Double.isFinite(ridgeFraction))) {
      throw new IllegalArgumentException("Cannot refit weights: ridge fraction is " + ridgeFraction + " but must be finite and ≥ 0");
    }
    double[] g = sumAtA.clone(); // (in, in), ΣAᵀA + λI
    double lambda = Ridge.addFractionOfMeanDiagonal(g, in, ridgeFraction);
    double[] rhs = new double[in * out]; // (in, out), Aᵀ(B − 1·bᵀ) = (ΣBᵀA − b·ΣAᵀ)ᵀ
    for (int o = 0; o < out; o++) {
      double b = bias == null ? 0 : bias[o];
      for (int i = 0; i < in; i++) {
        rhs[i * out + o] = sumBtA[o * in + i] - b * sumA[i]; // normal equations of ‖A·Wᵀ + 1bᵀ − B‖², doc §1.2 step 1
      }
    }
    int info = Lapack.solveSpd(g, in, rhs, out); // rhs = Wᵀ = (ΣAᵀA + λI)⁻¹·Aᵀ(B − 1·bᵀ)
    if (info > 0) {
      throw new SparkslimException("Cannot refit weights of shape (" + out + ", " + in + "): ΣAᵀA + λI is not positive definite"
          + " (Cholesky failed at column " + (info - 1) + ", λ = " + lambda + "). Increase the ridge fraction (now "
          + ridgeFraction + ") or 'calibration.num-samples'");
    }
    if (info < 0) {
      throw new IllegalStateException("LAPACK dpotrs rejected argument " + (-info));
    }
    float[] w = new float[out * in]; // (out, in)
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        w[o * in + i] = (float) rhs[i * out + o];
      }
    }
    return w;
  }

  /**
   * Rows [fromRow, toRow) of a row-major (rows, in) matrix, e.g. W_up = rows [0, f) and W_gate = rows [f, 2f) of
   * the LLaMA refit of {@link FfnStatistics#input()}.
   */
  public static float[] rows(float[] w, int in, int fromRow, int toRow) {
    if (fromRow < 0 || toRow < fromRow || (long) toRow * in > w.length) {
      throw new IllegalArgumentException("Cannot take rows [" + fromRow + ", " + toRow + ") of a matrix with "
          + w.length / Math.max(1, in) + " rows of " + in);
    }
    float[] part = new float[(toRow - fromRow) * in];
    System.arraycopy(w, fromRow * in, part, 0, part.length);
    return part;
  }
}
