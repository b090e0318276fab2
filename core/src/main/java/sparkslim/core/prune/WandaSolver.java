package sparkslim.core.prune;

import java.util.Arrays;
import java.util.BitSet;
import sparkslim.core.calib.InputStatistics;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.compress.LinearSolver;

/**
 * Wanda (Sun et al. 2023, "A Simple and Effective Pruning Approach for Large Language Models", arXiv 2306.11695,
 * locuslab {@code prune_wanda} with {@code use_variant} off): the metric M_rc = |W_rc|·‖X_c‖ (eq. 1 of the paper)
 * is ranked within each output row; a stable ascending sort prunes the first ⌊cols·s⌋ entries of every row, so the
 * sparsity is exact per row. There is no weight update; {@link CompressedLinear#loss()} is NaN.
 *
 * <p>N:M: in every row, in each group of M consecutive input columns, the N entries with the smallest metric are
 * pruned (ties: lowest column first). The sparsity is ignored.
 *
 * <p>The metric is computed in fp32, as in the reference ({@code torch.abs(W) * torch.sqrt(scaler_row)}), from
 * the norms of {@link LinearPruner#columnNorms} (the square root of the diagonal of ΣXᵀX).
 */
public final class WandaSolver implements LinearSolver {
  private static final long serialVersionUID = 1L;
  private static final int COLUMN_BITS = 32;
  private static final long COLUMN_MASK = 0xFFFF_FFFFL;

  private final double sparsity;
  private final MaskStructure maskStructure;

  /**
   * @param sparsity target fraction of pruned weights per row, in [0, 1); ignored for N:M
   * @param maskStructure {@link MaskStructure#UNSTRUCTURED} or N:M
   */
  public WandaSolver(double sparsity, MaskStructure maskStructure) {
    Masks.checkSparsity("WandaSolver", sparsity);
    this.sparsity = sparsity;
    this.maskStructure = maskStructure;
  }

  /** {@link #solve(float[], int, int, double[])} with ‖X_c‖₂ = √(Σ XᵀX)[c, c] over all calibration tokens. */
  @Override
  public CompressedLinear.Masked solve(float[] w, int rows, int cols, InputStatistics stats, double[] scratch) {
    return solve(w, rows, cols, columnNorms(stats));
  }

  /** Wanda's ‖X_c‖₂ per input column: the square root of the diagonal of ΣXᵀX (over all calibration tokens). */
  static double[] columnNorms(InputStatistics stats) {
    int n = stats.inFeatures();
    double[] norms = new double[n];
    for (int c = 0; c < n; c++) {
      norms[c] = Math.sqrt(stats.diagonal(c));
    }
    return norms;
  }

  /**
   * Prunes a copy of {@code w}; the inputs are not modified.
   *
   * @param w (rows, cols) row-major weights, rows = outFeatures, cols = inFeatures
   * @param columnNorms (cols) input norms ‖X_c‖ (any positive common factor gives the same mask)
   */
  public CompressedLinear.Masked solve(float[] w, int rows, int cols, double[] columnNorms) {
    Masks.checkWeights(w, rows, cols, maskStructure);
    if (columnNorms.length != cols) {
      throw new IllegalArgumentException("Cannot prune with Wanda: weights have " + cols + " input columns but the column norms have "
          + columnNorms.length + " entries");
    }
    float[] metric = new float[w.length]; // (rows, cols), |W_rc|·‖X_c‖ in fp32
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        metric[r * cols + c] = Math.abs(w[r * cols + c]) * (float) columnNorms[c];
      }
    }
    BitSet mask = new BitSet(w.length);
    if (!maskStructure.isUnstructured()) {
      Masks.markSmallestPerGroup(metric, rows, cols, maskStructure, mask);
    } else {
      int prunedPerRow = (int) ((double) cols * sparsity); // Python's int(W_metric.shape[1] * sparsity_ratio)
      if (prunedPerRow > 0) {
        markSmallestPerRow(metric, rows, cols, prunedPerRow, mask);
      }
    }
    float[] pruned = w.clone();
    Masks.zeroMasked(pruned, mask);
    return CompressedLinear.Masked.of(pruned, mask, Double.NaN);
  }

  /**
   * Marks the first {@code count} entries of each row in a stable ascending sort by metric. The metric is
   * non-negative, so its IEEE bits order like its values; the key (bits, column) sorts ties by column, i.e. stably.
   */
  private static void markSmallestPerRow(float[] metric, int rows, int cols, int count, BitSet mask) {
    long[] keys = new long[cols]; // (cols), (metric bits << 32) | column
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        keys[c] = ((long) Float.floatToIntBits(metric[r * cols + c]) << COLUMN_BITS) | c;
      }
      Arrays.sort(keys);
      for (int k = 0; k < count; k++) {
        mask.set(r * cols + (int) (keys[k] & COLUMN_MASK));
      }
    }
  }

  public double sparsity() {
    return sparsity;
  }

  public MaskStructure maskStructure() {
    return maskStructure;
  }
}
