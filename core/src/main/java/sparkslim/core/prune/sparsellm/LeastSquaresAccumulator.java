package sparkslim.core.prune.sparsellm;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.CblasUpper;

import java.io.Serializable;
import org.bytedeco.openblas.global.openblas;
import sparkslim.core.linalg.ExactSums;

/**
 * Mergeable sufficient statistics of one least-squares fit B ≈ A·Wᵀ + 1·bᵀ (tokens as rows): A is the linear's
 * input (numTokens, inFeatures), B its target (numTokens, outFeatures). Keeps, over all added samples,
 * <ul>
 *   <li>{@code sumAtA} (inFeatures, inFeatures) = Σ AᵀA, the Gram matrix (also the SparseGPT Hessian sum);</li>
 *   <li>{@code sumBtA} (outFeatures, inFeatures) = Σ BᵀA, the cross term;</li>
 *   <li>{@code sumA} (inFeatures) and {@code sumB} (outFeatures), column sums for the bias terms;</li>
 *   <li>the sample and token counts.</li>
 * </ul>
 * This is what the driver needs for the SparseLLM weight refits (docs/sparsellm.md §1.2 step 1: "(z−b)Xᵀ, XXᵀ,
 * Ypᵀ and ppᵀ" in the doc's features-as-rows layout), see {@link WeightRefit}.
 *
 * <p>Exactness, as {@link sparkslim.core.calib.HessianAccumulator}: each sample's products are computed in fp64
 * from fp32 inputs (every product exact, 24 + 24 bits &lt; 53), summed over the sample's tokens by BLAS, and the
 * per-sample fp64 results are added to {@link ExactSums}. Integer addition is associative, so any partitioning and
 * merge order of the same samples gives bitwise identical sums (for a fixed BLAS build and thread count).
 *
 * <p>Memory: 16 B per entry in the sums plus an fp64 scratch of 8 B per entry; LLaMA-2-7B's stacked up/gate target
 * (outFeatures = 2·11008, inFeatures = 4096) needs 1.44 GB + 0.72 GB.
 */
public final class LeastSquaresAccumulator implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Tokens converted to fp64 per BLAS call; bounds the temporaries to this many rows. */
  static final int MAX_TOKENS_PER_UPDATE = 2048;

  private final int inFeatures;
  private final int outFeatures;
  private final ExactSums sumAtA; // (inFeatures, inFeatures), upper triangle; lower triangle zero
  private final ExactSums sumBtA; // (outFeatures, inFeatures)
  private final ExactSums sumA; // (inFeatures)
  private final ExactSums sumB; // (outFeatures)
  private final ExactSums sumSquaresB; // (outFeatures), Σ over tokens of B²
  private final ExactSums counts; // (2): numSamples, numTokens (exact integers)

  /** An empty accumulator (the zero value) for inputs of width {@code inFeatures} and targets of {@code outFeatures}. */
  public LeastSquaresAccumulator(int inFeatures, int outFeatures) {
    if (inFeatures <= 0 || outFeatures <= 0) {
      throw new IllegalArgumentException("Cannot create a least-squares accumulator with inFeatures " + inFeatures
          + " and outFeatures " + outFeatures + ": both must be positive");
    }
    if ((long) inFeatures * Math.max(inFeatures, outFeatures) > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("Cannot create a least-squares accumulator with inFeatures " + inFeatures
          + " and outFeatures " + outFeatures + ": the sums exceed the largest Java array");
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.sumAtA = new ExactSums(inFeatures * inFeatures);
    this.sumBtA = new ExactSums(outFeatures * inFeatures);
    this.sumA = new ExactSums(inFeatures);
    this.sumB = new ExactSums(outFeatures);
    this.sumSquaresB = new ExactSums(outFeatures);
    this.counts = new ExactSums(2);
  }

  /**
   * Adds one sample: the sums above, numSamples += 1, numTokens += rows.
   *
   * @param a (rows, inFeatures) row-major input
   * @param b (rows, outFeatures) row-major target
   * @return this, for use as a seqOp
   */
  public LeastSquaresAccumulator add(float[] a, float[] b, int rows) {
    return addStacked(a, rows, b);
  }

  /**
   * Adds one sample whose target is the column-wise concatenation B = [b₀ | b₁ | …] of several (rows, widthₖ)
   * blocks with Σ widthₖ = outFeatures, without building B: rows [o, o + widthₖ) of sumBtA then belong to block k.
   * LLaMA's up and gate projections share their input X, so B = [z | s] fits both with one Gram matrix.
   *
   * @return this
   */
  public LeastSquaresAccumulator addStacked(float[] a, int rows, float[]... targets) {
    if (rows < 0 || a.length != (long) rows * inFeatures) {
      throw new IllegalArgumentException("Cannot accumulate least-squares statistics: expected input of shape (" + rows
          + ", " + inFeatures + ") = " + (long) rows * inFeatures + " values, got " + a.length);
    }
    int[] widths = new int[targets.length];
    int totalWidth = 0;
    for (int k = 0; k < targets.length; k++) {
      widths[k] = rows == 0 ? 0 : targets[k].length / rows;
      if ((long) widths[k] * rows != targets[k].length) {
        throw new IllegalArgumentException("Cannot accumulate least-squares statistics: target " + k + " has "
            + targets[k].length + " values, not a multiple of " + rows + " rows");
      }
      totalWidth += widths[k];
    }
    if (rows > 0 && totalWidth != outFeatures) {
      throw new IllegalArgumentException("Cannot accumulate least-squares statistics: expected targets " + outFeatures
          + " wide in total, got " + totalWidth);
    }
    double[] atA = new double[inFeatures * inFeatures]; // (in, in), this sample's AᵀA, upper triangle
    double[] btA = new double[outFeatures * inFeatures]; // (out, in), this sample's BᵀA
    double[] colA = new double[inFeatures]; // (in)
    double[] colB = new double[outFeatures]; // (out)
    double[] squaresB = new double[outFeatures]; // (out)
    int chunkRows = Math.max(1, Math.min(rows, MAX_TOKENS_PER_UPDATE));
    double[] chunkA = new double[chunkRows * inFeatures]; // (chunkRows, in)
    double[] chunkB = new double[chunkRows * outFeatures]; // (chunkRows, out)
    for (int t0 = 0; t0 < rows; t0 += chunkRows) {
      int n = Math.min(chunkRows, rows - t0);
      for (int i = 0; i < n * inFeatures; i++) {
        chunkA[i] = a[t0 * inFeatures + i];
        colA[i % inFeatures] += chunkA[i];
      }
      for (int t = 0; t < n; t++) {
        int column = 0;
        for (int k = 0; k < targets.length; k++) {
          int width = widths[k];
          for (int j = 0; j < width; j++) {
            double value = targets[k][(t0 + t) * width + j];
            chunkB[t * outFeatures + column + j] = value;
            colB[column + j] += value;
            squaresB[column + j] += value * value;
          }
          column += width;
        }
      }
      // Upper triangle of atA += chunkAᵀ·chunkA
      openblas.cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, inFeatures, n, 1.0, chunkA, inFeatures, 1.0, atA, inFeatures);
      // btA += chunkBᵀ·chunkA: (out, n)·(n, in)
      openblas.cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, outFeatures, inFeatures, n, 1.0, chunkB, outFeatures,
          chunkA, inFeatures, 1.0, btA, inFeatures);
    }
    for (int i = 0; i < inFeatures; i++) {
      for (int j = i; j < inFeatures; j++) {
        sumAtA.add(i * inFeatures + j, atA[i * inFeatures + j]);
      }
    }
    sumBtA.add(btA, 0);
    sumA.add(colA, 0);
    sumB.add(colB, 0);
    sumSquaresB.add(squaresB, 0);
    counts.add(0, 1);
    counts.add(1, rows);
    return this;
  }

  /**
   * Adds another accumulator's sums and counts into this one (the combOp). Either side may be empty.
   *
   * @return this
   * @throws IllegalArgumentException if the shapes differ; the message names both
   */
  public LeastSquaresAccumulator merge(LeastSquaresAccumulator other) {
    if (other.inFeatures != inFeatures || other.outFeatures != outFeatures) {
      throw new IllegalArgumentException("Cannot merge least-squares accumulators of different shapes: this has (out, in) = ("
          + outFeatures + ", " + inFeatures + "), other has (" + other.outFeatures + ", " + other.inFeatures + ")");
    }
    sumAtA.merge(other.sumAtA);
    sumBtA.merge(other.sumBtA);
    sumA.merge(other.sumA);
    sumB.merge(other.sumB);
    sumSquaresB.merge(other.sumSquaresB);
    counts.merge(other.counts);
    return this;
  }

  /**
   * The live exact sums, in a fixed order: Σ AᵀA (upper triangle, in·in), Σ BᵀA (out·in), Σ A (in), Σ B (out),
   * Σ B² (out), counts (2). Merging each component separately (e.g. in slices, see {@link ExactSums#slice}) and
   * decoding with {@link LeastSquaresSums#decode} gives the same sums as {@link #merge} then {@link #decode}.
   */
  public java.util.List<ExactSums> components() {
    return java.util.List.of(sumAtA, sumBtA, sumA, sumB, sumSquaresB, counts);
  }

  /** The sums as fp64 arrays (each exact total rounded once). */
  public LeastSquaresSums decode() {
    java.util.List<double[]> decoded = new java.util.ArrayList<>();
    for (ExactSums c : components()) {
      decoded.add(c.toDoubles());
    }
    return LeastSquaresSums.decode(inFeatures, outFeatures, decoded);
  }

  /** Σ AᵀA, full and symmetric, as a new (inFeatures, inFeatures) row-major array. */
  public double[] sumAtA() {
    return decode().sumAtA();
  }

  /** The SparseGPT Hessian of the linear's input, H = (2 / numSamples)·Σ AᵀA (as HessianAccumulator.finish()). */
  public double[] hessian() {
    return decode().hessian();
  }

  /** Σ BᵀA as a new (outFeatures, inFeatures) row-major array. */
  public double[] sumBtA() {
    return sumBtA.toDoubles();
  }

  /** Σ over tokens of the rows of A, (inFeatures). */
  public double[] sumA() {
    return sumA.toDoubles();
  }

  /** Σ over tokens of the rows of B, (outFeatures). */
  public double[] sumB() {
    return sumB.toDoubles();
  }

  public int inFeatures() {
    return inFeatures;
  }

  public int outFeatures() {
    return outFeatures;
  }

  /** Number of samples (calibration sequences) added, not tokens. */
  public long numSamples() {
    return (long) counts.toDouble(0);
  }

  public long numTokens() {
    return (long) counts.toDouble(1);
  }
}
