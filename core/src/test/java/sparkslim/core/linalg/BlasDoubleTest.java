package sparkslim.core.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The fp64 products against naive triple loops, on non-square shapes so that a swapped dimension shows. */
class BlasDoubleTest {
  private static final int M = 5;
  private static final int K = 7;
  private static final int N = 3;

  private static double[] random(int size, Random rnd) {
    double[] x = new double[size];
    for (int i = 0; i < size; i++) {
      x[i] = rnd.nextGaussian();
    }
    return x;
  }

  @Test
  void productsMatchNaiveLoops() {
    Random rnd = new Random(3);
    double[] a = random(M * K, rnd); // (M, K)
    double[] b = random(K * N, rnd); // (K, N)
    double[] bt = random(N * K, rnd); // (N, K)
    double[] c = Blas.dmatmul(a, M, K, b, N);
    double[] ct = Blas.dmatmulTransposed(a, M, K, bt, N);
    double[] acc = random(M * N, rnd);
    double[] acc0 = acc.clone();
    Blas.daddProduct(acc, -0.5, a, M, K, b, N);
    double[] b2 = random(M * N, rnd); // (M, N)
    double[] tacc = random(K * N, rnd); // (K, N)
    double[] tacc0 = tacc.clone();
    Blas.daddTransposedProduct(tacc, 2.0, a, M, K, b2, N); // += 2·Aᵀ·B2
    for (int i = 0; i < M; i++) {
      for (int j = 0; j < N; j++) {
        double ab = 0;
        double abt = 0;
        for (int k = 0; k < K; k++) {
          ab += a[i * K + k] * b[k * N + j];
          abt += a[i * K + k] * bt[j * K + k];
        }
        assertEquals(ab, c[i * N + j], 1e-12);
        assertEquals(abt, ct[i * N + j], 1e-12);
        assertEquals(acc0[i * N + j] - 0.5 * ab, acc[i * N + j], 1e-12);
      }
    }
    for (int k = 0; k < K; k++) {
      for (int j = 0; j < N; j++) {
        double atb = 0;
        for (int i = 0; i < M; i++) {
          atb += a[i * K + k] * b2[i * N + j];
        }
        assertEquals(tacc0[k * N + j] + 2.0 * atb, tacc[k * N + j], 1e-12);
      }
    }
  }
}
