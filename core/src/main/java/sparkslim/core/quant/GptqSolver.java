package sparkslim.core.quant;

import java.util.Arrays;
import java.util.BitSet;
import org.bytedeco.javacpp.FloatPointer;
import sparkslim.core.calib.InputStatistics;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.compress.LinearSolver;
import sparkslim.core.compress.ObsSweep;
import sparkslim.core.io.DType;
import sparkslim.core.prune.SparseGptSolver;

/**
 * GPTQ (Frantar et al., ICLR 2023; the IST-DASLab {@code GPTQ.fasterquant}, docs/depth_quant.md §2.4), on the column
 * sweep it shares with SparseGPT ({@link ObsSweep}):
 * <ol>
 *   <li>Per channel or per tensor, the grid is computed once from the unmodified W.</li>
 *   <li>Dead inputs (diag(H) = 0): H[d, d] = 1 and W[:, d] = 0, as both references do.</li>
 *   <li>Static act-order: every group's grid from the (dead-zeroed) W in its own column order, then the columns are
 *       permuted by decreasing diag(H). Dynamic act-order: permuted first, groups formed in the permuted order.</li>
 *   <li>H += dampeningFraction·mean(diag H)·I; U with H⁻¹ = Uᵀ·U.</li>
 *   <li>Blocks of {@code blockSize} columns; without static groups, a group's grid is computed when the sweep reaches
 *       its first column, from W[:, j:j+g] as the whole W holds it then (the block's own columns as the block
 *       started), as the references read it. Each weight becomes its dequantized code, err = (w − q)/U[j, j] is fed
 *       forward (GPTQ Algorithm 1), and the lazy batch update closes each block.</li>
 * </ol>
 * The grids are computed in fp32 and their scales rounded to the scheme's storage dtype before any code is chosen,
 * and the error is taken against the dequantized weight ({@link QuantGrid#dequantize}), so the loss and the propagated
 * activations are those of the exported file. {@link CompressedLinear#loss()} is the
 * reference's Σ (w − q)²/d²/2.
 */
public final class GptqSolver implements LinearSolver {
  private static final long serialVersionUID = 1L;
  /** Config key of the dampening fraction, named in the Cholesky failure message. */
  public static final String DAMPENING_FRACTION_KEY = "quantization.dampening-fraction";
  /** Config key of the calibration sample count, suggested when the Hessian is singular. */
  public static final String NUM_SAMPLES_KEY = "calibration.num-samples";

  private final QuantScheme scheme;
  private final int blockSize;
  private final double dampeningFraction;
  private final ActOrder actOrder;
  private final SparseGptSolver pruner; // prunes in the same sweep, or null

  /**
   * @param blockSize columns per block of the lazy batch update, > 0 (the references: 128)
   * @param dampeningFraction finite, ≥ 0 (the references: 0.01)
   */
  public GptqSolver(QuantScheme scheme, int blockSize, double dampeningFraction, ActOrder actOrder) {
    this(scheme, blockSize, dampeningFraction, actOrder, null);
  }

  /**
   * Joint pruning and quantization in one column sweep (SparseGPT §4, "joint sparsification and quantization"; the
   * reference's {@code --wbits}): {@code pruner} chooses the mask on the error-compensated weights as SparseGPT does,
   * a pruned weight becomes its zero point's code (exactly 0), and every kept weight its dequantized code; the errors
   * of both are fed forward. Act-order must be off (the mask is chosen in column order), and the pruner's block size
   * and dampening are this solver's.
   */
  public GptqSolver(QuantScheme scheme, int blockSize, double dampeningFraction, ActOrder actOrder, SparseGptSolver pruner) {
    if (pruner != null && actOrder != ActOrder.OFF) {
      throw new IllegalArgumentException("GPTQ with pruning in the same sweep needs act-order off, found " + actOrder.configName());
    }
    if (blockSize <= 0) {
      throw new IllegalArgumentException("GPTQ block size must be > 0, found " + blockSize);
    }
    if (!(dampeningFraction >= 0 && Double.isFinite(dampeningFraction))) {
      throw new IllegalArgumentException("GPTQ dampening fraction must be finite and ≥ 0, found " + dampeningFraction);
    }
    this.scheme = scheme;
    this.blockSize = blockSize;
    this.dampeningFraction = dampeningFraction;
    this.actOrder = actOrder;
    this.pruner = pruner;
  }

  /** {@link #solveConsumingHessian} with H = (2 / numSamples)·Σ XᵀX, built in {@code scratch} when given. */
  @Override
  public CompressedLinear.Quantized solve(float[] w, int rows, int cols, InputStatistics stats, double[] scratch) {
    return solveConsumingHessian(w, rows, cols, scratch == null ? stats.hessian() : stats.hessianInto(scratch));
  }

  /**
   * Quantizes a copy of {@code weights} (rows, cols); damps and factors {@code hessian} (cols, cols) in place.
   */
  public CompressedLinear.Quantized solveConsumingHessian(float[] weights, int rows, int cols, double[] hessian) {
    if (weights.length != (long) rows * cols || hessian.length != (long) cols * cols) {
      throw new IllegalArgumentException("GPTQ of a (" + rows + ", " + cols + ") linear: " + weights.length + " weights and "
          + hessian.length + " Hessian values");
    }
    int width = scheme.groupWidth(cols);
    int groups = cols / width;
    float[] w = weights.clone(); // (rows, cols)
    QuantGrid.Params[] grids = new QuantGrid.Params[rows * groups]; // (rows, groups): fixed in advance, or filled by the sweep
    if (scheme.strategy() != QuantStrategy.GROUP) {
      fixedGrids(w, rows, cols, width, grids);
    }
    for (int d = 0; d < cols; d++) {
      if (hessian[d * cols + d] == 0) {
        for (int r = 0; r < rows; r++) {
          w[r * cols + d] = 0f;
        }
      }
    }
    boolean staticGroups = scheme.strategy() == QuantStrategy.GROUP && actOrder == ActOrder.STATIC;
    if (staticGroups) {
      fixedGrids(w, rows, cols, width, grids);
    }
    int[] perm = actOrder == ActOrder.OFF ? null : decreasingDiagonal(hessian, cols);
    float[] wp = perm == null ? w : permuteColumns(w, rows, cols, perm); // (rows, cols) in sweep order
    w = null;
    float[] a = ObsSweep.dampedReversed(hessian, wp, rows, cols, dampeningFraction, false, perm);
    hessian = null; // the fp64 Hessian is no longer needed: let it go before the factorisation allocates U
    float[] u = ObsSweep.factor(a, cols, dampeningFraction, DAMPENING_FRACTION_KEY, NUM_SAMPLES_KEY); // (cols, cols)
    a = null;
    QuantRule rule = new QuantRule(rows, cols, width, perm, staticGroups || scheme.strategy() != QuantStrategy.GROUP, grids);
    BitSet mask = pruner == null ? null : new BitSet(rows * cols);
    double loss = ObsSweep.sweep(wp, u, rows, cols, blockSize, mask == null ? rule : new PruneThenQuantize(pruner.maskRule(cols, mask), rule));

    byte[] codes = new byte[rows * cols]; // (rows, cols) in the weight's own column order
    for (int r = 0; r < rows; r++) {
      for (int j = 0; j < cols; j++) {
        codes[r * cols + (perm == null ? j : perm[j])] = rule.codes[r * cols + j];
      }
    }
    float[] scales = new float[rows * groups];
    byte[] zeros = scheme.symmetric() ? null : new byte[rows * groups];
    for (int k = 0; k < grids.length; k++) {
      scales[k] = grids[k].scale();
      if (zeros != null) {
        zeros[k] = (byte) grids[k].zeroPoint();
      }
    }
    int[] gIdx = null;
    if (actOrder == ActOrder.DYNAMIC && scheme.strategy() == QuantStrategy.GROUP) {
      gIdx = new int[cols];
      for (int j = 0; j < cols; j++) {
        gIdx[perm[j]] = j / width; // groups in the order the sweep formed them
      }
    }
    return new CompressedLinear.Quantized(rows, cols, scheme.bits(), width, scheme.scaleDtype(), codes, scales, zeros, gIdx, mask, loss, null);
  }

  /** SparseGPT's mask first: a pruned weight becomes the code of 0 (its zero point), a kept one its quantized value. */
  private static final class PruneThenQuantize implements ObsSweep.ColumnRule {
    private final ObsSweep.MaskingRule mask;
    private final QuantRule quant;

    PruneThenQuantize(ObsSweep.MaskingRule mask, QuantRule quant) {
      this.mask = mask;
      this.quant = quant;
    }

    @Override
    public void beginBlock(float[] w1, float[] d1, int rows, int count, int i1, FloatPointer w, int cols) {
      mask.beginBlock(w1, d1, rows, count, i1, w, cols);
      quant.beginBlock(w1, d1, rows, count, i1, w, cols);
    }

    @Override
    public void beginColumn(float[] w1, float[] d1, int rows, int count, int i1, int i) {
      mask.beginColumn(w1, d1, rows, count, i1, i);
      quant.beginColumn(w1, d1, rows, count, i1, i);
    }

    @Override
    public float target(int r, int i1, int i, float x) {
      if (mask.pruned(r, i)) {
        mask.target(r, i1, i, x); // records the mask bit
        return quant.target(r, i1, i, 0f); // the zero point's code: dequantizes to exactly 0
      }
      return quant.target(r, i1, i, x);
    }
  }

  /** The grid of every (row, group) of {@code w} in its own column order (per tensor: one grid for all). */
  private void fixedGrids(float[] w, int rows, int cols, int width, QuantGrid.Params[] grids) {
    int groups = cols / width;
    if (scheme.strategy() == QuantStrategy.TENSOR) {
      Arrays.fill(grids, QuantGrid.params(w, 0, w.length, scheme, DType.F32));
      return;
    }
    for (int r = 0; r < rows; r++) {
      for (int g = 0; g < groups; g++) {
        grids[r * groups + g] = grid(w, r * cols + g * width, width);
      }
    }
  }

  private QuantGrid.Params grid(float[] x, int from, int n) {
    return QuantGrid.params(x, from, n, scheme, DType.F32);
  }

  /** argsort(diag(H), descending) with dead inputs counted as 1, ties in column order. */
  static int[] decreasingDiagonal(double[] h, int n) {
    Integer[] order = new Integer[n];
    double[] diag = new double[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
      diag[i] = h[i * n + i] == 0 ? 1 : h[i * n + i];
    }
    Arrays.sort(order, (x, y) -> Double.compare(diag[y], diag[x]));
    int[] perm = new int[n];
    for (int i = 0; i < n; i++) {
      perm[i] = order[i];
    }
    return perm;
  }

  private static float[] permuteColumns(float[] w, int rows, int cols, int[] perm) {
    float[] out = new float[w.length]; // (rows, cols)
    for (int r = 0; r < rows; r++) {
      for (int j = 0; j < cols; j++) {
        out[r * cols + j] = w[r * cols + perm[j]];
      }
    }
    return out;
  }

  /** Each weight becomes its dequantized code on its group's grid; the codes are kept in sweep order. */
  private final class QuantRule implements ObsSweep.ColumnRule {
    private final int cols;
    private final int width;
    private final int groups;
    private final int[] perm; // sweep position → column, or null
    private final boolean fixed;
    private final QuantGrid.Params[] grids; // (rows, groups)
    private final QuantGrid.Params[] current; // (rows): the grid of the column being swept, per row
    final byte[] codes; // (rows, cols) in sweep order
    private final float[] range;

    QuantRule(int rows, int cols, int width, int[] perm, boolean fixed, QuantGrid.Params[] grids) {
      this.cols = cols;
      this.width = width;
      this.groups = cols / width;
      this.perm = perm;
      this.fixed = fixed;
      this.grids = grids;
      this.current = new QuantGrid.Params[rows];
      this.codes = new byte[rows * cols];
      this.range = new float[width];
    }

    private FloatPointer whole;

    @Override
    public void beginBlock(float[] w1, float[] d1, int rows, int count, int i1, FloatPointer w, int cols) {
      this.whole = w;
    }

    @Override
    public void beginColumn(float[] w1, float[] d1, int rows, int count, int i1, int i) {
      int j = i1 + i; // sweep position
      if (fixed) {
        int g = (perm == null ? j : perm[j]) / width;
        for (int r = 0; r < rows; r++) {
          current[r] = grids[r * groups + g];
        }
      } else if (j % width == 0) { // a new group: its grid from W[:, j:j+width] as the whole W holds it now
        int g = j / width;
        for (int r = 0; r < rows; r++) {
          whole.position((long) r * cols + j).get(range, 0, width);
          current[r] = grid(range, 0, width);
          grids[r * groups + g] = current[r];
        }
      }
    }

    @Override
    public float target(int r, int i1, int i, float x) {
      QuantGrid.Params p = current[r];
      int code = QuantGrid.code(x, p, scheme, DType.F32);
      codes[r * cols + i1 + i] = (byte) code;
      return QuantGrid.dequantize(code, p.scale(), p.zeroPoint());
    }
  }

  public QuantScheme scheme() {
    return scheme;
  }

  public ActOrder actOrder() {
    return actOrder;
  }
}
