package sparkslim.core.compress;

import org.bytedeco.javacpp.FloatPointer;
import sparkslim.core.SparkslimException;
import sparkslim.core.linalg.Blas;
import sparkslim.core.linalg.Lapack;
import sparkslim.core.linalg.Ridge;

/**
 * The column sweep that SparseGPT and GPTQ share (SparseGPT Algorithm 1; GPTQ Algorithm 1, docs/depth_quant.md §2.4):
 * the damped inverse Hessian's upper Cholesky factor U (H⁻¹ = Uᵀ·U), then blocks [i1, i2) of columns, each walked
 * column by column with the OBS update W1[:, i:] −= err·U1[i, i:], err = (w − q)/U[i, i], and closed by the lazy
 * batch update W[:, i2:] −= Err1·U[i1:i2, i2:]. What a column's weights become (pruned to 0, quantized, or both) is
 * the {@link ColumnRule} of the method. The loss is the references' Σ (w − q)²/d²/2.
 */
public final class ObsSweep {
  private ObsSweep() {}

  /** What a method does with the columns of the sweep. */
  public interface ColumnRule {
    /**
     * The start of block [i1, i1 + count): W1 = W[:, i1:i1+count] (rows, count) after the lazy updates of the earlier
     * blocks, d1 = diag(U1). {@code w} is the whole W (rows, cols) off-heap: its columns of this block stay as W1
     * starts until the block ends, and the columns right of it have the earlier blocks' lazy updates (what GPTQ's
     * reference reads a group's range from).
     */
    default void beginBlock(float[] w1, float[] d1, int rows, int count, int i1, FloatPointer w, int cols) {}

    /** Column i of the block, before its rows are replaced; W1 holds the intra-block updates so far. */
    default void beginColumn(float[] w1, float[] d1, int rows, int count, int i1, int i) {}

    /** The value that replaces W1[r, i] = x (its pruned or quantized value). */
    float target(int r, int i1, int i, float x);
  }

  /** A rule that prunes: it tells which entries of the current block it sets to 0 (SparseGPT's mask). */
  public interface MaskingRule extends ColumnRule {
    /** True if W1[r, i] of the current block is pruned (valid once {@link #beginColumn} ran for column i). */
    boolean pruned(int r, int i);

    /**
     * Prunes the kept W1[r, i], whose value became 0 anyway (a quantized weight on its zero point), in place of a
     * pruned weight of a later column of the block, which is kept instead; so the number of zeros stays the mask's.
     * False, and nothing changes, if the rule has no such weight to give back.
     */
    default boolean swapForLater(int r, int i) {
      return false;
    }
  }

  /**
   * Step 1 of 2 towards U (cols, cols) with H⁻¹ = Uᵀ·U: dead inputs (H[d, d] = 0) get H[d, d] = 1 (and, with
   * {@code zeroDeadColumns}, W[:, d] = 0), then H += dampeningFraction·mean(diag H)·I, returned as P·H'·P in fp32 (P
   * the reversal permutation), the form {@link #factor} factors. With {@code perm}, H' = H[perm][:, perm] (GPTQ's
   * act-order; the caller permutes the columns of W), else H' = H. The caller then drops its references to
   * {@code hessian} before {@link #factor}, so the fp64 matrix is not held through the factorisation.
   *
   * @param hessian (cols, cols), damped in place
   * @param w (rows, cols), modified when {@code zeroDeadColumns}
   */
  public static float[] dampedReversed(double[] hessian, float[] w, int rows, int cols, double dampeningFraction, boolean zeroDeadColumns,
      int[] perm) {
    double[] h = hessian;
    for (int d = 0; d < cols; d++) {
      if (h[d * cols + d] == 0) { // dead input: never active in calibration
        h[d * cols + d] = 1;
        for (int r = 0; zeroDeadColumns && r < rows; r++) {
          w[r * cols + d] = 0f;
        }
      }
    }
    Ridge.addFractionOfMeanDiagonal(h, cols, dampeningFraction);
    return reversedFp32(h, cols, perm);
  }

  /**
   * Runs the sweep on {@code w} (rows, cols) in place: afterwards it holds the targets of every column.
   *
   * @param u (cols, cols) from {@link #factor}
   * @return Σ (w − q)²/d²/2 over all entries
   */
  public static double sweep(float[] w, float[] u, int rows, int cols, int blockSize, ColumnRule rule) {
    double loss = 0;
    // W and U off-heap: the lazy batch update runs sgemm in place on strided sub-matrices, with no copies
    try (FloatPointer wNative = new FloatPointer(w); FloatPointer uNative = new FloatPointer(u)) {
      for (int i1 = 0; i1 < cols; i1 += blockSize) {
        int i2 = Math.min(i1 + blockSize, cols);
        loss += block(wNative, u, uNative, rows, cols, i1, i2, rule);
      }
      wNative.position(0).get(w);
    }
    return loss;
  }

  private static double block(FloatPointer w, float[] u, FloatPointer uNative, int rows, int cols, int i1, int i2, ColumnRule rule) {
    int count = i2 - i1;
    float[] w1 = new float[rows * count]; // (rows, count), W[:, i1:i2], updated in place into Q1
    float[] err1 = new float[rows * count]; // (rows, count)
    float[] d1 = new float[count]; // (count), diag(U1)
    for (int r = 0; r < rows; r++) {
      w.position((long) r * cols + i1).get(w1, r * count, count);
    }
    for (int i = 0; i < count; i++) {
      d1[i] = u[(i1 + i) * cols + i1 + i];
    }
    rule.beginBlock(w1, d1, rows, count, i1, w, cols);
    double loss = 0;
    for (int i = 0; i < count; i++) {
      rule.beginColumn(w1, d1, rows, count, i1, i);
      float d = d1[i];
      int uRow = (i1 + i) * cols + i1; // U1[i, 0] = U[i1 + i, i1]
      for (int r = 0; r < rows; r++) {
        int k = r * count + i;
        float x = w1[k];
        float q = rule.target(r, i1, i, x);
        // OBS update (SparseGPT Section 3, Algorithm 1): err = (w − q)/[U]_ii, W1[r, i:] −= err·U1[i, i:]
        float err = (x - q) / d;
        loss += (double) ((x - q) * (x - q) / (d * d)) / 2;
        for (int j = i + 1; j < count; j++) {
          w1[r * count + j] -= err * u[uRow + j];
        }
        w1[k] = q;
        err1[k] = err;
      }
    }
    for (int r = 0; r < rows; r++) {
      w.position((long) r * cols + i1).put(w1, r * count, count);
    }
    int rest = cols - i2;
    if (rest > 0) { // lazy batch update W[:, i2:] −= Err1·U[i1:i2, i2:]
      Blas.addProductInPlace(w, i2, cols, -1f, err1, rows, count, uNative, (long) i1 * cols + i2, cols, rest);
    }
    return loss;
  }

  /** P·H'·P in fp32 (P the reversal permutation, H' = H[perm][:, perm] or H), as the references factor it. */
  private static float[] reversedFp32(double[] h, int n, int[] perm) {
    float[] a = new float[n * n]; // (n, n)
    for (int i = 0; i < n; i++) {
      if (perm == null) {
        int src = (n - 1 - i) * n + (n - 1);
        for (int j = 0; j < n; j++) {
          a[i * n + j] = (float) h[src - j];
        }
      } else {
        int row = perm[n - 1 - i] * n;
        for (int j = 0; j < n; j++) {
          a[i * n + j] = (float) h[row + perm[n - 1 - j]];
        }
      }
    }
    return a;
  }

  /**
   * U with H⁻¹ = Uᵀ·U (the references compute it as {@code cholesky → cholesky_inverse → cholesky(upper=True)}).
   * With P the reversal permutation and P·H·P = L̃·L̃ᵀ, U = P·L̃⁻¹·P is upper triangular with a positive diagonal
   * and Uᵀ·U = P·(P·H·P)⁻¹·P = H⁻¹, so by uniqueness it is the same factor, for one Cholesky and one triangular
   * inverse (2n³/3 flops) instead of two Choleskys and an inverse (4n³/3). Step 2 of 2: computed in {@code a} (from
   * {@link #dampedReversed}), which is returned. fp32 LAPACK, as the references (the Hessian itself is summed exactly in
   * fp64); fp32 halves the solve time of a 4096×11008 layer against fp64 (bench-sparsegpt).
   *
   * @param dampingKey the config key named if the factorisation fails, with {@code samplesKey}
   */
  public static float[] factor(float[] a, int n, double dampeningFraction, String dampingKey, String samplesKey) {
    int info = Lapack.choleskyLower(a, n); // a = L̃
    if (info > 0) { // the leading minor of order info is not positive definite: column info − 1, 0-based
      throw new SparkslimException("Cannot invert Hessian (Cholesky failed at column " + (info - 1) + "). Increase '"
          + dampingKey + "' (now " + dampeningFraction + ") or '" + samplesKey + "'");
    }
    if (info < 0) {
      throw new IllegalStateException("LAPACK dpotrf rejected argument " + (-info));
    }
    info = Lapack.invertLowerTriangular(a, n); // a = L̃⁻¹
    if (info != 0) {
      throw new IllegalStateException("LAPACK strtri failed with info " + info + " on a " + n + "×" + n + " Cholesky factor");
    }
    // U = P·L̃⁻¹·P, upper triangular: u[i·n + j] = a[(n−1−i)·n + (n−1−j)] = a[n² − 1 − (i·n + j)], i.e. the array
    // reversed, done in place (no second n×n array); then its lower triangle, LAPACK's untouched input, is zeroed
    for (int lo = 0, hi = n * n - 1; lo < hi; lo++, hi--) {
      float t = a[lo];
      a[lo] = a[hi];
      a[hi] = t;
    }
    for (int i = 1; i < n; i++) {
      java.util.Arrays.fill(a, i * n, i * n + i, 0f);
    }
    return a; // (n, n), U
  }
}
