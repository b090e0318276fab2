package sparkslim.core.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.BitSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import sparkslim.core.compress.CompressedLinear;

/** {@link WandaSolver}: exact per-row sparsity on |W|·‖X_c‖, stable ties, N:M groups, s = 0. */
class WandaSolverTest {
  private static final int ROWS = 32;
  private static final int COLS = 256;

  @ParameterizedTest
  @ValueSource(doubles = {0.3, 0.5, 0.6})
  void prunesExactlyFloorColsTimesSPerRowWithTheSmallestMetric(double sparsity) {
    float[] w = PruneFixtures.randomWeights(ROWS, COLS, 31);
    float[] original = w.clone();
    double[] norms = PruneFixtures.calibration(COLS, 4, 16, 32).columnNorms();
    double[] normsCopy = norms.clone();
    CompressedLinear.Masked result = new WandaSolver(sparsity, MaskStructure.UNSTRUCTURED).solve(w, ROWS, COLS, norms);
    assertArrayEquals(original, w);
    assertArrayEquals(normsCopy, norms);
    PruneFixtures.assertMaskedAreZero(result, ROWS, COLS);
    int perRow = (int) (COLS * sparsity);
    for (int r = 0; r < ROWS; r++) {
      BitSet row = result.mask().get(r * COLS, (r + 1) * COLS);
      assertEquals(perRow, row.cardinality(), "row " + r);
      double maxPruned = 0;
      double minKept = Double.MAX_VALUE;
      for (int c = 0; c < COLS; c++) {
        double metric = Math.abs(w[r * COLS + c]) * norms[c];
        if (row.get(c)) {
          maxPruned = Math.max(maxPruned, metric);
        } else {
          minKept = Math.min(minKept, metric);
          assertEquals(w[r * COLS + c], result.weights()[r * COLS + c], 0.0);
        }
      }
      assertTrue(maxPruned <= minKept, "row " + r);
    }
    assertEquals((double) perRow / COLS, result.sparsity(), 1e-15);
    assertTrue(Double.isNaN(result.loss()));
  }

  @Test
  void tiesArePrunedInColumnOrderLikeAStableSort() {
    float[] w = new float[8];
    Arrays.fill(w, 1f);
    double[] norms = new double[8];
    Arrays.fill(norms, 2.0);
    CompressedLinear.Masked result = new WandaSolver(0.5, MaskStructure.UNSTRUCTURED).solve(w, 1, 8, norms);
    assertEquals("{0, 1, 2, 3}", result.mask().toString());
    assertArrayEquals(new float[] {0, 0, 0, 0, 1, 1, 1, 1}, result.weights());
  }

  @Test
  void zeroSparsityLeavesWeightsUnchanged() {
    float[] w = PruneFixtures.randomWeights(ROWS, COLS, 33);
    double[] norms = PruneFixtures.calibration(COLS, 2, 8, 34).columnNorms();
    CompressedLinear.Masked result = new WandaSolver(0, MaskStructure.UNSTRUCTURED).solve(w, ROWS, COLS, norms);
    assertArrayEquals(w, result.weights());
    assertTrue(result.mask().isEmpty());
  }

  @ParameterizedTest
  @CsvSource({"2, 4", "4, 8"})
  void nOfMPrunesTheSmallestMetricInEachGroup(int n, int m) {
    float[] w = PruneFixtures.randomWeights(ROWS, COLS, 35);
    double[] norms = PruneFixtures.calibration(COLS, 2, 8, 36).columnNorms();
    CompressedLinear.Masked result = new WandaSolver(0.5, MaskStructure.nOfM(n, m)).solve(w, ROWS, COLS, norms);
    PruneFixtures.assertNOfM(result, ROWS, COLS, n, m);
    for (int r = 0; r < ROWS; r++) {
      for (int g = 0; g < COLS; g += m) {
        double maxPruned = 0;
        double minKept = Double.MAX_VALUE;
        for (int c = g; c < g + m; c++) {
          double metric = Math.abs(w[r * COLS + c]) * norms[c];
          if (result.mask().get(r * COLS + c)) {
            maxPruned = Math.max(maxPruned, metric);
          } else {
            minKept = Math.min(minKept, metric);
          }
        }
        assertTrue(maxPruned <= minKept, "row " + r + ", group " + g);
      }
    }
  }

  @Test
  void rejectsNormsOfTheWrongLength() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new WandaSolver(0.5, MaskStructure.UNSTRUCTURED).solve(new float[8], 2, 4, new double[5]));
    assertEquals("Cannot prune with Wanda: weights have 4 input columns but the column norms have 5 entries", e.getMessage());
  }
}
