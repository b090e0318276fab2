package sparkslim.core.linalg;

import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.CblasUpper;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.bytedeco.openblas.global.openblas;
import org.junit.jupiter.api.Test;

/**
 * The row blocks of {@link GramSlices} hold, bit for bit, the sums of each input's whole-matrix {@code dsyrk} (one BLAS
 * thread, as in Spark tasks): the statistics the pruned models of earlier versions were built from. Widths cover one
 * block, several blocks and a ragged last block. Measured with OpenBLAS 0.3.19: equal for windows of 128, 256 and 512
 * tokens; a 300-token window gives last-bit differences in some entries (the two routines split K differently), which
 * changes nothing about exactness across partitionings, only the match with the older dsyrk statistics.
 */
class GramSlicesTest {
  @Test
  void rowBlocksEqualWholeMatrixDsyrk() {
    int threads = Blas.threads();
    Blas.setThreads(1);
    try {
      for (int n : new int[] {256, 768, 1100}) {
        Random r = new Random(n);
        List<float[]> inputs = new ArrayList<>();
        int[] tokens = {512, 128};
        ExactSums reference = new ExactSums(GramSlices.packedSize(n));
        for (int t : tokens) {
          float[] x = new float[t * n]; // (t, n)
          for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() * (i % 7 == 0 ? 0.0 : 1.0));
          }
          inputs.add(x);
          double[] xd = new double[x.length];
          for (int i = 0; i < x.length; i++) {
            xd[i] = x[i];
          }
          double[] c = new double[n * n]; // (n, n), upper triangle
          openblas.cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, t, 1.0, xd, n, 0.0, c, n);
          for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
              reference.add(GramSlices.packedRowStart(n, i) + j - i, c[i * n + j]);
            }
          }
        }
        GramSlices gram = new GramSlices(n, 512);
        ExactSums sliced = new ExactSums(GramSlices.packedSize(n));
        int blocks = 0;
        for (int r0 = 0; r0 < n; r0 += GramSlices.ROW_BLOCK, blocks++) {
          sliced.mergeAt(GramSlices.packedRowStart(n, r0), gram.rows(r0, inputs, tokens));
        }
        assertEquals(GramSlices.blocks(n), blocks);
        double[] a = reference.toDoubles();
        double[] b = sliced.toDoubles();
        int mismatches = 0;
        for (int i = 0; i < a.length; i++) {
          mismatches += Double.doubleToRawLongBits(a[i]) == Double.doubleToRawLongBits(b[i]) ? 0 : 1;
        }
        assertEquals(0, mismatches, "n = " + n + ": entries differing from dsyrk");
      }
    } finally {
      Blas.setThreads(threads);
    }
  }

  @Test
  void packedIndices() {
    assertEquals(0, GramSlices.packedRowStart(5, 0));
    assertEquals(5, GramSlices.packedRowStart(5, 1));
    assertEquals(15, GramSlices.packedSize(5));
    assertEquals(11008L * 11009 / 2, GramSlices.packedSize(11008));
  }
}
