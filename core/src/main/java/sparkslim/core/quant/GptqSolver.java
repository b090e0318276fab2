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
  private final boolean keepZeros;

  /**
   * @param blockSize columns per block of the lazy batch update, > 0 (the references: 128)
   * @param dampeningFraction finite, ≥ 0 (the references: 0.01)
   */
  public GptqSolver(QuantScheme scheme, int blockSize, double dampeningFraction, ActOrder actOrder) {
    this(scheme, blockSize, dampeningFraction, actOrder, false);
  }

  /**
   * @param keepZeros the weights that are exactly 0 in the input stay 0, as pruned weights of the joint sweep do (their
   *     errors fed forward), so a pruned model keeps its mask; the other weights are quantized as usual
   */
  public GptqSolver(QuantScheme scheme, int blockSize, double dampeningFraction, ActOrder actOrder, boolean keepZeros) {
    this(scheme, blockSize, dampeningFraction, actOrder, null, keepZeros);
  }

  /**
   * Joint pruning and quantization in one column sweep (SparseGPT §4, "joint sparsification and quantization"; the
   * reference's {@code --wbits}): {@code pruner} chooses the mask on the error-compensated weights as SparseGPT does,
   * with exactly ⌊numel·s⌋ pruned weights in the linear, spread over the blocks by a ranking of the OBS scores as the
   * sweep starts ({@link SparseGptSolver#maskRule}, {@link SparseGptSolver#blockBudgets}); a pruned weight becomes its
   * zero point's code (exactly 0) and every kept weight a non-zero code ({@link PruneThenQuantize}), so the zeros of
   * the exported tensor are exactly the mask; the errors of both are fed forward. Dead inputs keep their weights unless
   * the pruner zeroes dead columns (SparseGPT's default, measured on OPT's dead {@code fc2} inputs). With act-order,
   * each block's mask is chosen among the block's columns in sweep order, and static act-order fixes the group grids
   * in advance from the whole W, the weights it will prune included; N:M masks need act-order off (a group of M is M
   * consecutive input columns). The pruner's block size and dampening are this solver's.
   */
  public GptqSolver(QuantScheme scheme, int blockSize, double dampeningFraction, ActOrder actOrder, SparseGptSolver pruner) {
    this(scheme, blockSize, dampeningFraction, actOrder, pruner, false);
  }

  private GptqSolver(QuantScheme scheme, int blockSize, double dampeningFraction, ActOrder actOrder, SparseGptSolver pruner, boolean keepZeros) {
    if (pruner != null && actOrder != ActOrder.OFF && !pruner.maskStructure().isUnstructured()) {
      throw new IllegalArgumentException("GPTQ with " + pruner.maskStructure() + " pruning in the same sweep needs act-order off"
          + " (its groups of M are consecutive input columns), found " + actOrder.configName());
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
    this.keepZeros = keepZeros;
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
    BitSet inputZeros = keepZeros ? zeros(weights) : null; // (rows, cols) in the weight's own column order
    boolean zeroDead = pruner == null || pruner.zeroDeadColumns();
    for (int d = 0; zeroDead && d < cols; d++) {
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
    ObsSweep.ColumnRule sweepRule = rule;
    if (mask != null) {
      sweepRule = new PruneThenQuantize(pruner.maskRule(wp, u, rows, cols, mask), rule, pruner.maskStructure().isUnstructured(), true);
    } else if (inputZeros != null) {
      sweepRule = new PruneThenQuantize(new KeptZeros(inputZeros, cols, perm), rule, true, false);
    }
    double loss = ObsSweep.sweep(wp, u, rows, cols, blockSize, sweepRule);
    if (mask != null && perm != null) { // the joint sweep recorded its mask in sweep order
      BitSet own = new BitSet(rows * cols); // (rows, cols) in the weight's own column order
      for (int e = mask.nextSetBit(0); e >= 0; e = mask.nextSetBit(e + 1)) {
        own.set(e / cols * cols + perm[e % cols]);
      }
      mask = own;
    }

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

  /**
   * SparseGPT's mask first: a pruned weight becomes the code of 0 (its zero point), a kept one its quantized value. A
   * kept weight whose code is the zero point takes the place of a pruned weight of a later column, which is kept
   * instead ({@link ObsSweep.MaskingRule#swapForLater}); where there is none (the last columns of a block) it takes the
   * nearest non-zero code. So the zeros of the result are exactly the mask, and each block prunes exactly its budget.
   */
  private static final class PruneThenQuantize implements ObsSweep.ColumnRule {
    private final ObsSweep.MaskingRule mask;
    private final QuantRule quant;
    private final boolean exactZeros;

    /**
     * @param maskKnownPerBlock the mask of a whole block is known when it begins: a group's range is then its kept weights'
     * @param exactZeros the zeros of the result are exactly the mask (kept weights never take the zero point's code)
     */
    PruneThenQuantize(ObsSweep.MaskingRule mask, QuantRule quant, boolean maskKnownPerBlock, boolean exactZeros) {
      this.mask = mask;
      this.quant = quant;
      this.exactZeros = exactZeros;
      if (maskKnownPerBlock) {
        quant.rangeOfKept = mask;
      }
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
      if (!exactZeros) {
        return quant.target(r, i1, i, x);
      }
      if (quant.isZero(r, x) && mask.swapForLater(r, i)) { // its value is 0 anyway: prune it, keep a later one instead
        mask.target(r, i1, i, x);
        return quant.target(r, i1, i, x);
      }
      return quant.keptTarget(r, i1, i, x);
    }
  }

  private static BitSet zeros(float[] w) {
    BitSet z = new BitSet(w.length);
    for (int k = 0; k < w.length; k++) {
      if (w[k] == 0f) {
        z.set(k);
      }
    }
    return z;
  }

  /** The input's zeros as a fixed mask ({@code quantization.keep-zeros}); it never gives a weight back. */
  private static final class KeptZeros implements ObsSweep.MaskingRule {
    private final BitSet zeros; // (rows, cols) in the weight's own column order
    private final int cols;
    private final int[] perm; // sweep position → column, or null
    private int blockStart; // the sweep position of the current block's first column

    KeptZeros(BitSet zeros, int cols, int[] perm) {
      this.zeros = zeros;
      this.cols = cols;
      this.perm = perm;
    }

    @Override
    public void beginBlock(float[] w1, float[] d1, int rows, int count, int i1, FloatPointer w, int cols) {
      blockStart = i1;
    }

    @Override
    public boolean pruned(int r, int i) {
      int j = blockStart + i;
      return zeros.get(r * cols + (perm == null ? j : perm[j]));
    }

    @Override
    public float target(int r, int i1, int i, float x) {
      return 0f;
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
    private final QuantGrid.Params[] byGroup; // (groups, rows): the fixed grids transposed, or null
    private int currentGroup = -1; // the group whose fixed grids {@link #current} holds
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
      // static act-order visits the groups in the permuted columns' order, a different group almost every column:
      // reading grids[r·groups + g] down the rows missed the cache once per weight (1–2 s of a 4096 × 11008 solve)
      this.byGroup = fixed ? new QuantGrid.Params[groups * rows] : null;
      for (int r = 0; fixed && r < rows; r++) {
        for (int g = 0; g < groups; g++) {
          byGroup[g * rows + r] = grids[r * groups + g];
        }
      }
    }

    private FloatPointer whole;
    /** With joint pruning and a mask chosen per block: a group's range is that of the weights the mask keeps. */
    ObsSweep.MaskingRule rangeOfKept;

    @Override
    public void beginBlock(float[] w1, float[] d1, int rows, int count, int i1, FloatPointer w, int cols) {
      this.whole = w;
    }

    @Override
    public void beginColumn(float[] w1, float[] d1, int rows, int count, int i1, int i) {
      int j = i1 + i; // sweep position
      if (fixed) {
        int g = (perm == null ? j : perm[j]) / width;
        if (g != currentGroup) {
          System.arraycopy(byGroup, g * rows, current, 0, rows);
          currentGroup = g;
        }
      } else if (j % width == 0) { // a new group: its grid from W[:, j:j+width] as the whole W holds it now
        int g = j / width;
        for (int r = 0; r < rows; r++) {
          whole.position((long) r * cols + j).get(range, 0, width);
          for (int k = 0; rangeOfKept != null && k < width && i + k < count; k++) {
            if (rangeOfKept.pruned(r, i + k)) {
              range[k] = 0f; // a pruned weight needs no range: 0 is on every grid
            }
          }
          current[r] = grid(range, 0, width);
          grids[r * groups + g] = current[r];
        }
      }
    }

    @Override
    public float target(int r, int i1, int i, float x) {
      QuantGrid.Params p = current[r];
      return set(r, i1 + i, p, QuantGrid.code(x, p, scheme, DType.F32));
    }

    /** True if {@code x} in row r of the current column quantizes to the zero point (value 0). */
    boolean isZero(int r, float x) {
      return QuantGrid.code(x, current[r], scheme, DType.F32) == current[r].zeroPoint();
    }

    /** A weight that must stay non-zero: its nearest code other than the zero point ({@link QuantGrid#nonZeroCode}). */
    float keptTarget(int r, int i1, int i, float x) {
      QuantGrid.Params p = current[r];
      return set(r, i1 + i, p, QuantGrid.nonZeroCode(x, p, scheme, DType.F32));
    }

    private float set(int r, int j, QuantGrid.Params p, int code) {
      codes[r * cols + j] = (byte) code;
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
