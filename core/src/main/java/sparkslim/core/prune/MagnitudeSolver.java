package sparkslim.core.prune;

import java.util.Arrays;
import java.util.BitSet;
import sparkslim.core.calib.InputStatistics;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.compress.LinearSolver;

/**
 * Magnitude pruning, the SparseGPT repository's {@code --gmp} baseline (identical in SparseLLM): per weight matrix,
 * thr = sort(|W|.flatten())[⌊numel·s⌋] and every weight with |W| ≤ thr is pruned, ties included, so at least
 * ⌊numel·s⌋ + 1 entries go. The sparsity is uniform per matrix, not per row.
 *
 * <p>Deviation: at s = 0 nothing is pruned (the reference rule would still prune the smallest entry and its ties).
 *
 * <p>N:M (Wanda's {@code prune_magnitude}; the SparseGPT repository has none): in every row, in each group of M
 * consecutive input columns, the N smallest |W| are pruned (ties: lowest column first). The sparsity is ignored.
 *
 * <p>No calibration data, no weight update; {@link CompressedLinear#loss()} is NaN.
 */
public final class MagnitudeSolver implements LinearSolver {
  private static final long serialVersionUID = 1L;
  private final double sparsity;
  private final MaskStructure maskStructure;

  /**
   * @param sparsity target fraction of pruned weights, in [0, 1); ignored for N:M
   * @param maskStructure {@link MaskStructure#UNSTRUCTURED} or N:M
   */
  public MagnitudeSolver(double sparsity, MaskStructure maskStructure) {
    Masks.checkSparsity("MagnitudeSolver", sparsity);
    this.sparsity = sparsity;
    this.maskStructure = maskStructure;
  }

  /** {@link #solve(float[], int, int)}: magnitude pruning reads no statistics. */
  @Override
  public CompressedLinear.Masked solve(float[] w, int rows, int cols, InputStatistics stats, double[] scratch) {
    return solve(w, rows, cols);
  }

  /**
   * Prunes a copy of {@code w}; the input is not modified.
   *
   * @param w (rows, cols) row-major weights, rows = outFeatures, cols = inFeatures
   */
  public CompressedLinear.Masked solve(float[] w, int rows, int cols) {
    Masks.checkWeights(w, rows, cols, maskStructure);
    float[] magnitude = new float[w.length]; // (rows, cols), |W|
    for (int i = 0; i < w.length; i++) {
      magnitude[i] = Math.abs(w[i]);
    }
    BitSet mask = new BitSet(w.length);
    if (!maskStructure.isUnstructured()) {
      Masks.markSmallestPerGroup(magnitude, rows, cols, maskStructure, mask);
    } else if (sparsity > 0) {
      float[] sorted = magnitude.clone();
      Arrays.sort(sorted);
      // Python's int(W.numel() * sparsity): the product in double, truncated
      float thr = sorted[(int) ((double) w.length * sparsity)];
      for (int i = 0; i < magnitude.length; i++) {
        if (magnitude[i] <= thr) {
          mask.set(i);
        }
      }
    }
    float[] pruned = w.clone();
    Masks.zeroMasked(pruned, mask);
    return CompressedLinear.Masked.of(pruned, mask, Double.NaN);
  }

  public double sparsity() {
    return sparsity;
  }

  public MaskStructure maskStructure() {
    return maskStructure;
  }
}
