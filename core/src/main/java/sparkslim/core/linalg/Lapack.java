package sparkslim.core.linalg;

import static org.bytedeco.openblas.global.openblas.LAPACK_COL_MAJOR;
import static org.bytedeco.openblas.global.openblas.LAPACK_ROW_MAJOR;

import org.bytedeco.openblas.global.openblas;

/**
 * Cholesky factorization and inverses through LAPACKE in the OpenBLAS that ND4J bundles (never ND4J's own
 * {@code InvertMatrix}/{@code Cholesky} ops, which are orders of magnitude slower). Row-major, in place.
 * <p>Row-major storage, column-major calls: a row-major triangle is the transposed triangle in column-major order, so
 * a row-major 'L' operation is the column-major 'U' one on the same buffer (and the other way round) with no copy.
 * LAPACKE's own row-major path transposes out of place: measured at n = 11008, spotrf took 10.0 s row-major against
 * 5.0 s column-major on the same matrix.
 * <p>JVMs must run with {@code OPENBLAS_CORETYPE=Haswell} (OpenBLAS 0.3.19's SkylakeX dpotrf is wrong for n ≥ 33)
 * and {@code -Xss8m} (multi-threaded LAPACK overflows the default thread stack); the launchers and the build set both.
 */
public final class Lapack {
  private static final byte UPPER = 'U';
  private static final byte LOWER = 'L';
  private static final byte NON_UNIT = 'N';

  private Lapack() {}

  /**
   * Lower Cholesky factor of a symmetric positive definite (n, n) matrix, in place (upper triangle zeroed).
   * Returns LAPACK's info: 0 on success, k &gt; 0 if the leading minor of order k is not positive definite.
   */
  public static int choleskyLower(double[] a, int n) {
    int info = openblas.LAPACKE_dpotrf(LAPACK_COL_MAJOR, UPPER, n, a, n);
    zeroTriangle(a, n, true);
    return info;
  }

  /** Upper Cholesky factor (fp32), in place (lower triangle zeroed); returns LAPACK's info. */
  public static int choleskyUpper(float[] a, int n) {
    int info = openblas.LAPACKE_spotrf(LAPACK_COL_MAJOR, LOWER, n, a, n);
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < i; j++) {
        a[i * n + j] = 0f;
      }
    }
    return info;
  }

  /**
   * Upper Cholesky factor (fp64) of a symmetric positive definite (n, n) matrix, in place (lower triangle zeroed):
   * A = Uᵀ·U. Returns LAPACK's info: 0 on success, k &gt; 0 if the leading minor of order k is not positive definite.
   */
  public static int choleskyUpper(double[] a, int n) {
    int info = openblas.LAPACKE_dpotrf(LAPACK_COL_MAJOR, LOWER, n, a, n);
    zeroTriangle(a, n, false);
    return info;
  }

  /**
   * Solves A·X = B for a symmetric positive definite (n, n) matrix A given its upper Cholesky factor U (A = Uᵀ·U, as
   * {@link #choleskyUpper(double[], int)} leaves it), fp64 {@code dpotrs}. B is (n, nrhs) row-major and is
   * overwritten with X. Returns LAPACK's info (0 on success, &lt; 0 for a bad argument).
   */
  public static int solveWithUpperCholesky(double[] u, int n, double[] b, int nrhs) {
    return openblas.LAPACKE_dpotrs(LAPACK_ROW_MAJOR, UPPER, n, nrhs, u, n, b, nrhs);
  }

  /**
   * Solves A·X = B for a symmetric positive definite (n, n) matrix A in fp64: {@code dpotrf} (upper) then
   * {@code dpotrs}. A is overwritten with its upper Cholesky factor, B (n, nrhs) row-major with X. Returns LAPACK's
   * info: 0 on success, k &gt; 0 if the leading minor of order k is not positive definite (B is then unchanged).
   */
  public static int solveSpd(double[] a, int n, double[] b, int nrhs) {
    int info = choleskyUpper(a, n);
    if (info != 0) {
      return info;
    }
    return solveWithUpperCholesky(a, n, b, nrhs);
  }

  /** Inverse of an SPD matrix from its lower Cholesky factor (fp64, in place, full symmetric result); returns info. */
  public static int inverseFromLowerCholesky(double[] l, int n) {
    int info = openblas.LAPACKE_dpotri(LAPACK_COL_MAJOR, UPPER, n, l, n);
    for (int i = 0; i < n; i++) {
      for (int j = i + 1; j < n; j++) {
        l[i * n + j] = l[j * n + i];
      }
    }
    return info;
  }

  /** Inverse of a lower-triangular (n, n) matrix, in place; returns info. */
  public static int invertLowerTriangular(double[] l, int n) {
    return openblas.LAPACKE_dtrtri(LAPACK_COL_MAJOR, UPPER, NON_UNIT, n, l, n);
  }

  private static void zeroTriangle(double[] a, int n, boolean upper) {
    for (int i = 0; i < n; i++) {
      for (int j = upper ? i + 1 : 0; upper ? j < n : j < i; j++) {
        a[i * n + j] = 0;
      }
    }
  }

  /** Lower Cholesky factor (fp32), in place (upper triangle zeroed); returns LAPACK's info. */
  public static int choleskyLower(float[] a, int n) {
    int info = openblas.LAPACKE_spotrf(LAPACK_COL_MAJOR, UPPER, n, a, n);
    for (int i = 0; i < n; i++) {
      for (int j = i + 1; j < n; j++) {
        a[i * n + j] = 0f;
      }
    }
    return info;
  }

  /** Inverse of a lower-triangular (n, n) fp32 matrix, in place; returns info. */
  public static int invertLowerTriangular(float[] l, int n) {
    return openblas.LAPACKE_strtri(LAPACK_COL_MAJOR, UPPER, NON_UNIT, n, l, n);
  }

  /**
   * Thin SVD of a row-major (m, n) matrix, fp64 {@code dgesdd}: A = U·diag(σ)·Vᵀ with r = min(m, n), σ descending.
   * A row-major (m, n) buffer is the column-major (n, m) matrix Aᵀ = V·Σ·Uᵀ, so the column-major call's U is our V and
   * its Vᵀ our U, both already in row-major order: no transposition. {@code a} is destroyed.
   *
   * @param u (m, r) output
   * @param sigma (r) output, descending
   * @param vt (r, n) output
   * @return LAPACK's info: 0 on success, &gt; 0 if the bidiagonal QR did not converge
   */
  public static int svd(double[] a, int m, int n, double[] u, double[] sigma, double[] vt) {
    int r = Math.min(m, n);
    return openblas.LAPACKE_dgesdd(LAPACK_COL_MAJOR, (byte) 'S', n, m, a, n, sigma, vt, n, u, r);
  }

  /** The smallest eigenvalue of a symmetric (n, n) matrix, fp64 {@code dsyevd} without vectors; {@code a} is destroyed. */
  public static double smallestEigenvalue(double[] a, int n) {
    double[] w = new double[n];
    int info = openblas.LAPACKE_dsyevd(LAPACK_COL_MAJOR, (byte) 'N', UPPER, n, a, n, w);
    if (info != 0) {
      throw new IllegalStateException("LAPACK dsyevd failed with info " + info + " on a " + n + "×" + n + " matrix");
    }
    return w[0];
  }

  /** B := B·L for a lower-triangular (n, n) L and a row-major (m, n) B, fp64 {@code dtrmm}. */
  public static void multiplyByLowerRight(double[] b, int m, int n, double[] l) {
    openblas.cblas_dtrmm(openblas.CblasRowMajor, openblas.CblasRight, openblas.CblasLower, openblas.CblasNoTrans,
        openblas.CblasNonUnit, m, n, 1.0, l, n, b, n);
  }

  /** B := B·L⁻¹ for a lower-triangular (n, n) L and a row-major (m, n) B, fp64 {@code dtrsm} (no inverse formed). */
  public static void solveByLowerRight(double[] b, int m, int n, double[] l) {
    openblas.cblas_dtrsm(openblas.CblasRowMajor, openblas.CblasRight, openblas.CblasLower, openblas.CblasNoTrans,
        openblas.CblasNonUnit, m, n, 1.0, l, n, b, n);
  }
}
