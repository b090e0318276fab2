package sparkslim.core.prune.sparsellm;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.function.Supplier;
import sparkslim.core.prune.PruneResult;
import sparkslim.core.prune.SparseGptSolver;

/**
 * The driver's half of one SparseLLM alternation on one FFN (Bai et al. 2024; docs/sparsellm.md §1.2 steps 1–3,
 * §1.3 steps 1–3), from the aggregated {@link FfnStatistics} of the executors' current variables:
 * <ol>
 *   <li>weight refit (iterations after the first): least squares of fc1/up/gate on (X → z, s) with the bias kept,
 *       and of fc2/down on (p → Y), from the sums alone ({@link WeightRefit});</li>
 *   <li>SparseGPT on each refit weight, fc1/up/gate with the Hessian of X and fc2/down with the Hessian of the
 *       current p. Each call damps its own copy of H: damping never compounds (the released code's §2.2 defect);</li>
 *   <li>safeguard (iterations after the first): each linear's weight term of L (α‖z − W1·X − b1‖², α‖s − W_gate·X‖²,
 *       β‖W2·p + b2 − Y‖²), evaluated exactly from the sums, is compared with the previous alternation's pruned weights;
 *       the new weights are kept only if the term does not increase. With the exact p and z minimisers and the
 *       monotone s-steps on the executors, L therefore never increases from one alternation to the next;</li>
 *   <li>M⁻¹ = (β·W2ᵀW2 + γI)⁻¹ for the executors' p-update.</li>
 * </ol>
 * With one iteration this is plain SparseGPT on the FFN linears (§1.2, last line).
 */
public final class SparseLlmSolver {
  private final SparseLlmOptions options;
  private final SparseGptSolver sparseGpt;

  public SparseLlmSolver(SparseLlmOptions options, SparseGptSolver sparseGpt) {
    this.options = options;
    this.sparseGpt = sparseGpt;
  }

  /** What happened to one linear in one alternation. */
  public record LinearStep(String linear, double previousTerm, double candidateTerm, boolean accepted, double solverLoss,
                           String fallback) {}

  /** The pruned FFN after an alternation, its masks, M⁻¹ for the executors and the per-linear record. */
  public record Step(int iteration, FfnWeights pruned, BitSet inMask, BitSet gateMask, BitSet outMask, float[] mInv,
                     List<LinearStep> linears) {
    @Override
    public String toString() {
      return "Step[iteration " + iteration + ", " + pruned + ", " + linears + "]";
    }
  }

  /**
   * One alternation.
   *
   * @param iteration 0-based; iteration 0 prunes the dense weights (no refit, no safeguard)
   * @param sums the statistics of the executors' variables after the previous alternation (the dense ones before the
   *     first)
   * @param dense the block's dense FFN (its biases stay fixed)
   * @param previous the previous alternation's step, or null for iteration 0
   */
  public Step step(int iteration, FfnStatistics.Sums sums, FfnWeights dense, Step previous) {
    FfnKind kind = dense.kind();
    int d = dense.hidden();
    int f = dense.ffn();
    float[] in = dense.in();
    float[] gate = dense.gate();
    float[] out = dense.out();
    if (iteration > 0) { // weight refit, doc §1.2 step 1 / §1.3 step 1 (least squares instead of pinv and GD)
      float[] fitted = WeightRefit.refit(sums.input(), kind == FfnKind.OPT_RELU ? dense.inBias() : null,
          WeightRefit.DEFAULT_RIDGE_FRACTION); // (f, d) or (2f, d) = [up; gate]
      in = kind == FfnKind.OPT_RELU ? fitted : WeightRefit.rows(fitted, d, 0, f);
      gate = kind == FfnKind.OPT_RELU ? null : WeightRefit.rows(fitted, d, f, 2 * f);
      out = WeightRefit.refit(sums.output(), dense.outBias(), WeightRefit.DEFAULT_RIDGE_FRACTION); // (d, f)
    }
    List<LinearStep> linears = new ArrayList<>();
    // (d, d) Hessian of X (constant), built per linear inside the prune: SparseGPT damps and factors it in place
    Pick inPick = prune(kind.inName(), in, f, d, sums.input()::hessian, sums.input(), dense.inBias(), 0, options.alpha(),
        previous == null ? null : previous.pruned().in(), previous == null ? null : previous.inMask(), linears);
    Pick gatePick = null;
    if (kind == FfnKind.LLAMA_SWIGLU) {
      gatePick = prune(kind.gateName(), gate, f, d, sums.input()::hessian, sums.input(), null, f, options.alpha(),
          previous == null ? null : previous.pruned().gate(), previous == null ? null : previous.gateMask(), linears);
    }
    // (f, f) Hessian of the current p, doc §1.2 step 2; built inside the prune, which consumes it
    Pick outPick = prune(kind.outName(), out, d, f, sums.output()::hessian, sums.output(), dense.outBias(), 0, options.beta(),
        previous == null ? null : previous.pruned().out(), previous == null ? null : previous.outMask(), linears);
    FfnWeights pruned = dense.withMatrices(inPick.weights, gatePick == null ? null : gatePick.weights, outPick.weights);
    float[] mInv = AuxiliaryUpdates.toFloat(AuxiliaryUpdates.pUpdateMatrixInverse(pruned.out(), d, f, options.beta(), options.gamma()));
    return new Step(iteration, pruned, inPick.mask, gatePick == null ? null : gatePick.mask, outPick.mask, mInv, linears);
  }

  private record Pick(float[] weights, BitSet mask) {}

  /**
   * SparseGPT on {@code w} (rows, cols) with the Hessian {@code hessian} builds, then the safeguard against {@code previous}: the
   * linear's weight term of L is rows [rowOffset, rowOffset + rows) of the fit in {@code sums}, times {@code weight}.
   */
  private Pick prune(String linear, float[] w, int rows, int cols, Supplier<double[]> hessian, LeastSquaresSums sums, float[] bias, int rowOffset,
                     double weight, float[] previous, BitSet previousMask, List<LinearStep> linears) {
    PruneResult r = sparseGpt.solveConsumingHessian(w, rows, cols, hessian.get()); // a fresh H per call: damping never compounds
    if (previous == null) {
      linears.add(new LinearStep(linear, Double.NaN, weight * sums.residual(r.weights(), bias, rowOffset, rowOffset + rows), true,
          r.loss(), r.fallback()));
      return new Pick(r.weights(), r.mask());
    }
    double previousTerm = weight * sums.residual(previous, bias, rowOffset, rowOffset + rows);
    double candidateTerm = weight * sums.residual(r.weights(), bias, rowOffset, rowOffset + rows);
    boolean accepted = candidateTerm <= previousTerm;
    linears.add(new LinearStep(linear, previousTerm, candidateTerm, accepted, r.loss(), r.fallback()));
    return accepted ? new Pick(r.weights(), r.mask()) : new Pick(previous, previousMask);
  }
}
