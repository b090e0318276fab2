package sparkslim.core.calib;

import sparkslim.core.linalg.GramSlices;

/**
 * The statistics of one linear layer's input, decoded where the linear is solved: Σ XᵀX over all calibration tokens
 * as a packed upper triangle ({@link GramSlices} layout), the number of calibration sequences and of tokens.
 * Built from the exact sums of a {@link HessianAccumulator} or from the merged slices of the statistics pipeline; both
 * decode the same exact totals, so a linear's statistics are bitwise the same whichever way they were summed.
 */
public record InputStatistics(int inFeatures, double[] packed, long numSamples, long numTokens) {
  /** SparseGPT's factor in H = (2 / numSamples)·Σ XᵀX: the Hessian of the squared error ‖W·Xᵀ‖². */
  private static final double HESSIAN_SCALE = 2.0;

  /**
   * @param inFeatures the width of the linear's input
   * @param packed (inFeatures·(inFeatures + 1)/2) Σ XᵀX, packed upper triangle (row i holds columns i … inFeatures − 1); not copied
   * @param numSamples calibration sequences (not tokens): SparseGPT normalises by it, as upstream SparseGPT and llm-compressor do
   * @param numTokens calibration tokens
   */
  public InputStatistics {
    if (packed.length != GramSlices.packedSize(inFeatures)) {
      throw new IllegalArgumentException("Input statistics of width " + inFeatures + " need " + GramSlices.packedSize(inFeatures)
          + " packed entries, got " + packed.length);
    }
  }

  /** (Σ XᵀX)[c, c] = ‖X_c‖², Wanda's column norm squared. */
  public double diagonal(int c) {
    return packed[GramSlices.packedRowStart(inFeatures, c)];
  }

  /**
   * The SparseGPT Hessian H = (2 / numSamples)·Σ XᵀX, full and symmetric, as a new (inFeatures, inFeatures) row-major array.
   *
   * @throws IllegalStateException if no sequence was added
   */
  public double[] hessian() {
    if (numSamples == 0) {
      throw new IllegalStateException("Cannot finish Hessian: no calibration samples were added");
    }
    return symmetric(HESSIAN_SCALE / numSamples);
  }

  /** As {@link #hessian()}, written into {@code target} (inFeatures, inFeatures), which is returned. */
  public double[] hessianInto(double[] target) {
    if (numSamples == 0) {
      throw new IllegalStateException("Cannot finish Hessian: no calibration samples were added");
    }
    return symmetric(HESSIAN_SCALE / numSamples, target);
  }

  /** Σ XᵀX, full and symmetric, as a new (inFeatures, inFeatures) row-major array. */
  public double[] gram() {
    return symmetric(1.0);
  }

  /**
   * Writes Σ XᵀX, full and symmetric, into {@code target} (inFeatures, inFeatures) and returns it: a solver that consumed
   * the Hessian's array (SparseGPT factors it in place) hands it back for the loss, so a solve holds one full matrix.
   */
  public double[] gramInto(double[] target) {
    return symmetric(1.0, target);
  }

  private double[] symmetric(double scale) {
    int n = inFeatures;
    if ((long) n * n > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("A full " + n + "x" + n + " matrix exceeds the largest Java array");
    }
    return symmetric(scale, new double[n * n]);
  }

  private double[] symmetric(double scale, double[] full) { // full: (n, n)
    int n = inFeatures;
    if (full.length != (long) n * n) {
      throw new IllegalArgumentException("Cannot write a " + n + "x" + n + " matrix into " + full.length + " values");
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
      for (int j = i; j < n; j++) {
        double value = scale * packed[k++];
        full[i * n + j] = value;
        full[j * n + i] = value;
      }
    }
    return full;
  }
}
