package sparkslim.core.prune.sparsellm;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;

import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.bytedeco.openblas.global.openblas;
import sparkslim.core.linalg.ExactSums;
import sparkslim.core.linalg.GramSlices;

/**
 * The sums of a {@link LeastSquaresAccumulator} over several samples, computed one slice at a time: first the vectors
 * and counts, then Σ AᵀA (packed upper triangle) and Σ BᵀA in blocks of {@link #ROW_BLOCK} rows. Each slice is
 * complete over all the samples when it is emitted, so whoever consumes it (a shuffle writer, or
 * {@link LeastSquaresAccumulator#addStacked}) holds one block at a time: at LLaMA-7B shapes about 0.1 GB of sums and
 * 0.2 GB of fp64 scratch, instead of the 1.6 GB of a whole accumulator.
 *
 * <p>Exactness, as {@link LeastSquaresAccumulator}: each sample's block product is computed in fp64 by BLAS and added to
 * {@link ExactSums}, so a slice does not depend on how the samples are grouped.
 */
public final class LeastSquaresSlices implements Iterator<LeastSquaresSlices.Slice> {
  /** Rows of Σ AᵀA or Σ BᵀA per slice (and per BLAS call). */
  public static final int ROW_BLOCK = GramSlices.ROW_BLOCK;
  /** Tokens converted to fp64 per BLAS call; bounds the input scratch to this many rows. */
  public static final int MAX_TOKENS_PER_UPDATE = GramSlices.MAX_TOKENS_PER_UPDATE;

  /** Component indices, the order of {@link LeastSquaresAccumulator#components()}. */
  public static final int GRAM = 0;
  public static final int CROSS = 1;
  public static final int SUM_A = 2;
  public static final int SUM_B = 3;
  public static final int SUM_SQUARES_B = 4;
  public static final int COUNTS = 5;

  /**
   * One calibration sample of the fit: A (rows, inFeatures) and a target B given as column blocks [b₀ | b₁ | …], each
   * (rows, widthₖ).
   */
  public record Sample(float[] a, int rows, float[]... targets) {}

  /** Entries [offset, offset + sums.size()) of component {@code component}. */
  public record Slice(int component, int offset, ExactSums sums) {}

  private final int inFeatures;
  private final int outFeatures;
  private final List<Sample> samples;
  private final int[][] widths; // per sample, per target
  private final double[] left; // (chunkRows, ROW_BLOCK)
  private final double[] right; // (chunkRows, ≤ in)
  private final GramSlices gram; // Σ AᵀA blocks
  private final List<float[]> inputs; // each sample's A
  private final int[] tokens; // each sample's rows
  private final java.util.ArrayDeque<Slice> pending = new java.util.ArrayDeque<>();
  private int stage; // 0: vectors and counts, 1: Σ AᵀA blocks, 2: Σ BᵀA blocks, 3: done
  private int row;

  /**
   * @throws IllegalArgumentException if a sample's shapes do not fit (inFeatures, outFeatures); the message gives both
   */
  public LeastSquaresSlices(int inFeatures, int outFeatures, List<Sample> samples) {
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.samples = samples;
    this.widths = new int[samples.size()][];
    int maxRows = 1;
    for (int i = 0; i < samples.size(); i++) {
      widths[i] = checkedWidths(samples.get(i));
      maxRows = Math.max(maxRows, Math.min(samples.get(i).rows(), MAX_TOKENS_PER_UPDATE));
    }
    this.left = new double[maxRows * Math.min(ROW_BLOCK, Math.max(inFeatures, outFeatures))];
    this.right = new double[maxRows * inFeatures];
    this.gram = new GramSlices(inFeatures, maxRows);
    this.inputs = samples.stream().map(Sample::a).toList();
    this.tokens = samples.stream().mapToInt(Sample::rows).toArray();
  }

  private int[] checkedWidths(Sample s) {
    int rows = s.rows();
    if (rows < 0 || s.a().length != (long) rows * inFeatures) {
      throw new IllegalArgumentException("Cannot accumulate least-squares statistics: expected input of shape (" + rows
          + ", " + inFeatures + ") = " + (long) rows * inFeatures + " values, got " + s.a().length);
    }
    int[] w = new int[s.targets().length];
    int total = 0;
    for (int k = 0; k < w.length; k++) {
      w[k] = rows == 0 ? 0 : s.targets()[k].length / rows;
      if ((long) w[k] * rows != s.targets()[k].length) {
        throw new IllegalArgumentException("Cannot accumulate least-squares statistics: target " + k + " has "
            + s.targets()[k].length + " values, not a multiple of " + rows + " rows");
      }
      total += w[k];
    }
    if (rows > 0 && total != outFeatures) {
      throw new IllegalArgumentException("Cannot accumulate least-squares statistics: expected targets " + outFeatures
          + " wide in total, got " + total);
    }
    return w;
  }

  /** Index in the packed upper triangle of an (n, n) matrix of entry (i, i), the first of row i. */
  static int packedRowStart(int n, int i) {
    return GramSlices.packedRowStart(n, i);
  }

  @Override
  public boolean hasNext() {
    return !pending.isEmpty() || stage < 3;
  }

  @Override
  public Slice next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    if (stage == 0) {
      pending.addAll(vectors());
      stage = 1;
      row = 0;
    }
    if (!pending.isEmpty()) {
      return pending.poll();
    }
    if (stage == 1) {
      Slice s = gramBlock(row);
      row += ROW_BLOCK;
      if (row >= inFeatures) {
        stage = 2;
        row = 0;
      }
      return s;
    }
    Slice s = crossBlock(row);
    row += ROW_BLOCK;
    if (row >= outFeatures) {
      stage = 3;
    }
    return s;
  }

  /** Σ A, Σ B, Σ B² and the counts (samples, tokens): four small whole-component slices. */
  private List<Slice> vectors() {
    ExactSums sumA = new ExactSums(inFeatures);
    ExactSums sumB = new ExactSums(outFeatures);
    ExactSums sumSquaresB = new ExactSums(outFeatures);
    ExactSums counts = new ExactSums(2);
    double[] colA = new double[inFeatures];
    double[] colB = new double[outFeatures];
    double[] squaresB = new double[outFeatures];
    for (int i = 0; i < samples.size(); i++) {
      Sample s = samples.get(i);
      Arrays.fill(colA, 0);
      Arrays.fill(colB, 0);
      Arrays.fill(squaresB, 0);
      for (int t = 0; t < s.rows(); t++) {
        for (int j = 0; j < inFeatures; j++) {
          colA[j] += s.a()[t * inFeatures + j];
        }
        int column = 0;
        for (int k = 0; k < s.targets().length; k++) {
          int w = widths[i][k];
          for (int j = 0; j < w; j++) {
            double value = s.targets()[k][t * w + j];
            colB[column + j] += value;
            squaresB[column + j] += value * value;
          }
          column += w;
        }
      }
      sumA.add(colA, 0);
      sumB.add(colB, 0);
      sumSquaresB.add(squaresB, 0);
      counts.add(0, 1);
      counts.add(1, s.rows());
    }
    return List.of(new Slice(SUM_A, 0, sumA), new Slice(SUM_B, 0, sumB), new Slice(SUM_SQUARES_B, 0, sumSquaresB),
        new Slice(COUNTS, 0, counts));
  }

  /** Rows [r0, r0 + r) of the upper triangle of Σ AᵀA ({@link GramSlices#rows}). */
  private Slice gramBlock(int r0) {
    return new Slice(GRAM, packedRowStart(inFeatures, r0), gram.rows(r0, inputs, tokens));
  }

  /** Rows [o0, o0 + r) of Σ BᵀA: C (r, in) = B[:, o0:o0+r]ᵀ · A per sample. */
  private Slice crossBlock(int o0) {
    int r = Math.min(ROW_BLOCK, outFeatures - o0);
    ExactSums sums = new ExactSums(r * inFeatures);
    double[] block = new double[r * inFeatures]; // (r, in)
    for (int si = 0; si < samples.size(); si++) {
      Sample s = samples.get(si);
      int[] targetOf = new int[r]; // output row o0 + i → its target k and column in k
      int[] columnOf = new int[r];
      for (int k = 0, column = 0; k < widths[si].length; column += widths[si][k], k++) {
        for (int j = 0; j < widths[si][k]; j++) {
          if (column + j >= o0 && column + j < o0 + r) {
            targetOf[column + j - o0] = k;
            columnOf[column + j - o0] = j;
          }
        }
      }
      Arrays.fill(block, 0.0);
      for (int t0 = 0; t0 < s.rows(); t0 += MAX_TOKENS_PER_UPDATE) {
        int n = Math.min(MAX_TOKENS_PER_UPDATE, s.rows() - t0);
        for (int t = 0; t < n; t++) {
          for (int i = 0; i < r; i++) {
            int k = targetOf[i];
            left[t * r + i] = s.targets()[k][(t0 + t) * widths[si][k] + columnOf[i]];
          }
          for (int j = 0; j < inFeatures; j++) {
            right[t * inFeatures + j] = s.a()[(t0 + t) * inFeatures + j];
          }
        }
        openblas.cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, inFeatures, n, 1.0, left, r, right, inFeatures, 1.0, block,
            inFeatures);
      }
      sums.add(block, 0);
    }
    return new Slice(CROSS, o0 * inFeatures, sums);
  }
}
