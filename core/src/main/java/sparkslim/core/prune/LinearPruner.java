package sparkslim.core.prune;

import java.io.Serializable;
import sparkslim.core.calib.HessianAccumulator;

/**
 * Prunes one linear layer with the configured method, from its weight and the statistics of its input, and measures
 * the reconstruction loss ‖(W − Ŵ)Xᵀ‖²_F / numTokens from the same statistics (tr(ΔW·ΣXᵀX·ΔWᵀ) / numTokens).
 */
public final class LinearPruner implements Serializable {
  private static final long serialVersionUID = 1L;
  private final PruningMethod method;
  private final double sparsity;
  private final MaskStructure maskStructure;
  private final int blockSize;
  private final double dampeningFraction;
  private final boolean zeroDeadColumns;

  public LinearPruner(PruningMethod method, double sparsity, MaskStructure maskStructure, int blockSize, double dampeningFraction,
                      boolean zeroDeadColumns) {
    this.method = method;
    this.sparsity = sparsity;
    this.maskStructure = maskStructure;
    this.blockSize = blockSize;
    this.dampeningFraction = dampeningFraction;
    this.zeroDeadColumns = zeroDeadColumns;
  }

  /** The SparseGPT solver with this pruner's settings (SparseLLM's per-linear pruning step). */
  public SparseGptSolver sparseGpt() {
    return new SparseGptSolver(sparsity, maskStructure, blockSize, dampeningFraction, zeroDeadColumns);
  }

  public PruningMethod method() {
    return method;
  }

  /** w: (rows, cols) row-major HuggingFace weight; stats: statistics of the layer's input (cols wide). */
  public PruneResult prune(float[] w, int rows, int cols, HessianAccumulator stats) {
    switch (method) {
      case MAGNITUDE:
        return new MagnitudeSolver(sparsity, maskStructure).solve(w, rows, cols);
      case WANDA:
        return new WandaSolver(sparsity, maskStructure).solve(w, rows, cols, columnNorms(stats));
      case SPARSEGPT:
      case SPARSELLM: // SparseLLM prunes attention with SparseGPT (docs/sparsellm.md §1.1 step 3.2); its FFNs go through SparseLlmSolver
        return new SparseGptSolver(sparsity, maskStructure, blockSize, dampeningFraction, zeroDeadColumns).solve(w, rows, cols, stats.finish());
      default:
        throw new IllegalStateException(method.name());
    }
  }

  /** Wanda's ‖X_c‖₂ per input column: the square root of the diagonal of ΣXᵀX (over all calibration tokens). */
  static double[] columnNorms(HessianAccumulator stats) {
    int n = stats.inFeatures();
    double[] sum = stats.sum();
    double[] norms = new double[n];
    for (int c = 0; c < n; c++) {
      norms[c] = Math.sqrt(sum[c * n + c]);
    }
    return norms;
  }

  /** ‖(W − Ŵ)Xᵀ‖²_F / numTokens = tr(ΔW·ΣXᵀX·ΔWᵀ) / numTokens, in fp64. */
  public static double reconstructionLoss(float[] before, float[] after, int rows, int cols, HessianAccumulator stats) {
    double[] sum = stats.sum();
    double total = 0;
    double[] delta = new double[cols];
    for (int r = 0; r < rows; r++) {
      boolean any = false;
      for (int c = 0; c < cols; c++) {
        delta[c] = (double) before[r * cols + c] - after[r * cols + c];
        any |= delta[c] != 0;
      }
      if (!any) {
        continue;
      }
      for (int i = 0; i < cols; i++) {
        if (delta[i] == 0) {
          continue;
        }
        double acc = 0;
        int base = i * cols;
        for (int j = 0; j < cols; j++) {
          acc += sum[base + j] * delta[j];
        }
        total += delta[i] * acc;
      }
    }
    return total / Math.max(1, stats.numTokens());
  }
}
