package sparkslim.core.calib;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Merge semantics and partition independence of {@link HessianAccumulator}, in the manner of Spark's
 * RDDLossFunctionSuite (distributed equals local) and DifferentiableLossAggregatorSuite (merge semantics).
 */
class HessianAccumulatorTest {
  private static final int IN_FEATURES = 24;
  private static final int NUM_SEQUENCES = 14;
  private static final double RELATIVE_TOLERANCE = 1e-12;

  /** 14 sequences of 5..44 tokens, fixed seed; some columns scaled so entries span several orders of magnitude. */
  static List<float[]> sequences(int inFeatures, long seed) {
    Random rnd = new Random(seed);
    List<float[]> result = new ArrayList<>();
    for (int s = 0; s < NUM_SEQUENCES; s++) {
      int tokens = 5 + rnd.nextInt(40);
      float[] x = new float[tokens * inFeatures]; // (tokens, inFeatures)
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (rnd.nextGaussian() * (1 + (i % inFeatures) % 5 * 3));
      }
      result.add(x);
    }
    return result;
  }

  static int tokens(float[] x, int inFeatures) {
    return x.length / inFeatures;
  }

  /** Sample by sample, in list order: the "local" accumulator. */
  private static HessianAccumulator sequential(List<float[]> data) {
    HessianAccumulator acc = new HessianAccumulator(IN_FEATURES);
    for (float[] x : data) {
      acc.add(x, tokens(x, IN_FEATURES));
    }
    return acc;
  }

  /** Contiguous partitions as Spark's parallelize makes them; partials built last-partition-first. */
  private static List<HessianAccumulator> partials(List<float[]> data, int numPartitions) {
    HessianAccumulator[] parts = new HessianAccumulator[numPartitions];
    for (int p = numPartitions - 1; p >= 0; p--) {
      parts[p] = new HessianAccumulator(IN_FEATURES);
      int from = p * data.size() / numPartitions;
      int to = (p + 1) * data.size() / numPartitions;
      for (float[] x : data.subList(from, to)) {
        parts[p].add(x, tokens(x, IN_FEATURES));
      }
    }
    return List.of(parts);
  }

  /** Straightforward Σ xᵀx in fp64, the independent reference. */
  private static double[] naiveSum(List<float[]> data, int inFeatures) {
    double[] sum = new double[inFeatures * inFeatures];
    for (float[] x : data) {
      for (int t = 0; t < tokens(x, inFeatures); t++) {
        for (int i = 0; i < inFeatures; i++) {
          for (int j = 0; j < inFeatures; j++) {
            sum[i * inFeatures + j] += (double) x[t * inFeatures + i] * x[t * inFeatures + j];
          }
        }
      }
    }
    return sum;
  }

  private static void assertClose(double[] expected, double[] actual) {
    double scale = 0;
    for (double v : expected) {
      scale = Math.max(scale, Math.abs(v));
    }
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], RELATIVE_TOLERANCE * scale, "entry " + i);
    }
  }

  @Test
  void sequentialMatchesNaiveSumAndCounts() {
    List<float[]> data = sequences(IN_FEATURES, 1);
    HessianAccumulator acc = sequential(data);
    assertClose(naiveSum(data, IN_FEATURES), acc.sum());
    assertEquals(NUM_SEQUENCES, acc.numSamples());
    assertEquals(data.stream().mapToLong(x -> tokens(x, IN_FEATURES)).sum(), acc.numTokens());
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 7})
  void partitionedMergeEqualsSequential(int numPartitions) {
    List<float[]> data = sequences(IN_FEATURES, 2);
    HessianAccumulator local = sequential(data);
    HessianAccumulator merged = HessianAccumulator.mergeAll(partials(data, numPartitions));
    assertEquals(local.numSamples(), merged.numSamples());
    assertEquals(local.numTokens(), merged.numTokens());
    // exact fixed-point sums: bitwise equal for every partitioning and merge order
    assertArrayEquals(local.sum(), merged.sum(), numPartitions + " partitions: bitwise equal");
    java.util.List<HessianAccumulator> reversed = new java.util.ArrayList<>(partials(data, numPartitions));
    java.util.Collections.reverse(reversed);
    assertArrayEquals(local.finish(), HessianAccumulator.mergeAll(reversed).finish(), "reversed merge order: bitwise equal");
    assertClose(local.sum(), merged.sum());
    assertClose(local.finish(), merged.finish());

    // A fixed merge order is bitwise reproducible: fresh partials, and a hand-written fold in the same order
    HessianAccumulator again = HessianAccumulator.mergeAll(partials(data, numPartitions));
    assertArrayEquals(merged.sum(), again.sum());
    assertArrayEquals(merged.finish(), again.finish());
    HessianAccumulator fold = new HessianAccumulator(IN_FEATURES);
    for (HessianAccumulator partial : partials(data, numPartitions)) {
      fold.merge(partial);
    }
    assertArrayEquals(merged.finish(), fold.finish());
  }

  @Test
  void mergeAllLeavesPartialsUnchanged() {
    List<float[]> data = sequences(IN_FEATURES, 3);
    List<HessianAccumulator> parts = partials(data, 2);
    double[] first = parts.get(0).sum();
    HessianAccumulator.mergeAll(parts);
    assertArrayEquals(first, parts.get(0).sum());
    assertEquals(NUM_SEQUENCES / 2, parts.get(0).numSamples());
  }

  @Test
  void emptyMerges() {
    HessianAccumulator full = sequential(sequences(IN_FEATURES, 4));
    double[] expected = full.sum();

    HessianAccumulator emptyThis = new HessianAccumulator(IN_FEATURES).merge(full);
    assertArrayEquals(expected, emptyThis.sum());
    assertEquals(full.numSamples(), emptyThis.numSamples());
    assertEquals(full.numTokens(), emptyThis.numTokens());

    full.merge(new HessianAccumulator(IN_FEATURES));
    assertArrayEquals(expected, full.sum());
    assertEquals(NUM_SEQUENCES, full.numSamples());

    HessianAccumulator bothEmpty = new HessianAccumulator(IN_FEATURES).merge(new HessianAccumulator(IN_FEATURES));
    assertEquals(0, bothEmpty.numSamples());
    assertArrayEquals(new double[IN_FEATURES * IN_FEATURES], bothEmpty.sum());
    IllegalStateException e = assertThrows(IllegalStateException.class, bothEmpty::finish);
    assertEquals("Cannot finish Hessian: no calibration samples were added", e.getMessage());
  }

  @Test
  void dimensionMismatchNamesBothSizes() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new HessianAccumulator(24).merge(new HessianAccumulator(16)));
    assertEquals("Cannot merge Hessian accumulators of different sizes: this has inFeatures 24, other has inFeatures 16", e.getMessage());

    IllegalArgumentException add = assertThrows(IllegalArgumentException.class, () -> new HessianAccumulator(24).add(new float[47], 2));
    assertEquals("Cannot accumulate Hessian: expected input of shape (2, 24) = 48 values, got 47", add.getMessage());
  }

  @Test
  void finishIsTwoOverNumSamplesTimesSum() {
    HessianAccumulator acc = sequential(sequences(IN_FEATURES, 5));
    double[] sum = acc.sum();
    double[] h = acc.finish();
    for (int i = 0; i < sum.length; i++) {
      assertEquals(2.0 / NUM_SEQUENCES * sum[i], h[i], 0.0, "entry " + i);
    }
    for (int i = 0; i < IN_FEATURES; i++) {
      for (int j = 0; j < IN_FEATURES; j++) {
        assertEquals(h[i * IN_FEATURES + j], h[j * IN_FEATURES + i], 0.0, "symmetric");
      }
    }
  }

  @Test
  void longSequenceSpansSeveralBlasCalls() {
    int inFeatures = 8;
    int numTokens = HessianAccumulator.MAX_TOKENS_PER_UPDATE * 2 + 17;
    Random rnd = new Random(6);
    float[] x = new float[numTokens * inFeatures];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    HessianAccumulator acc = new HessianAccumulator(inFeatures).add(x, numTokens);
    assertClose(naiveSum(List.of(x), inFeatures), acc.sum());
    assertEquals(1, acc.numSamples());
    assertEquals(numTokens, acc.numTokens());
  }
}
