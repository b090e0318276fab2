package sparkslim.core.calib;

import java.io.Serializable;
import java.util.List;
import sparkslim.core.linalg.ExactSums;
import sparkslim.core.linalg.GramSlices;

/**
 * Mergeable sufficient statistics of one linear layer's input for SparseGPT: the raw sum Σ XᵀX over all calibration
 * tokens in fp64, and counts. Normalised once, in {@link #finish()}, to the SparseGPT Hessian
 * H = (2 / numSamples)·Σ XᵀX.
 *
 * <p>Unlike the reference's running mean ({@code H *= n/(n+1); H += (2/n)·x·xᵀ}, which depends on the order of the
 * sequences), raw sums merge: this is a Spark {@code treeAggregate} zero value, {@link #add} its seqOp and
 * {@link #merge} its combOp, as Spark MLlib's aggregators keep sums and a count and normalise once.
 *
 * <p>{@code numSamples} counts calibration <em>sequences</em>, not tokens, as upstream SparseGPT and llm-compressor
 * do; golden numbers only match with that normalisation. {@code numTokens} is kept for reports.
 *
 * <p>Determinism: every product of two fp32 inputs is exact in fp64 (24 + 24 significant bits &lt; 53), each
 * sequence's sums go into 128-bit fixed-point {@link ExactSums}, and integer addition is associative: partials merged in
 * any order, over any partitioning, give bitwise identical totals.
 *
 * <p>Storage: {@code sum} is the packed upper triangle of Σ XᵀX as exact sums, filled one {@link GramSlices} row block
 * at a time (the same routine as the distributed statistics of {@code prune}, so both give the same bits).
 * {@link #sum()} and {@link #finish()} return full symmetric copies. An 11008-wide input needs 11008²/2·16 B ≈ 0.97 GB;
 * the distributed pipeline never builds one: it ships the row blocks.
 */
public final class HessianAccumulator implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Tokens converted to fp64 per BLAS call; bounds the temporary to this many rows. */
  static final int MAX_TOKENS_PER_UPDATE = GramSlices.MAX_TOKENS_PER_UPDATE;

  private final int inFeatures;
  private final ExactSums sum; // (inFeatures·(inFeatures + 1)/2), packed upper triangle of Σ XᵀX
  private transient InputStatistics decoded; // sum decoded once; cleared by add and merge
  private long numSamples;
  private long numTokens;

  /** An empty accumulator (the zero value) for inputs of width {@code inFeatures}. */
  public HessianAccumulator(int inFeatures) {
    if (inFeatures <= 0) {
      throw new IllegalArgumentException("Cannot create a Hessian accumulator with inFeatures " + inFeatures + ": must be positive");
    }
    if ((long) inFeatures * (inFeatures + 1) / 2 > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("Cannot create a Hessian accumulator with inFeatures " + inFeatures
          + ": inFeatures·(inFeatures + 1)/2 = " + (long) inFeatures * (inFeatures + 1) / 2 + " exceeds the largest Java array");
    }
    this.inFeatures = inFeatures;
    this.sum = new ExactSums(GramSlices.packedSize(inFeatures));
  }

  /**
   * Adds one calibration sequence: sum += xᵀ·x (fp64, {@link GramSlices}), numSamples += 1, numTokens += numTokens.
   *
   * @param x (numTokens, inFeatures) row-major inputs of the linear layer for one sequence
   * @return this, for use as a seqOp
   */
  public HessianAccumulator add(float[] x, int numTokens) {
    if (numTokens < 0 || x.length != (long) numTokens * inFeatures) {
      throw new IllegalArgumentException("Cannot accumulate Hessian: expected input of shape (" + numTokens + ", "
          + inFeatures + ") = " + (long) numTokens * inFeatures + " values, got " + x.length);
    }
    GramSlices gram = new GramSlices(inFeatures, numTokens);
    for (int r0 = 0; r0 < inFeatures; r0 += GramSlices.ROW_BLOCK) {
      sum.mergeAt(GramSlices.packedRowStart(inFeatures, r0), gram.rows(r0, List.of(x), new int[] {numTokens}));
    }
    this.numSamples += 1;
    this.numTokens += numTokens;
    this.decoded = null;
    return this;
  }

  /**
   * Adds another accumulator's sums and counts into this one (the combOp). Either side may be empty.
   *
   * @return this
   * @throws IllegalArgumentException if the input widths differ; the message names both
   */
  public HessianAccumulator merge(HessianAccumulator other) {
    if (other.inFeatures != inFeatures) {
      throw new IllegalArgumentException("Cannot merge Hessian accumulators of different sizes: this has inFeatures "
          + inFeatures + ", other has inFeatures " + other.inFeatures);
    }
    sum.merge(other.sum);
    this.decoded = null;
    this.numSamples += other.numSamples;
    this.numTokens += other.numTokens;
    return this;
  }

  /**
   * Merges the partials in the given list order into a new accumulator, leaving the partials unchanged. With the
   * partials sorted by partition index, the result is bitwise reproducible whatever order tasks finished in.
   */
  public static HessianAccumulator mergeAll(List<HessianAccumulator> partials) {
    if (partials.isEmpty()) {
      throw new IllegalArgumentException("Cannot merge an empty list of Hessian accumulators");
    }
    HessianAccumulator merged = new HessianAccumulator(partials.get(0).inFeatures);
    for (HessianAccumulator partial : partials) {
      merged.merge(partial);
    }
    return merged;
  }

  /**
   * The SparseGPT Hessian H = (2 / numSamples)·Σ XᵀX, full and symmetric, as a new (inFeatures, inFeatures)
   * row-major array.
   *
   * @throws IllegalStateException if no sequence was added
   */
  public double[] finish() {
    return statistics().hessian();
  }

  /** Σ XᵀX, full and symmetric, as a new (inFeatures, inFeatures) row-major array. */
  public double[] sum() {
    return statistics().gram();
  }

  /** The decoded statistics, as a solver reads them (decoded once; q/k/v and gate/up share one accumulator). */
  public InputStatistics statistics() {
    if (decoded == null) {
      decoded = new InputStatistics(inFeatures, sum.toDoubles(), numSamples, numTokens);
    }
    return decoded;
  }

  public int inFeatures() {
    return inFeatures;
  }

  /** Number of calibration sequences added (not tokens). */
  public long numSamples() {
    return numSamples;
  }

  public long numTokens() {
    return numTokens;
  }
}
