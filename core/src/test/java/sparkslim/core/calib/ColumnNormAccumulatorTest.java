package sparkslim.core.calib;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link ColumnNormAccumulator}: the norms, partition independence, empty merges and size checks. */
class ColumnNormAccumulatorTest {
  private static final int IN_FEATURES = 24;

  @Test
  void columnNormsAreRootMeanOverSequencesOfSquaredColumnNorms() {
    List<float[]> data = HessianAccumulatorTest.sequences(IN_FEATURES, 11);
    ColumnNormAccumulator acc = new ColumnNormAccumulator(IN_FEATURES);
    double[] expected = new double[IN_FEATURES]; // the reference's running mean S_c, then sqrt
    int n = 0;
    for (float[] x : data) {
      int tokens = HessianAccumulatorTest.tokens(x, IN_FEATURES);
      acc.add(x, tokens);
      n++;
      for (int c = 0; c < IN_FEATURES; c++) {
        double norm2 = 0;
        for (int t = 0; t < tokens; t++) {
          norm2 += (double) x[t * IN_FEATURES + c] * x[t * IN_FEATURES + c];
        }
        expected[c] = expected[c] * (n - 1) / n + norm2 / n;
      }
    }
    double[] norms = acc.columnNorms();
    for (int c = 0; c < IN_FEATURES; c++) {
      assertEquals(Math.sqrt(expected[c]), norms[c], 1e-12 * norms[c], "column " + c);
    }
    assertEquals(data.size(), acc.numSamples());
  }

  @Test
  void partitionedMergeEqualsSequential() {
    List<float[]> data = HessianAccumulatorTest.sequences(IN_FEATURES, 12);
    ColumnNormAccumulator local = new ColumnNormAccumulator(IN_FEATURES);
    List<ColumnNormAccumulator> parts = new ArrayList<>();
    for (int p = 0; p < 7; p++) {
      parts.add(new ColumnNormAccumulator(IN_FEATURES));
    }
    for (int s = 0; s < data.size(); s++) {
      float[] x = data.get(s);
      local.add(x, HessianAccumulatorTest.tokens(x, IN_FEATURES));
      parts.get(s * 7 / data.size()).add(x, HessianAccumulatorTest.tokens(x, IN_FEATURES));
    }
    ColumnNormAccumulator merged = ColumnNormAccumulator.mergeAll(parts);
    assertEquals(local.numTokens(), merged.numTokens());
    double[] expected = local.columnNorms();
    double[] actual = merged.columnNorms();
    for (int c = 0; c < IN_FEATURES; c++) {
      assertEquals(expected[c], actual[c], 1e-12 * expected[c]);
    }
    assertArrayEquals(actual, ColumnNormAccumulator.mergeAll(parts).columnNorms(), "fixed merge order: bitwise");
    assertArrayEquals(local.sumSquares(), new ColumnNormAccumulator(IN_FEATURES).merge(local).sumSquares(), "empty this");
    assertArrayEquals(expected, local.merge(new ColumnNormAccumulator(IN_FEATURES)).columnNorms(), "empty other");
  }

  @Test
  void dimensionMismatchNamesBothSizes() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new ColumnNormAccumulator(24).merge(new ColumnNormAccumulator(16)));
    assertEquals("Cannot merge column norm accumulators of different sizes: this has inFeatures 24, other has inFeatures 16", e.getMessage());
  }
}
