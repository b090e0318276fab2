package sparkslim.core.prune;

import java.util.BitSet;

/**
 * The output of a pruning solver for one linear layer. The arrays are not copied: the solver hands over fresh ones.
 *
 * @param weights (outFeatures, inFeatures) row-major pruned weights; every entry in {@code mask} is exactly 0
 * @param mask pruned entries, bit {@code row·inFeatures + col} set = pruned
 * @param loss the solver's own loss estimate. SparseGPT: Σ (w − q)²/d²/2 over all entries (kept ones add 0) as in
 *     the reference, which equals ½·tr(ΔW·H·ΔWᵀ) for the damped Hessian H, i.e. ‖ΔW·Xᵀ‖²_F / numSamples for
 *     H = (2 / numSamples)·Σ XᵀX and negligible dampening. Magnitude and Wanda measure no loss: {@code NaN}.
 * @param sparsity the fraction of entries pruned, {@code mask.cardinality() / (outFeatures·inFeatures)}
 * @param fallback a short tag if the solver fell back to another method (e.g. {@code "identity-hessian"}); null if not
 */
public record PruneResult(float[] weights, BitSet mask, double loss, double sparsity, String fallback) {
  /** True if the solver fell back to another method; {@link #fallback()} says which. */
  public boolean usedFallback() {
    return fallback != null;
  }

  /** Builds a result without fallback, computing the sparsity from the mask. */
  static PruneResult of(float[] weights, BitSet mask, double loss) {
    return new PruneResult(weights, mask, loss, (double) mask.cardinality() / weights.length, null);
  }
}
