package sparkslim.core.linalg;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas;

/**
 * Matrix products on Java arrays through the {@code cblas_sgemm} (fp32) and {@code cblas_dgemm} (fp64) of the OpenBLAS
 * that ND4J bundles (bytedeco).
 * Measured on the forward pass: ND4J's INDArray route spent most of its time allocating off-heap buffers and
 * re-laying out transposed views; the direct call keeps the same BLAS and drops that overhead.
 * All matrices are row-major.
 */
public final class Blas {
  private Blas() {}

  /**
   * Sets OpenBLAS's thread count for this JVM (process-wide), on the bytedeco binding every product here goes
   * through. (Through ND4J's handle on the same library this first initialized the whole ND4J backend: 0.56 s of each
   * executor's first task.)
   */
  public static void setThreads(int threads) {
    openblas.blas_set_num_threads(Math.max(1, threads));
  }

  public static int threads() {
    return openblas.blas_get_num_threads();
  }

  /**
   * Per-thread off-heap operands for {@link #linear}. A {@code float[]} handed to the bytedeco binding is copied into
   * native memory before the call and back after it, every operand, even the ones the product only reads (HotSpot's
   * {@code Get/ReleaseFloatArrayElements}); measured on one core at the examples' shapes, that took 8–33% of each
   * product's time (docs/profile.md). Here the weight is written once into native memory (widened there when held
   * 16-bit), the input copied in once and the output copied out once. The buffers grow to the largest product a
   * thread has run and are kept for the thread's life: at LLaMA-7B shapes 180 MB for {@code down_proj}'s weight plus
   * rows × 11008 floats for the input and output.
   */
  public static final class Workspace {
    /** Slots of {@link #buffer}: 0–2 the operands of {@link #linear}; the others free for a kernel's own use. */
    public static final int ATTENTION_Q = 3;
    public static final int ATTENTION_K = 4;
    public static final int ATTENTION_V = 5;
    public static final int ATTENTION_SCORES = 6;
    public static final int ATTENTION_OUT = 7;
    public static final int ATTENTION_GRAD_OUT = 8;
    public static final int ATTENTION_GRAD_SCORES = 9;
    public static final int ATTENTION_GRAD_Q = 10;
    public static final int ATTENTION_GRAD_K = 11;
    public static final int ATTENTION_GRAD_V = 12;
    private final FloatPointer[] buffers = new FloatPointer[13];

    /** Native buffer {@code i} (a slot above) of at least {@code floats} floats, at position 0; its values are left as they were. */
    public FloatPointer buffer(int i, long floats) {
      FloatPointer p = buffers[i];
      if (p == null || p.capacity() < floats) {
        if (p != null) {
          p.close();
        }
        p = new FloatPointer(Math.max(floats, 1));
        buffers[i] = p;
      }
      return p.position(0);
    }

    private final DoublePointer[] doubles = new DoublePointer[4];

    /** Native fp64 buffer {@code i} ({@code 0 ≤ i < 4}: {@link GramSlices}'s operands) of at least {@code n} doubles, at position 0. */
    public DoublePointer doubles(int i, long n) {
      DoublePointer p = doubles[i];
      if (p == null || p.capacity() < Math.max(1, n)) {
        if (p != null) {
          p.close();
        }
        p = new DoublePointer(Math.max(1, n));
        doubles[i] = p;
      }
      return p.position(0);
    }

    /** The weight operand, at least {@code floats} long; write it from position 0 before {@link #linear}. */
    public FloatPointer weight(long floats) {
      return buffer(1, floats);
    }
  }

  private static final ThreadLocal<Workspace> WORKSPACE = ThreadLocal.withInitial(Workspace::new);

  /** This thread's workspace. */
  public static Workspace workspace() {
    return WORKSPACE.get();
  }

  /**
   * y = x·Wᵀ with x (m, k) and W (n, k) already written into {@code ws.weight}; returns y (m, n). The same sgemm call,
   * operands and result as {@link #matmulTransposed}, without the binding's copies of W.
   */
  public static float[] linear(Workspace ws, float[] x, int m, int k, int n) {
    FloatPointer a = ws.buffer(0, (long) m * k);
    FloatPointer c = ws.buffer(2, (long) m * n);
    a.put(x, 0, m * k);
    openblas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1f, a, k, ws.buffers[1].position(0), k, 0f, c.position(0), n);
    float[] y = new float[m * n];
    c.get(y, 0, m * n);
    return y;
  }

  /**
   * C = A·op(B) on row-major sub-matrices of native buffers, op(B) = Bᵀ when {@code transB}: A (m, k) starts at element
   * {@code aOff} of {@code a} with row stride {@code lda}; B (n, k) or (k, n) at {@code bOff} with stride {@code ldb};
   * C (m, n) at {@code cOff} with stride {@code ldc}. Strides pick heads out of a (rows, heads·headDim) matrix without
   * copying; the product's arithmetic is the same as on a packed copy.
   */
  public static void gemm(boolean transB, int m, int n, int k, FloatPointer a, long aOff, int lda, FloatPointer b, long bOff, int ldb,
                          FloatPointer c, long cOff, int ldc) {
    gemm(false, transB, m, n, k, 1f, a, aOff, lda, b, bOff, ldb, 0f, c, cOff, ldc);
  }

  /**
   * C = alpha·op(A)·op(B) + beta·C on row-major sub-matrices of native buffers (as {@link #gemm(boolean, int, int, int,
   * FloatPointer, long, int, FloatPointer, long, int, FloatPointer, long, int)}), op(A) = Aᵀ when {@code transA}: A is
   * then stored (k, m).
   */
  public static void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, FloatPointer a, long aOff, int lda,
                          FloatPointer b, long bOff, int ldb, float beta, FloatPointer c, long cOff, int ldc) {
    try {
      openblas.cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, alpha,
          a.position(aOff), lda, b.position(bOff), ldb, beta, c.position(cOff), ldc);
    } finally {
      a.position(0);
      b.position(0);
      c.position(0);
    }
  }

  /**
   * dx += dy·W with dy (m, n), W (n, k) already written into {@code ws.weight} and dx (m, k): the input gradient of
   * {@link #linear}; the same sgemm call as {@link #addProduct}, without the binding's copies of W.
   */
  public static void addLinearInputGradient(Workspace ws, float[] dx, float[] dy, int m, int n, int k) {
    FloatPointer a = ws.buffer(0, (long) m * n);
    FloatPointer c = ws.buffer(2, (long) m * k);
    a.put(dy, 0, m * n);
    c.put(dx, 0, m * k);
    openblas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1f, a, n, ws.buffers[1].position(0), k, 1f, c, k);
    c.get(dx, 0, m * k);
  }

  /**
   * dW += dyᵀ·x with dy (m, n), x (m, k), dW (n, k): the weight gradient of {@link #linear}; the same sgemm call as
   * {@link #addTransposedProduct}, with one copy of each operand in and of dW out. Uses {@code ws}'s three operands
   * (the weight written for an input gradient is overwritten).
   */
  public static void addLinearWeightGradient(Workspace ws, float[] dW, float[] dy, int m, int n, float[] x, int k) {
    FloatPointer a = ws.buffer(0, (long) m * n);
    FloatPointer b = ws.buffer(1, (long) m * k);
    FloatPointer c = ws.buffer(2, (long) n * k);
    a.put(dy, 0, m * n);
    b.put(x, 0, m * k);
    c.put(dW, 0, n * k);
    openblas.cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, m, 1f, a, n, b, k, 1f, c, k);
    c.get(dW, 0, n * k);
  }

  /** Writes {@code values} into {@code dst} from element 0. */
  public static void put(FloatPointer dst, float[] values) {
    dst.position(0).put(values, 0, values.length);
  }

  /** C = A·Bᵀ with A (m, k), B (n, k); returns C (m, n). The layout of {@code y = x·Wᵀ} for a HF Linear weight W (out, in). */
  public static float[] matmulTransposed(float[] a, int m, int k, float[] b, int n) {
    float[] c = new float[m * n];
    openblas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1f, a, k, b, k, 0f, c, n);
    return c;
  }

  /** An fp32 copy of fp64 values, each rounded to nearest (e.g. M⁻¹ for the executors, factors computed in fp64). */
  public static float[] toFloat(double[] values) {
    float[] result = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      result[i] = (float) values[i];
    }
    return result;
  }

  /** C = A·B with A (m, k), B (k, n); returns C (m, n). */
  public static float[] matmul(float[] a, int m, int k, float[] b, int n) {
    float[] c = new float[m * n];
    openblas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1f, a, k, b, n, 0f, c, n);
    return c;
  }

  /**
   * C += alpha·A·B in place, with A (m, k), B (k, n), C (m, n). The SparseGPT lazy batch update
   * {@code W[:, i2:] -= Err1·U[i1:i2, i2:]} is this with alpha = −1.
   */
  public static void addProduct(float[] c, float alpha, float[] a, int m, int k, float[] b, int n) {
    openblas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, a, k, b, n, 1f, c, n);
  }

  /**
   * C += alpha·A·B on off-heap row-major sub-matrices: C (m, n) starts at element {@code cOffset} of {@code c} with
   * row stride {@code ldc}; B (k, n) starts at {@code bOffset} of {@code b} with row stride {@code ldb}; A (m, k) is a
   * dense Java array. No copies of B or C are made.
   */
  public static void addProductInPlace(FloatPointer c, long cOffset, int ldc, float alpha, float[] a, int m, int k, FloatPointer b, long bOffset,
                                       int ldb, int n) {
    try (FloatPointer aNative = new FloatPointer(a)) {
      openblas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, aNative, k, b.position(bOffset), ldb, 1f,
          c.position(cOffset), ldc);
    } finally {
      b.position(0);
      c.position(0);
    }
  }

  /**
   * C += alpha·Aᵀ·B in place, with A (m, k), B (m, n), C (k, n). The weight gradient of {@code y = x·Wᵀ}:
   * dW (out, in) += dYᵀ·X with dY (rows, out), X (rows, in).
   */
  public static void addTransposedProduct(float[] c, float alpha, float[] a, int m, int k, float[] b, int n) {
    openblas.cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m, alpha, a, k, b, n, 1f, c, n);
  }

  /** C += alpha·A·Bᵀ in place, with A (m, k), B (n, k), C (m, n). */
  public static void addProductTransposed(float[] c, float alpha, float[] a, int m, int k, float[] b, int n) {
    openblas.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, alpha, a, k, b, k, 1f, c, n);
  }

  /** fp64 C = A·Bᵀ with A (m, k), B (n, k); returns C (m, n). */
  public static double[] dmatmulTransposed(double[] a, int m, int k, double[] b, int n) {
    double[] c = new double[m * n];
    openblas.cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0, a, k, b, k, 0.0, c, n);
    return c;
  }

  /** fp64 C = A·B with A (m, k), B (k, n); returns C (m, n). */
  public static double[] dmatmul(double[] a, int m, int k, double[] b, int n) {
    double[] c = new double[m * n];
    openblas.cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, k, b, n, 0.0, c, n);
    return c;
  }

  /** fp64 C += alpha·A·B in place, with A (m, k), B (k, n), C (m, n). */
  public static void daddProduct(double[] c, double alpha, double[] a, int m, int k, double[] b, int n) {
    openblas.cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, a, k, b, n, 1.0, c, n);
  }

  /**
   * fp64 C += alpha·Aᵀ·B in place, with A (m, k), B (m, n), C (k, n). The weight gradient of {@code y = x·Wᵀ}:
   * dW (out, in) += dYᵀ·X with dY (rows, out), X (rows, in).
   */
  public static void daddTransposedProduct(double[] c, double alpha, double[] a, int m, int k, double[] b, int n) {
    openblas.cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m, alpha, a, k, b, n, 1.0, c, n);
  }
}
