package sparkslim.core.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * LAPACK through the bundled OpenBLAS. Sizes ≥ 33 exercise the dpotrf bug of OpenBLAS 0.3.19's SkylakeX kernels,
 * which the build avoids with OPENBLAS_CORETYPE=Haswell; without it this test fails with info=33 on AVX-512 CPUs.
 */
class LapackTest {
  @ParameterizedTest
  @ValueSource(ints = {8, 33, 64, 256})
  void choleskyAndInverseOfSpdMatrix(int n) {
    Random rnd = new Random(n);
    double[] x = new double[n * n];
    for (int i = 0; i < x.length; i++) {
      x[i] = rnd.nextGaussian();
    }
    double[] a = new double[n * n]; // A = X·Xᵀ/n + I
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int k = 0; k < n; k++) {
          s += x[i * n + k] * x[j * n + k];
        }
        a[i * n + j] = s / n + (i == j ? 1 : 0);
      }
    }
    double[] l = a.clone();
    assertEquals(0, Lapack.choleskyLower(l, n), "dpotrf info");
    double maxErr = 0; // ‖L·Lᵀ − A‖∞
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int k = 0; k < n; k++) {
          s += l[i * n + k] * l[j * n + k];
        }
        maxErr = Math.max(maxErr, Math.abs(s - a[i * n + j]));
      }
    }
    assertEquals(0, maxErr, 1e-10);
    double[] inv = l.clone();
    assertEquals(0, Lapack.inverseFromLowerCholesky(inv, n));
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int k = 0; k < n; k++) {
          s += a[i * n + k] * inv[k * n + j];
        }
        assertEquals(i == j ? 1 : 0, s, 1e-9);
      }
    }
    double[] u = a.clone();
    assertEquals(0, Lapack.choleskyUpper(u, n), "dpotrf upper info");
    double maxUpperErr = 0; // ‖Uᵀ·U − A‖∞, U upper triangular
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int k = 0; k < n; k++) {
          s += u[k * n + i] * u[k * n + j];
        }
        maxUpperErr = Math.max(maxUpperErr, Math.abs(s - a[i * n + j]));
        if (j < i) {
          assertEquals(0.0, u[i * n + j], 0.0, "lower triangle zeroed");
        }
      }
    }
    assertEquals(0, maxUpperErr, 1e-10);
    float[] af = new float[n * n];
    for (int i = 0; i < af.length; i++) {
      af[i] = (float) a[i];
    }
    assertEquals(0, Lapack.choleskyUpper(af, n), "spotrf info");
  }

  @ParameterizedTest
  @ValueSource(ints = {8, 48})
  void solveSpdSolvesWithSeveralRightHandSides(int n) {
    Random rnd = new Random(100 + n);
    int nrhs = 5;
    double[] a = new double[n * n]; // A = X·Xᵀ/n + I
    double[] x = new double[n * n];
    for (int i = 0; i < x.length; i++) {
      x[i] = rnd.nextGaussian();
    }
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int k = 0; k < n; k++) {
          s += x[i * n + k] * x[j * n + k];
        }
        a[i * n + j] = s / n + (i == j ? 1 : 0);
      }
    }
    double[] b = new double[n * nrhs]; // (n, nrhs)
    for (int i = 0; i < b.length; i++) {
      b[i] = rnd.nextGaussian();
    }
    double[] solution = b.clone();
    assertEquals(0, Lapack.solveSpd(a.clone(), n, solution, nrhs));
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < nrhs; c++) {
        double s = 0;
        for (int k = 0; k < n; k++) {
          s += a[i * n + k] * solution[k * nrhs + c];
        }
        assertEquals(b[i * nrhs + c], s, 1e-10);
      }
    }
  }
}
