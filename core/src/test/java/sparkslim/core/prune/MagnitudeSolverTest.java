package sparkslim.core.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import sparkslim.core.compress.CompressedLinear;

/** {@link MagnitudeSolver}: the reference's per-matrix threshold, N:M groups, s = 0, input checks. */
class MagnitudeSolverTest {
  private static final int ROWS = 16;
  private static final int COLS = 64;

  @ParameterizedTest
  @ValueSource(doubles = {0.3, 0.5, 0.7})
  void prunesEverythingAtOrBelowThePerMatrixThreshold(double sparsity) {
    float[] w = PruneFixtures.randomWeights(ROWS, COLS, 21);
    float[] original = w.clone();
    CompressedLinear.Masked result = new MagnitudeSolver(sparsity, MaskStructure.UNSTRUCTURED).solve(w, ROWS, COLS);
    assertArrayEquals(original, w, "input not modified");
    PruneFixtures.assertMaskedAreZero(result, ROWS, COLS);

    int numel = ROWS * COLS;
    float[] sorted = new float[numel];
    for (int i = 0; i < numel; i++) {
      sorted[i] = Math.abs(w[i]);
    }
    Arrays.sort(sorted);
    int k = (int) (numel * sparsity);
    int ties = 0;
    for (float v : sorted) {
      ties += v == sorted[k] ? 1 : 0;
    }
    // the reference rule prunes ⌊numel·s⌋ + 1 entries, plus ties of the threshold
    assertEquals(sparsity, result.sparsity(), (double) ties / numel + 1e-12);
    assertTrue(result.sparsity() > sparsity);
    for (int i = 0; i < numel; i++) {
      assertEquals(Math.abs(w[i]) <= sorted[k], result.mask().get(i), "entry " + i);
      if (!result.mask().get(i)) {
        assertEquals(w[i], result.weights()[i], 0.0, "kept entry unchanged");
      }
    }
    assertTrue(Double.isNaN(result.loss()));
    assertEquals(null, result.fallback());
  }

  @Test
  void zeroSparsityLeavesWeightsUnchanged() {
    float[] w = PruneFixtures.randomWeights(ROWS, COLS, 22);
    CompressedLinear.Masked result = new MagnitudeSolver(0, MaskStructure.UNSTRUCTURED).solve(w, ROWS, COLS);
    assertArrayEquals(w, result.weights());
    assertTrue(result.mask().isEmpty());
    assertEquals(0, result.sparsity(), 0.0);
  }

  @ParameterizedTest
  @CsvSource({"2, 4", "4, 8", "1, 4"})
  void nOfMPrunesTheSmallestInEachGroup(int n, int m) {
    float[] w = PruneFixtures.randomWeights(ROWS, COLS, 23);
    CompressedLinear.Masked result = new MagnitudeSolver(0.9, MaskStructure.nOfM(n, m)).solve(w, ROWS, COLS);
    PruneFixtures.assertNOfM(result, ROWS, COLS, n, m);
    for (int r = 0; r < ROWS; r++) {
      for (int g = 0; g < COLS; g += m) {
        float maxPruned = 0;
        float minKept = Float.MAX_VALUE;
        for (int j = g; j < g + m; j++) {
          float a = Math.abs(w[r * COLS + j]);
          if (result.mask().get(r * COLS + j)) {
            maxPruned = Math.max(maxPruned, a);
          } else {
            minKept = Math.min(minKept, a);
          }
        }
        assertTrue(maxPruned <= minKept, "row " + r + ", group " + g);
      }
    }
  }

  @Test
  void rejectsBadSparsityAndShapes() {
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> new MagnitudeSolver(1.2, MaskStructure.UNSTRUCTURED));
    assertEquals("Cannot create MagnitudeSolver: 'pruning.sparsity' is set to 1.2 but must be in [0, 1)", bad.getMessage());
    IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
        () -> new MagnitudeSolver(0.5, MaskStructure.UNSTRUCTURED).solve(new float[10], 2, 4));
    assertEquals("Cannot prune: weights of shape (2, 4) need 8 values, got 10", shape.getMessage());
  }
}
