package sparkslim.core.prune.sparsellm;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.function.Supplier;
import sparkslim.core.compress.CompressedLinear;
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
public final class SparseLlmSolver implements java.io.Serializable {
  private static final long serialVersionUID = 1L;
  private final SparseLlmOptions options;
  private final SparseGptSolver sparseGpt;

  public SparseLlmSolver(SparseLlmOptions options, SparseGptSolver sparseGpt) {
    this.options = options;
    this.sparseGpt = sparseGpt;
  }

  /** What happened to one linear in one alternation. */
  public record LinearStep(String linear, double previousTerm, double candidateTerm, boolean accepted, double solverLoss,
                           String fallback) implements java.io.Serializable {}

  /**
   * The weights an alternation chose for one linear (the new ones, or the previous ones when the safeguard rejected
   * the new), their pruning mask, and the record of the choice.
   *
   * @param weights (outFeatures, inFeatures) fp32
   */
  public record Chosen(float[] weights, BitSet mask, LinearStep step) {}

  /** The pruned FFN after an alternation, its masks, M⁻¹ for the executors and the per-linear record. */
  public record Step(int iteration, FfnWeights pruned, BitSet inMask, BitSet gateMask, BitSet outMask, float[] mInv,
                     List<LinearStep> linears) {
    @Override
    public String toString() {
      return "Step[iteration " + iteration + ", " + pruned + ", " + linears + "]";
    }
  }

  /**
   * One alternation in one JVM: {@link #inputLinears} and {@link #outputLinear}, then M⁻¹. On Spark the two halves
   * run as separate tasks where their statistics meet (jobs' {@code FfnAlternation}); the results are the same bits.
   *
   * @param iteration 0-based; iteration 0 prunes the dense weights (no refit, no safeguard)
   * @param sums the statistics of the executors' variables after the previous alternation (the dense ones before the
   *     first)
   * @param dense the block's dense FFN (its biases stay fixed)
   * @param previous the previous alternation's step, or null for iteration 0
   */
  public Step step(int iteration, FfnStatistics.Sums sums, FfnWeights dense, Step previous) {
    FfnKind kind = dense.kind();
    List<Chosen> input = inputLinears(iteration, sums.input(), kind, dense.hidden(), dense.ffn(), dense.in(), dense.gate(), dense.inBias(),
        previous == null ? null : new Chosen(previous.pruned().in(), previous.inMask(), null),
        previous == null || kind == FfnKind.OPT_RELU ? null : new Chosen(previous.pruned().gate(), previous.gateMask(), null));
    Chosen out = outputLinear(iteration, sums.output(), kind, dense.hidden(), dense.ffn(), dense.out(), dense.outBias(),
        previous == null ? null : new Chosen(previous.pruned().out(), previous.outMask(), null));
    Chosen in = input.get(0);
    Chosen gate = kind == FfnKind.LLAMA_SWIGLU ? input.get(1) : null;
    FfnWeights pruned = dense.withMatrices(in.weights(), gate == null ? null : gate.weights(), out.weights());
    float[] mInv = sparkslim.core.linalg.Blas.toFloat(pUpdateInverse(pruned.out(), dense.hidden(), dense.ffn()));
    List<LinearStep> linears = new ArrayList<>();
    input.forEach(c -> linears.add(c.step()));
    linears.add(out.step());
    return new Step(iteration, pruned, in.mask(), gate == null ? null : gate.mask(), out.mask(), mInv, linears);
  }

  /**
   * The input half of one alternation (doc §1.2 steps 1–3 for fc1, §1.3 steps 1–3 for up and gate): refit from the
   * input fit's sums (iterations after the first), SparseGPT with the Hessian of X, safeguard against the previous
   * alternation's weights. Needs only the input fit's statistics (A = X, B = z or [z | s]).
   *
   * @param denseIn (f, d) fc1 / up weight, read at iteration 0 only (may be null after)
   * @param denseGate (f, d) gate weight (LLaMA), read at iteration 0 only
   * @param inBias (f) fc1 bias (OPT), kept fixed, or null
   * @param previousIn the previous alternation's choice for fc1 / up, null at iteration 0
   * @param previousGate the same for gate (LLaMA), null at iteration 0
   * @return the choice for fc1 / up, then gate (LLaMA)
   */
  public List<Chosen> inputLinears(int iteration, LeastSquaresSums input, FfnKind kind, int d, int f, float[] denseIn, float[] denseGate,
                                   float[] inBias, Chosen previousIn, Chosen previousGate) {
    float[] in = denseIn;
    float[] gate = denseGate;
    if (iteration > 0) { // weight refit, doc §1.2 step 1 / §1.3 step 1 (least squares instead of pinv and GD)
      float[] fitted = WeightRefit.refit(input, kind == FfnKind.OPT_RELU ? inBias : null,
          WeightRefit.DEFAULT_RIDGE_FRACTION); // (f, d) or (2f, d) = [up; gate]
      in = kind == FfnKind.OPT_RELU ? fitted : WeightRefit.rows(fitted, d, 0, f);
      gate = kind == FfnKind.OPT_RELU ? null : WeightRefit.rows(fitted, d, f, 2 * f);
    }
    List<Chosen> chosen = new ArrayList<>();
    // (d, d) Hessian of X (constant), built per linear inside the prune: SparseGPT damps and factors it in place
    chosen.add(prune(kind.inName(), in, f, d, input::hessian, input, inBias, 0, options.alpha(), previousIn));
    if (kind == FfnKind.LLAMA_SWIGLU) {
      chosen.add(prune(kind.gateName(), gate, f, d, input::hessian, input, null, f, options.alpha(), previousGate));
    }
    return chosen;
  }

  /**
   * The output half of one alternation (doc §1.2 steps 1–3 for fc2, §1.3 for down): refit from the output fit's sums
   * (iterations after the first), SparseGPT with the Hessian of the current p (§1.2 step 2), safeguard. Needs only
   * the output fit's statistics (A = p, B = Y).
   *
   * @param denseOut (d, f) fc2 / down weight, read at iteration 0 only (may be null after)
   * @param outBias (d) fc2 bias (OPT), kept fixed, or null
   * @param previousOut the previous alternation's choice, null at iteration 0
   */
  public Chosen outputLinear(int iteration, LeastSquaresSums output, FfnKind kind, int d, int f, float[] denseOut, float[] outBias,
                             Chosen previousOut) {
    float[] out = iteration > 0 ? WeightRefit.refit(output, outBias, WeightRefit.DEFAULT_RIDGE_FRACTION) : denseOut; // (d, f)
    // (f, f) Hessian of the current p, doc §1.2 step 2; built inside the prune, which consumes it
    return prune(kind.outName(), out, d, f, output::hessian, output, outBias, 0, options.beta(), previousOut);
  }

  /** M⁻¹ = (β·WᵀW + γI)⁻¹ (f, f) of the chosen fc2 / down weight {@code out} (d, f), for the executors' p-update. */
  public double[] pUpdateInverse(float[] out, int d, int f) {
    return AuxiliaryUpdates.pUpdateMatrixInverse(out, d, f, options.beta(), options.gamma());
  }

  /**
   * SparseGPT on {@code w} (rows, cols) with the Hessian {@code hessian} builds, then the safeguard against {@code previous}: the
   * linear's weight term of L is rows [rowOffset, rowOffset + rows) of the fit in {@code sums}, times {@code weight}.
   */
  private Chosen prune(String linear, float[] w, int rows, int cols, Supplier<double[]> hessian, LeastSquaresSums sums, float[] bias, int rowOffset,
                       double weight, Chosen previous) {
    CompressedLinear.Masked r = sparseGpt.solveConsumingHessian(w, rows, cols, hessian.get()); // a fresh H per call: damping never compounds
    if (previous == null) {
      return new Chosen(r.weights(), r.mask(), new LinearStep(linear, Double.NaN, weight * sums.residual(r.weights(), bias, rowOffset,
          rowOffset + rows), true, r.loss(), r.fallback()));
    }
    double previousTerm = weight * sums.residual(previous.weights(), bias, rowOffset, rowOffset + rows);
    double candidateTerm = weight * sums.residual(r.weights(), bias, rowOffset, rowOffset + rows);
    boolean accepted = candidateTerm <= previousTerm;
    LinearStep step = new LinearStep(linear, previousTerm, candidateTerm, accepted, r.loss(), r.fallback());
    return accepted ? new Chosen(r.weights(), r.mask(), step) : new Chosen(previous.weights(), previous.mask(), step);
  }
}
