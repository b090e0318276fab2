package sparkslim.core.prune;

import java.io.Serializable;
import sparkslim.core.calib.HessianAccumulator;
import sparkslim.core.calib.InputStatistics;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.compress.LinearSolver;

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
  public CompressedLinear prune(float[] w, int rows, int cols, InputStatistics stats) {
    return prune(w, rows, cols, stats, null);
  }

  /**
   * As {@link #prune(float[], int, int, InputStatistics)}; {@code scratch} (cols, cols), if not null, is used for the
   * Hessian and its contents are lost (SparseGPT factors it in place): the caller reuses it afterwards, e.g. for
   * {@link InputStatistics#gramInto}, so a solve holds one full cols×cols matrix.
   */
  public CompressedLinear prune(float[] w, int rows, int cols, InputStatistics stats, double[] scratch) {
    return solver().solve(w, rows, cols, stats, scratch);
  }

  /**
   * The per-linear solver of {@code pruning.method}. SparseLLM prunes attention with SparseGPT (docs/sparsellm.md §1.1
   * step 3.2); its FFNs go through the block-level SparseLlmSolver.
   */
  public LinearSolver solver() {
    return switch (method) {
      case MAGNITUDE -> new MagnitudeSolver(sparsity, maskStructure);
      case WANDA -> new WandaSolver(sparsity, maskStructure);
      case SPARSEGPT, SPARSELLM -> sparseGpt();
    };
  }

  /** As {@link #prune(float[], int, int, InputStatistics)} from a single-JVM accumulator. */
  public CompressedLinear prune(float[] w, int rows, int cols, HessianAccumulator stats) {
    return prune(w, rows, cols, stats.statistics());
  }

  /** Rows of ΔW per BLAS call in {@link #reconstructionLoss}: bounds the fp64 scratch to about 32 MB. */
  private static final int LOSS_SCRATCH_ENTRIES = 1 << 22;

  /**
   * ‖(W − Ŵ)Xᵀ‖²_F / numTokens = tr(ΔW·ΣXᵀX·ΔWᵀ) / numTokens, in fp64: ΔW·ΣXᵀX by dgemm in row chunks, then the
   * row-wise dot products with ΔW.
   */
  public static double reconstructionLoss(float[] before, float[] after, int rows, int cols, InputStatistics stats) {
    return reconstructionLoss(before, after, rows, cols, stats, stats.gram());
  }

  /** As {@link #reconstructionLoss(float[], float[], int, int, InputStatistics)} with Σ XᵀX given full: {@code gram} (cols, cols). */
  public static double reconstructionLoss(float[] before, float[] after, int rows, int cols, InputStatistics stats, double[] gram) {
    int chunk = Math.max(1, Math.min(rows, LOSS_SCRATCH_ENTRIES / cols));
    double[] delta = new double[chunk * cols]; // (chunk, cols)
    double[] product = new double[chunk * cols]; // (chunk, cols) = delta·ΣXᵀX
    double total = 0;
    for (int r0 = 0; r0 < rows; r0 += chunk) {
      int m = Math.min(chunk, rows - r0);
      boolean any = false;
      for (int i = 0; i < m * cols; i++) {
        delta[i] = (double) before[r0 * cols + i] - after[r0 * cols + i];
        any |= delta[i] != 0;
      }
      if (!any) {
        continue;
      }
      org.bytedeco.openblas.global.openblas.cblas_dgemm(org.bytedeco.openblas.global.openblas.CblasRowMajor,
          org.bytedeco.openblas.global.openblas.CblasNoTrans, org.bytedeco.openblas.global.openblas.CblasNoTrans, m, cols, cols, 1.0,
          delta, cols, gram, cols, 0.0, product, cols);
      for (int i = 0; i < m * cols; i++) {
        total += delta[i] * product[i];
      }
    }
    return total / Math.max(1, stats.numTokens());
  }

  public static double reconstructionLoss(float[] before, float[] after, int rows, int cols, HessianAccumulator stats) {
    return reconstructionLoss(before, after, rows, cols, stats.statistics());
  }
}
