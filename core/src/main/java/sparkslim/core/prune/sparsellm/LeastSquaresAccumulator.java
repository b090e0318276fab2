package sparkslim.core.prune.sparsellm;


import java.io.Serializable;
import java.util.List;
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
 * <p>Memory: 16 B per entry in the sums (Σ AᵀA as a packed triangle) plus fp64 scratch for {@link #ROW_BLOCK} rows of a
 * product and {@link #MAX_TOKENS_PER_UPDATE} tokens of the inputs; LLaMA-2-7B's stacked up/gate target
 * (outFeatures = 2·11008, inFeatures = 4096) needs 1.57 GB of sums and 0.1 GB of scratch.
 */
public final class LeastSquaresAccumulator implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Tokens converted to fp64 per BLAS call ({@link LeastSquaresSlices}). */
  static final int MAX_TOKENS_PER_UPDATE = LeastSquaresSlices.MAX_TOKENS_PER_UPDATE;
  /** Rows of Σ AᵀA or Σ BᵀA per slice ({@link LeastSquaresSlices}). */
  static final int ROW_BLOCK = LeastSquaresSlices.ROW_BLOCK;

  private final int inFeatures;
  private final int outFeatures;
  private final ExactSums sumAtA; // upper triangle of (inFeatures, inFeatures), packed row by row: row i holds columns i … in − 1
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
    this.sumAtA = new ExactSums(packedSize(inFeatures));
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
    return addAll(List.of(new LeastSquaresSlices.Sample(a, rows, targets)));
  }

  /** Adds several samples, slice by slice ({@link LeastSquaresSlices}); the result equals adding them one by one. */
  public LeastSquaresAccumulator addAll(List<LeastSquaresSlices.Sample> samples) {
    List<ExactSums> components = components();
    new LeastSquaresSlices(inFeatures, outFeatures, samples)
        .forEachRemaining(slice -> components.get(slice.component()).mergeAt(slice.offset(), slice.sums()));
    return this;
  }

  /** Entries of the packed upper triangle of an (n, n) matrix: n(n + 1)/2. */
  public static int packedSize(int n) {
    return (int) ((long) n * (n + 1) / 2);
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
   * The live exact sums, in a fixed order: Σ AᵀA (upper triangle packed row by row, in(in + 1)/2), Σ BᵀA (out·in), Σ A (in), Σ B (out),
   * Σ B² (out), counts (2). Merging each component separately (e.g. in slices, see {@link ExactSums#slice}) and
   * decoding with {@link LeastSquaresSums#decode} gives the same sums as {@link #merge} then {@link #decode}.
   */
  public List<ExactSums> components() {
    return List.of(sumAtA, sumBtA, sumA, sumB, sumSquaresB, counts);
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
