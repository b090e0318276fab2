package sparkslim.core.calib;

import java.io.Serializable;
import java.util.List;

/**
 * Mergeable statistic of one linear layer's input for Wanda: per input column c, the sum of squares Σ x_c² over all
 * calibration tokens in fp64, and counts. {@link #columnNorms()} returns sqrt(sumSquares / numSamples).
 *
 * <p>The reference (locuslab {@code WrappedGPT.add_batch}) keeps the running mean over sequences
 * S_c = Σ_j ‖X_j[c, :]‖² / n and uses sqrt(S_c); {@code columnNorms()} is the same quantity from raw sums, so it
 * merges in any partitioning. Wanda ranks weights within a row, so any constant factor would not change the mask.
 * {@code numSamples} counts calibration sequences, not tokens, as in {@link HessianAccumulator}; the same notes
 * on merge order and bitwise reproducibility apply ({@link #mergeAll(List)} merges in list order).
 */
public final class ColumnNormAccumulator implements Serializable {
  private static final long serialVersionUID = 1L;

  private final int inFeatures;
  private final double[] sumSquares; // (inFeatures)
  private long numSamples;
  private long numTokens;

  /** An empty accumulator (the zero value) for inputs of width {@code inFeatures}. */
  public ColumnNormAccumulator(int inFeatures) {
    if (inFeatures <= 0) {
      throw new IllegalArgumentException("Cannot create a column norm accumulator with inFeatures " + inFeatures + ": must be positive");
    }
    this.inFeatures = inFeatures;
    this.sumSquares = new double[inFeatures];
  }

  /**
   * Adds one calibration sequence: sumSquares[c] += Σ_t x[t, c]², numSamples += 1, numTokens += numTokens.
   *
   * @param x (numTokens, inFeatures) row-major inputs of the linear layer for one sequence
   * @return this, for use as a seqOp
   */
  public ColumnNormAccumulator add(float[] x, int numTokens) {
    if (numTokens < 0 || x.length != (long) numTokens * inFeatures) {
      throw new IllegalArgumentException("Cannot accumulate column norms: expected input of shape (" + numTokens + ", "
          + inFeatures + ") = " + (long) numTokens * inFeatures + " values, got " + x.length);
    }
    for (int t = 0; t < numTokens; t++) {
      int offset = t * inFeatures;
      for (int c = 0; c < inFeatures; c++) {
        double value = x[offset + c];
        sumSquares[c] += value * value;
      }
    }
    this.numSamples += 1;
    this.numTokens += numTokens;
    return this;
  }

  /**
   * Adds another accumulator's sums and counts into this one (the combOp). Either side may be empty.
   *
   * @return this
   * @throws IllegalArgumentException if the input widths differ; the message names both
   */
  public ColumnNormAccumulator merge(ColumnNormAccumulator other) {
    if (other.inFeatures != inFeatures) {
      throw new IllegalArgumentException("Cannot merge column norm accumulators of different sizes: this has inFeatures "
          + inFeatures + ", other has inFeatures " + other.inFeatures);
    }
    for (int c = 0; c < inFeatures; c++) {
      sumSquares[c] += other.sumSquares[c];
    }
    this.numSamples += other.numSamples;
    this.numTokens += other.numTokens;
    return this;
  }

  /** Merges the partials in the given list order into a new accumulator, leaving the partials unchanged. */
  public static ColumnNormAccumulator mergeAll(List<ColumnNormAccumulator> partials) {
    if (partials.isEmpty()) {
      throw new IllegalArgumentException("Cannot merge an empty list of column norm accumulators");
    }
    ColumnNormAccumulator merged = new ColumnNormAccumulator(partials.get(0).inFeatures);
    for (ColumnNormAccumulator partial : partials) {
      merged.merge(partial);
    }
    return merged;
  }

  /**
   * Wanda's per-column input norms sqrt(sumSquares / numSamples), a new (inFeatures) array.
   *
   * @throws IllegalStateException if no sequence was added
   */
  public double[] columnNorms() {
    if (numSamples == 0) {
      throw new IllegalStateException("Cannot compute column norms: no calibration samples were added");
    }
    double[] norms = new double[inFeatures]; // (inFeatures)
    for (int c = 0; c < inFeatures; c++) {
      norms[c] = Math.sqrt(sumSquares[c] / numSamples);
    }
    return norms;
  }

  /** Σ over tokens of x², per input column, as a new (inFeatures) array. */
  public double[] sumSquares() {
    return sumSquares.clone();
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
