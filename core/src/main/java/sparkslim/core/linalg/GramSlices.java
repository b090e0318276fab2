package sparkslim.core.linalg;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.CblasUpper;

import java.util.List;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.openblas.global.openblas;

/**
 * Σ XᵀX over several inputs X (tokens, n), one block of {@link #ROW_BLOCK} rows of its packed upper triangle at a time:
 * the one routine behind every Gram statistic (the SparseGPT/Wanda Hessians of {@code prune}, SparseLLM's least-squares
 * sums). A block is complete over all the inputs when it is returned, so whoever consumes it (a Spark shuffle writer, an
 * accumulator) holds one block of sums at a time: at n = 11008 about 135 MB of sums (24 bytes an entry in
 * {@link ExactSums}) and 0.1 GB of fp64 scratch, instead of the 2.9 GB of a whole n×n accumulator.
 *
 * <p>Exactness: each input's block product is computed in fp64 by {@code dsyrk} and {@code dgemm} (products of fp32
 * values are exact in fp64) and added to {@link ExactSums}, so a block does not depend on how the inputs are grouped into
 * tasks. With one BLAS thread
 * the per-input values equal those of a whole-matrix {@code dsyrk} bit for bit (checked by {@code GramSlicesTest}), which
 * is what the pruned models of earlier versions were built from.
 *
 * <p>Layout: the packed upper triangle stores row i's entries (i, i) … (i, n − 1) from index {@link #packedRowStart}(n, i).
 */
public final class GramSlices {
  /** Rows of the triangle per block (and per BLAS call). */
  public static final int ROW_BLOCK = 512;
  /** Tokens converted to fp64 per BLAS call; bounds the input scratch to this many rows. */
  public static final int MAX_TOKENS_PER_UPDATE = 2048;

  private final int n;
  private final int maxRows;
  // Native operands of dsyrk/dgemm, the thread's Blas.Workspace: a double[] handed to the bytedeco binding is copied
  // into native memory and back on every call (at n = 11008 that was 180 MB of copies per row block and input, as much
  // time as the products). The inputs are widened a token row at a time straight into them, and the sums copied out
  // once per input.
  private DoublePointer left; // (chunkTokens, ROW_BLOCK)
  private DoublePointer right; // (chunkTokens, n − ROW_BLOCK)
  private DoublePointer diagonalNative; // (r, r), upper triangle
  private DoublePointer rectangleNative; // (r, n − r0 − r)
  private final double[] row; // (n): one token row in fp64
  private double[] diagonal; // (r, r), upper triangle
  private double[] rectangle; // (r, n − r0 − r)

  /** Scratch for Gram blocks of an n-wide input with inputs of at most {@code maxTokens} tokens. */
  public GramSlices(int n, int maxTokens) {
    this.n = n;
    this.maxRows = Math.max(1, Math.min(maxTokens, MAX_TOKENS_PER_UPDATE));
    this.row = new double[n];
  }

  private void allocate() {
    int r = Math.min(ROW_BLOCK, n);
    Blas.Workspace ws = Blas.workspace();
    left = ws.doubles(0, (long) maxRows * r);
    right = ws.doubles(1, (long) maxRows * Math.max(0, n - ROW_BLOCK));
    diagonalNative = ws.doubles(2, (long) r * r);
    rectangleNative = ws.doubles(3, (long) r * Math.max(0, n - r));
  }

  /** Index in the packed upper triangle of an (n, n) matrix of entry (i, i), the first of row i. */
  public static int packedRowStart(int n, int i) {
    long start = (long) i * n - (long) i * (i - 1) / 2;
    if (start > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("Packed triangle of an n = " + n + " matrix exceeds the largest Java array at row " + i);
    }
    return (int) start;
  }

  /** Entries of the packed upper triangle of an (n, n) matrix: n(n + 1)/2. */
  public static int packedSize(int n) {
    return packedRowStart(n, n);
  }

  /** Number of row blocks of an n-wide triangle. */
  public static int blocks(int n) {
    return (n + ROW_BLOCK - 1) / ROW_BLOCK;
  }

  /**
   * Rows [r0, r0 + r) of the packed upper triangle of Σ XᵀX over {@code inputs}, r = min(ROW_BLOCK, n − r0): entries
   * [packedRowStart(n, r0), packedRowStart(n, r0 + r)) of the triangle. Per input, with L = X[:, r0:r0+r]: the upper
   * triangle of the square LᵀL by {@code dsyrk} and the rectangle Lᵀ·X[:, r0+r:n] by {@code dgemm}, so no product below
   * the diagonal is computed.
   *
   * @param inputs each (tokens[k], n) row-major
   */
  public ExactSums rows(int r0, List<float[]> inputs, int[] tokens) {
    int r = Math.min(ROW_BLOCK, n - r0);
    int rest = n - r0 - r; // columns right of the square
    int start = packedRowStart(n, r0);
    ExactSums sums = new ExactSums(packedRowStart(n, r0 + r) - start);
    if (diagonal == null || diagonal.length < r * r) {
      diagonal = new double[r * r];
    }
    if (rectangle == null || rectangle.length < r * rest) {
      rectangle = new double[r * rest];
    }
    allocate();
    for (int k = 0; k < inputs.size(); k++) {
      float[] x = inputs.get(k);
      if (x.length != (long) tokens[k] * n) {
        throw new IllegalArgumentException("Cannot accumulate Σ XᵀX: expected input of shape (" + tokens[k] + ", " + n + ") = "
            + (long) tokens[k] * n + " values, got " + x.length);
      }
      Pointer.memset(diagonalNative, 0, 8L * r * r);
      Pointer.memset(rectangleNative, 0, 8L * r * rest);
      for (int t0 = 0; t0 < tokens[k]; t0 += MAX_TOKENS_PER_UPDATE) {
        int m = Math.min(MAX_TOKENS_PER_UPDATE, tokens[k] - t0);
        for (int t = 0; t < m; t++) {
          int src = (t0 + t) * n + r0;
          for (int j = 0; j < r + rest; j++) {
            row[j] = x[src + j];
          }
          left.position((long) t * r).put(row, 0, r);
          right.position((long) t * rest).put(row, r, rest);
        }
        left.position(0);
        right.position(0);
        openblas.cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, r, m, 1.0, left, r, 1.0, diagonalNative, r);
        if (rest > 0) {
          openblas.cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, rest, m, 1.0, left, r, right, rest, 1.0, rectangleNative, rest);
        }
      }
      diagonalNative.get(diagonal, 0, r * r);
      rectangleNative.get(rectangle, 0, r * rest);
      for (int i = 0; i < r; i++) { // row r0 + i of the upper triangle: columns r0 + i … r0 + r − 1, then r0 + r … n − 1
        int row = packedRowStart(n, r0 + i) - start;
        sums.add(diagonal, i * r + i, r - i, row);
        sums.add(rectangle, i * rest, rest, row + r - i);
      }
    }
    return sums;
  }
}
