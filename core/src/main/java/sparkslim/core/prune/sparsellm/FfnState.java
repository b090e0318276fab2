package sparkslim.core.prune.sparsellm;

import java.io.Serializable;

/**
 * One calibration sample's SparseLLM variables for one FFN (docs/sparsellm.md §1.2, §1.3): the constant input x and
 * dense output Y, and the auxiliary variables z, s (LLaMA only) and p. It lives on an executor, in a partition of the
 * calibration samples; only its {@link FfnStatistics} ever reach the driver. Immutable: {@link #update} returns a new
 * state.
 *
 * @param x (numTokens, hidden) FFN input (fc1 / up input), constant
 * @param y (numTokens, hidden) dense FFN output (fc2 / down output, without the residual), constant
 * @param z (numTokens, ffn) fc1 pre-activation (OPT) or up output (LLaMA)
 * @param s (numTokens, ffn) gate pre-activation (LLaMA), or null (OPT)
 * @param p (numTokens, ffn) fc2 / down input
 * @param objective this sample's objective L at these variables and the weights of the last {@link #update}; 0 for the
 *     dense capture (where every term vanishes up to rounding)
 */
public record FfnState(int index, int numTokens, float[] x, float[] y, float[] z, float[] s, float[] p, double objective)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  /** The dense variables of a sample: z, s, p and Y computed from x through the dense FFN. */
  public static FfnState capture(int index, float[] x, int numTokens, FfnWeights dense) {
    int d = dense.hidden();
    int f = dense.ffn();
    float[] z = AuxiliaryUpdates.linear(x, numTokens, d, dense.in(), f, dense.inBias()); // (n, f)
    float[] s = null;
    float[] p;
    if (dense.kind() == FfnKind.OPT_RELU) {
      p = AuxiliaryUpdates.reluActivation(z);
    } else {
      s = AuxiliaryUpdates.linear(x, numTokens, d, dense.gate(), f, null); // (n, f)
      p = AuxiliaryUpdates.swigluActivation(s, z);
    }
    float[] y = AuxiliaryUpdates.linear(p, numTokens, f, dense.out(), d, dense.outBias()); // (n, d)
    return new FfnState(index, numTokens, x, y, z, s, p, 0);
  }

  /**
   * One alternation's executor-side updates with the weights the driver broadcast (docs/sparsellm.md §1.2 steps
   * 4–5, §1.3 steps 4–6): p (closed form), then z (closed form), then s (LLaMA, monotone gradient steps), then the
   * objective at the new variables.
   *
   * @param pruned the pruned weights of this alternation
   * @param mInv (ffn, ffn) (β·WᵀW + γI)⁻¹ of pruned.out(), from {@link AuxiliaryUpdates#pUpdateMatrixInverse}
   */
  public FfnState update(FfnWeights pruned, float[] mInv, SparseLlmOptions options) {
    int d = pruned.hidden();
    int f = pruned.ffn();
    int n = numTokens;
    float[] newZ = z.clone();
    float[] newP = new float[p.length];
    float[] m = AuxiliaryUpdates.linear(x, n, d, pruned.in(), f, pruned.inBias()); // (n, f)
    if (pruned.kind() == FfnKind.OPT_RELU) {
      AuxiliaryUpdates.pUpdate(newP, y, pruned.outBias(), AuxiliaryUpdates.reluActivation(z), pruned.out(), mInv, n, d, f,
          options.beta(), options.gamma());
      AuxiliaryUpdates.zUpdateOpt(newZ, m, newP, options.alpha(), options.gamma());
      double value = AuxiliaryUpdates.objectiveOpt(newZ, m, newP, y, pruned.out(), pruned.outBias(), n, d, f, options);
      return new FfnState(index, n, x, y, newZ, null, newP, value);
    }
    float[] newS = s.clone();
    AuxiliaryUpdates.pUpdate(newP, y, null, AuxiliaryUpdates.swigluActivation(s, z), pruned.out(), mInv, n, d, f,
        options.beta(), options.gamma());
    AuxiliaryUpdates.zUpdateLlama(newZ, m, newP, s, options.alpha(), options.gamma());
    float[] g = AuxiliaryUpdates.linear(x, n, d, pruned.gate(), f, null); // (n, f)
    double[] terms = AuxiliaryUpdates.sUpdateLlama(newS, g, newP, newZ, m, options); // and L's element-wise terms at the new s
    double value = AuxiliaryUpdates.objectiveLlama(terms, newP, y, pruned.out(), n, d, f, options);
    return new FfnState(index, n, x, y, newZ, newS, newP, value);
  }

  /** This sample in the fc1 / stacked up-gate fit: A = x, B = z or [z | s] (see {@link FfnStatistics#emptyInput}). */
  public LeastSquaresSlices.Sample inputSample() {
    return s == null ? new LeastSquaresSlices.Sample(x, numTokens, z) : new LeastSquaresSlices.Sample(x, numTokens, z, s);
  }

  /** This sample in the fc2 / down fit: A = p, B = Y (see {@link FfnStatistics#emptyOutput}). */
  public LeastSquaresSlices.Sample outputSample() {
    return new LeastSquaresSlices.Sample(p, numTokens, y);
  }

  /** Adds this sample to the fc1 / stacked up-gate fit: A = x, B = z or [z | s]. */
  public LeastSquaresAccumulator addInputTo(LeastSquaresAccumulator input) {
    return s == null ? input.add(x, z, numTokens) : input.addStacked(x, numTokens, z, s);
  }

  /** Adds this sample to the fc2 / down fit: A = p, B = Y. */
  public LeastSquaresAccumulator addOutputTo(LeastSquaresAccumulator output) {
    return output.add(p, y, numTokens);
  }

  /** Adds this sample's variables and objective to {@code stats} (the seqOp of the per-alternation aggregation). */
  public FfnStatistics addTo(FfnStatistics stats) {
    stats.add(x, z, s, p, y, numTokens);
    stats.addObjective(objective);
    return stats;
  }

  @Override
  public String toString() {
    return "FfnState[sample " + index + ", " + numTokens + " tokens, objective " + objective + "]";
  }
}
