package sparkslim.core.lowrank;

import sparkslim.core.SparkslimException;
import sparkslim.core.calib.InputStatistics;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.compress.LinearSolver;
import sparkslim.core.linalg.Blas;
import sparkslim.core.linalg.Lapack;

/**
 * Low-rank factorization of one linear behind the per-linear solver interface (docs/depth_quant.md §5), all in fp64
 * through LAPACK:
 * <ul>
 *   <li>SVD-LLM (Wang et al. 2024, §5 steps 1–5): G = Σ XᵀX, S = cholesky(G) lower (G shifted by (−λ_min + 1e-6)·I
 *       if it is not positive definite), W·S = U·Σ·Vᵀ, W_u = U_k·Σ_k^½ (m, k), W_v = Σ_k^½·V_kᵀ·S⁻¹ (k, n). Because
 *       S⁻¹·Xᵀ has orthonormal rows, ‖(W − W_u·W_v)·Xᵀ‖²_F = Σ_{i&gt;k} σ_i² (§5 step 4): dropping the smallest σ is
 *       optimal for the layer's output error on the calibration tokens;</li>
 *   <li>SVD (the baseline): W = U·Σ·Vᵀ, W_u = U_k·Σ_k^½, W_v = Σ_k^½·V_kᵀ; the loss is ‖W − W′‖²_F.</li>
 * </ul>
 * The rank is k = ⌊ρ·m·n/(m + n)⌋ for the kept-parameter fraction ρ (§5 step 5), {@link #rank}.
 *
 * <p>Memory per solve (m, n = rows, cols; r = min(m, n)): G and S share the caller's (n, n) scratch; W·S (m, n),
 * U (m, r), Vᵀ (r, n) and dgesdd's workspace (about 4r² + 7r doubles) in fp64. LLaMA-7B down_proj (4096 × 11008):
 * 0.97 GB scratch + 0.36 + 0.13 + 0.36 + 0.54 GB ≈ 2.4 GB.
 */
public final class LowRankSolver implements LinearSolver {
  private static final long serialVersionUID = 1L;
  /** The shift above −λ_min when Σ XᵀX is not positive definite (§5 step 1). */
  public static final double GRAM_SHIFT_MARGIN = 1e-6;

  private final LowRankMethod method;
  private final double ratio;

  /** @param ratio the kept-parameter fraction ρ in (0, 1) */
  public LowRankSolver(LowRankMethod method, double ratio) {
    this.method = method;
    this.ratio = ratio;
  }

  public LowRankMethod method() {
    return method;
  }

  /** The kept-parameter fraction ρ. */
  public double ratio() {
    return ratio;
  }

  /** k = ⌊ρ·m·n/(m + n)⌋ (docs/depth_quant.md §5 step 5), at most min(m, n). */
  public static int rank(double ratio, int rows, int cols) {
    long k = (long) Math.floor(ratio * rows * (double) cols / (rows + cols));
    return (int) Math.min(k, Math.min(rows, cols));
  }

  @Override
  public boolean readsStatistics() {
    return method.readsStatistics();
  }

  /** The factors in fp64, before rounding to fp32, with the truncation loss and the shift G took (0 if none). */
  public record Factors(int rows, int cols, int rank, double[] u, double[] v, double truncationLoss, double gramShift) {}

  @Override
  public CompressedLinear.Factored solve(float[] w, int rows, int cols, InputStatistics stats, double[] scratch) {
    Factors f = factor(w, rows, cols, stats, scratch);
    return new CompressedLinear.Factored(rows, cols, f.rank(), Blas.toFloat(f.u()), Blas.toFloat(f.v()), f.truncationLoss(),
        f.gramShift() > 0 ? String.format("gram-shift %.3g", f.gramShift()) : null);
  }

  /**
   * The factorization in fp64.
   *
   * @param w (rows, cols) the dense weight, not modified
   * @param stats Σ XᵀX of the linear's inputs (SVD-LLM), or null (SVD)
   * @param scratch (cols, cols) or null: holds G, then S; left garbage
   */
  public Factors factor(float[] w, int rows, int cols, InputStatistics stats, double[] scratch) {
    int k = rank(ratio, rows, cols);
    if (k < 1) {
      throw new SparkslimException("Cannot factor a (" + rows + ", " + cols + ") linear at lowrank.ratio " + ratio + ": the rank "
          + "⌊ρ·m·n/(m + n)⌋ is 0");
    }
    double[] a = new double[rows * cols]; // (rows, cols): W, then W·S
    for (int i = 0; i < a.length; i++) {
      a[i] = w[i];
    }
    double[] s = null; // (cols, cols) lower Cholesky factor of G (SVD-LLM)
    double shift = 0;
    if (method == LowRankMethod.SVD_LLM) {
      if (stats == null || stats.inFeatures() != cols) {
        throw new IllegalArgumentException("SVD-LLM needs Σ XᵀX of the linear's " + cols + " inputs");
      }
      s = stats.gramInto(scratch != null && scratch.length == cols * cols ? scratch : new double[cols * cols]); // G, §5 step 1
      if (Lapack.choleskyLower(s, cols) != 0) { // not positive definite: shift by (−λ_min + 1e-6)·I, §5 step 1
        // −λ_min + 1e-6 as the reference; λ_min ≥ 0 (a rounding failure) shifts by the margin only, never down
        shift = Math.max(-Lapack.smallestEigenvalue(stats.gramInto(s), cols), 0) + GRAM_SHIFT_MARGIN;
        stats.gramInto(s); // G again (dsyevd destroyed it)
        for (int i = 0; i < cols; i++) {
          s[i * cols + i] += shift;
        }
        int info = Lapack.choleskyLower(s, cols);
        if (info != 0) {
          throw new IllegalStateException("Cholesky of Σ XᵀX + " + shift + "·I failed at column " + (info - 1));
        }
      }
      Lapack.multiplyByLowerRight(a, rows, cols, s); // W·S, §5 step 2
    }
    int r = Math.min(rows, cols);
    double[] u = new double[rows * r]; // (rows, r)
    double[] sigma = new double[r];
    double[] vt = new double[r * cols]; // (r, cols)
    int info = Lapack.svd(a, rows, cols, u, sigma, vt);
    if (info != 0) {
      throw new IllegalStateException("LAPACK dgesdd failed with info " + info + " on a (" + rows + ", " + cols + ") matrix");
    }
    double loss = 0;
    for (int i = r - 1; i >= k; i--) { // smallest first: Σ_{i>k} σ_i², §5 step 4
      loss += sigma[i] * sigma[i];
    }
    double[] wu = new double[rows * k]; // (rows, k) U_k·Σ_k^½
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < k; j++) {
        wu[i * k + j] = u[i * r + j] * Math.sqrt(sigma[j]);
      }
    }
    double[] wv = new double[k * cols]; // (k, cols) Σ_k^½·V_kᵀ, then ·S⁻¹ (SVD-LLM), §5 step 3
    for (int j = 0; j < k; j++) {
      double root = Math.sqrt(sigma[j]);
      for (int c = 0; c < cols; c++) {
        wv[j * cols + c] = root * vt[j * cols + c];
      }
    }
    if (s != null) {
      Lapack.solveByLowerRight(wv, k, cols, s);
    }
    return new Factors(rows, cols, k, wu, wv, loss, shift);
  }
}
