package sparkslim.core.calib;

import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.CblasUpper;

import java.io.Serializable;
import java.util.List;
import sparkslim.core.linalg.ExactSums;
import org.bytedeco.openblas.global.openblas;

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
 * <p>Determinism: every product of two fp32 inputs is exact in fp64 (24 + 24 significant bits &lt; 53), so
 * partial sums differ only in the order of their additions. For a fixed BLAS build and thread count, feeding the
 * same sequences in the same order gives bitwise identical sums, and merging the same partials in the same order
 * gives a bitwise identical result; merging in another order agrees only up to rounding (the tests allow 1e-12
 * relative), not bitwise. Spark's {@code treeAggregate} merges in whatever order tasks finish, so for bitwise
 * reproducible runs collect the partials, sort them by partition index and use {@link #mergeAll(List)}.
 *
 * <p>Storage: {@code sum} is a full (inFeatures, inFeatures) row-major array of which only the upper triangle
 * (j ≥ i) is filled by {@code dsyrk}; the lower triangle stays zero. {@link #sum()} and {@link #finish()} return
 * full symmetric copies. An 11008-wide input needs 11008²·8 B ≈ 0.97 GB.
 */
public final class HessianAccumulator implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Tokens converted to fp64 and passed to one {@code dsyrk} call; bounds the temporary to this many rows. */
  static final int MAX_TOKENS_PER_UPDATE = 2048;

  /** SparseGPT's factor in H = (2 / numSamples)·Σ XᵀX: the Hessian of the squared error ‖W·Xᵀ‖². */
  private static final double HESSIAN_SCALE = 2.0;

  private final int inFeatures;
  private final ExactSums sum; // (inFeatures, inFeatures), upper triangle of Σ XᵀX; lower triangle zero
  private transient double[] scratch; // (inFeatures, inFeatures), one sequence's XᵀX
  private transient double[] totals; // (inFeatures, inFeatures), sum decoded once; cleared by add and merge
  private long numSamples;
  private long numTokens;

  /** An empty accumulator (the zero value) for inputs of width {@code inFeatures}. */
  public HessianAccumulator(int inFeatures) {
    if (inFeatures <= 0) {
      throw new IllegalArgumentException("Cannot create a Hessian accumulator with inFeatures " + inFeatures + ": must be positive");
    }
    if ((long) inFeatures * inFeatures > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("Cannot create a Hessian accumulator with inFeatures " + inFeatures
          + ": inFeatures² = " + (long) inFeatures * inFeatures + " exceeds the largest Java array");
    }
    this.inFeatures = inFeatures;
    this.sum = new ExactSums(inFeatures * inFeatures);
  }

  /**
   * Adds one calibration sequence: sum += xᵀ·x (fp64 {@code dsyrk} on an fp64 copy of x), numSamples += 1,
   * numTokens += numTokens.
   *
   * @param x (numTokens, inFeatures) row-major inputs of the linear layer for one sequence
   * @return this, for use as a seqOp
   */
  public HessianAccumulator add(float[] x, int numTokens) {
    if (numTokens < 0 || x.length != (long) numTokens * inFeatures) {
      throw new IllegalArgumentException("Cannot accumulate Hessian: expected input of shape (" + numTokens + ", "
          + inFeatures + ") = " + (long) numTokens * inFeatures + " values, got " + x.length);
    }
    if (scratch == null) {
      scratch = new double[inFeatures * inFeatures];
    } else {
      java.util.Arrays.fill(scratch, 0.0);
    }
    int chunkTokens = Math.min(numTokens, MAX_TOKENS_PER_UPDATE);
    double[] chunk = new double[chunkTokens * inFeatures]; // (chunkTokens, inFeatures)
    for (int t0 = 0; t0 < numTokens; t0 += chunkTokens) {
      int rows = Math.min(chunkTokens, numTokens - t0);
      int offset = t0 * inFeatures;
      for (int i = 0; i < rows * inFeatures; i++) {
        chunk[i] = x[offset + i];
      }
      // Upper triangle of sum += chunk[0:rows]ᵀ·chunk[0:rows]
      openblas.cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, inFeatures, rows, 1.0, chunk, inFeatures, 1.0, scratch, inFeatures);
    }
    for (int i = 0; i < inFeatures; i++) {
      for (int j = i; j < inFeatures; j++) {
        sum.add(i * inFeatures + j, scratch[i * inFeatures + j]);
      }
    }
    this.numSamples += 1;
    this.numTokens += numTokens;
    this.totals = null;
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
    this.totals = null;
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
    if (numSamples == 0) {
      throw new IllegalStateException("Cannot finish Hessian: no calibration samples were added");
    }
    return symmetric(HESSIAN_SCALE / numSamples);
  }

  /** Σ XᵀX, full and symmetric, as a new (inFeatures, inFeatures) row-major array. */
  public double[] sum() {
    return symmetric(1.0);
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

  private double[] symmetric(double scale) {
    if (totals == null) { // decoding the fixed-point sums is the costly part; q/k/v (and gate/up) share one accumulator
      totals = sum.toDoubles();
    }
    double[] full = new double[inFeatures * inFeatures]; // (inFeatures, inFeatures)
    for (int i = 0; i < inFeatures; i++) {
      for (int j = i; j < inFeatures; j++) {
        double value = scale * totals[i * inFeatures + j];
        full[i * inFeatures + j] = value;
        full[j * inFeatures + i] = value;
      }
    }
    return full;
  }
}
