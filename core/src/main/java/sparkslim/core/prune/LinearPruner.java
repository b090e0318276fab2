package sparkslim.core.prune;

import java.io.Serializable;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas;
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

  /** Columns of ΣXᵀX converted to fp32 per BLAS call in {@link #reconstructionLoss}. */
  private static final int LOSS_COLUMN_BLOCK = 512;

  /**
   * ‖(W − Ŵ)Xᵀ‖²_F / numTokens = tr(ΔW·ΣXᵀX·ΔWᵀ) / numTokens: ΔW·ΣXᵀX by fp32 sgemm, one block of
   * {@link #LOSS_COLUMN_BLOCK} columns at a time (ΣXᵀX is symmetric, so a column block is a transposed row block,
   * converted to fp32 as it is used), and the products with ΔW summed in fp64. A reported measure, not an input to any
   * solve: fp32 products (relative error about 1e-6) at sgemm speed, where fp64 took longer than SparseGPT itself.
   */
  public static double reconstructionLoss(float[] before, float[] after, int rows, int cols, InputStatistics stats) {
    return reconstructionLoss(before, after, rows, cols, stats, stats.gram());
  }

  /** As {@link #reconstructionLoss(float[], float[], int, int, InputStatistics)} with Σ XᵀX given full: {@code gram} (cols, cols). */
  public static double reconstructionLoss(float[] before, float[] after, int rows, int cols, InputStatistics stats, double[] gram) {
    float[] delta = new float[rows * cols]; // (rows, cols), ΔW = W − Ŵ
    boolean any = false;
    for (int i = 0; i < delta.length; i++) {
      delta[i] = before[i] - after[i];
      any |= delta[i] != 0;
    }
    if (!any) {
      return 0;
    }
    int width = Math.min(LOSS_COLUMN_BLOCK, cols);
    float[] block = new float[width * cols]; // (width, cols), rows j0.. of ΣXᵀX = its columns j0.., transposed
    float[] product = new float[rows * width]; // (rows, width) = ΔW·ΣXᵀX[:, j0:j0+width]
    double total = 0;
    try (FloatPointer d = new FloatPointer(delta); // copied to native memory once
         FloatPointer blockNative = new FloatPointer((long) width * cols);
         FloatPointer productNative = new FloatPointer((long) rows * width)) {
      for (int j0 = 0; j0 < cols; j0 += width) {
        int n = Math.min(width, cols - j0);
        for (int j = 0; j < n * cols; j++) {
          block[j] = (float) gram[j0 * cols + j];
        }
        blockNative.put(block, 0, n * cols);
        openblas.cblas_sgemm(openblas.CblasRowMajor, openblas.CblasNoTrans, openblas.CblasTrans, rows, n, cols, 1f, d, cols, blockNative,
            cols, 0f, productNative, n);
        productNative.get(product, 0, rows * n);
        for (int r = 0; r < rows; r++) {
          for (int j = 0; j < n; j++) {
            total += (double) delta[r * cols + j0 + j] * product[r * n + j];
          }
        }
      }
    }
    return total / Math.max(1, stats.numTokens());
  }

  public static double reconstructionLoss(float[] before, float[] after, int rows, int cols, HessianAccumulator stats) {
    return reconstructionLoss(before, after, rows, cols, stats.statistics());
  }
}
