package sparkslim.core.linalg;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Matrix products on Java arrays through the {@code cblas_sgemm} (fp32) and {@code cblas_dgemm} (fp64) of the OpenBLAS
 * that ND4J bundles (bytedeco).
 * Measured on the forward pass: ND4J's INDArray route spent most of its time allocating off-heap buffers and
 * re-laying out transposed views; the direct call keeps the same BLAS and drops that overhead.
 * All matrices are row-major.
 */
public final class Blas {
  private Blas() {}

  /** Sets OpenBLAS's thread count for this JVM (it is process-wide; ND4J's handle on the same library). */
  public static void setThreads(int threads) {
    Nd4j.factory().blas().setMaxThreads(Math.max(1, threads));
  }

  public static int threads() {
    return Nd4j.factory().blas().getMaxThreads();
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
