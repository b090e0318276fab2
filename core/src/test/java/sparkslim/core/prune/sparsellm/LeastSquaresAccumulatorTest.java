package sparkslim.core.prune.sparsellm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.FFN;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.HIDDEN;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.SAMPLE_TOKENS;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.gaussian;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import sparkslim.core.calib.HessianAccumulator;
import sparkslim.core.linalg.ExactSums;

/**
 * {@link LeastSquaresAccumulator} and {@link FfnStatistics}: distributed equals local, bitwise (Spark's
 * RDDLossFunctionSuite), merge semantics (DifferentiableLossAggregatorSuite), and the sums against a direct fp64
 * computation.
 */
class LeastSquaresAccumulatorTest {
  private static final double RELATIVE_TOLERANCE = 1e-12;

  /** One sample per entry of SAMPLE_TOKENS: {a (n, HIDDEN), b (n, FFN)}, columns of a on different scales. */
  private static List<float[][]> samples(long seed) {
    Random rnd = new Random(seed);
    List<float[][]> result = new ArrayList<>();
    for (int n : SAMPLE_TOKENS) {
      float[] a = gaussian(rnd, n * HIDDEN, 1);
      for (int i = 0; i < a.length; i++) {
        a[i] *= 1 + (i % HIDDEN) % 4 * 5;
      }
      result.add(new float[][] {a, gaussian(rnd, n * FFN, 3)});
    }
    return result;
  }

  /** Contiguous partitions as Spark's parallelize makes them, each partial built, then merged last-first. */
  private static LeastSquaresAccumulator partitioned(List<float[][]> data, int numPartitions) {
    List<LeastSquaresAccumulator> parts = new ArrayList<>();
    for (int part = 0; part < numPartitions; part++) {
      LeastSquaresAccumulator acc = new LeastSquaresAccumulator(HIDDEN, FFN);
      for (float[][] sample : data.subList(part * data.size() / numPartitions, (part + 1) * data.size() / numPartitions)) {
        acc.add(sample[0], sample[1], sample[0].length / HIDDEN);
      }
      parts.add(acc);
    }
    LeastSquaresAccumulator merged = new LeastSquaresAccumulator(HIDDEN, FFN);
    for (int part = numPartitions - 1; part >= 0; part--) {
      merged.merge(parts.get(part));
    }
    return merged;
  }

  @ParameterizedTest
  @ValueSource(ints = {2, 3})
  void partitionsGiveBitwiseIdenticalSums(int numPartitions) {
    List<float[][]> data = samples(11);
    LeastSquaresAccumulator single = partitioned(data, 1);
    LeastSquaresAccumulator split = partitioned(data, numPartitions);
    assertTrue(Arrays.equals(single.sumAtA(), split.sumAtA()), "ΣAᵀA");
    assertTrue(Arrays.equals(single.sumBtA(), split.sumBtA()), "ΣBᵀA");
    assertTrue(Arrays.equals(single.sumA(), split.sumA()), "ΣA");
    assertTrue(Arrays.equals(single.sumB(), split.sumB()), "ΣB");
    assertEquals(single.numSamples(), split.numSamples());
    assertEquals(single.numTokens(), split.numTokens());
  }

  @Test
  void sumsMatchDirectFp64Computation() {
    List<float[][]> data = samples(12);
    LeastSquaresAccumulator acc = partitioned(data, 1);
    double[] atA = new double[HIDDEN * HIDDEN];
    double[] btA = new double[FFN * HIDDEN];
    double[] colA = new double[HIDDEN];
    double[] colB = new double[FFN];
    for (float[][] sample : data) {
      float[] a = sample[0];
      float[] b = sample[1];
      for (int t = 0; t < a.length / HIDDEN; t++) {
        for (int i = 0; i < HIDDEN; i++) {
          colA[i] += a[t * HIDDEN + i];
          for (int j = 0; j < HIDDEN; j++) {
            atA[i * HIDDEN + j] += (double) a[t * HIDDEN + i] * a[t * HIDDEN + j];
          }
          for (int o = 0; o < FFN; o++) {
            btA[o * HIDDEN + i] += (double) b[t * FFN + o] * a[t * HIDDEN + i];
          }
        }
        for (int o = 0; o < FFN; o++) {
          colB[o] += b[t * FFN + o];
        }
      }
    }
    assertClose(atA, acc.sumAtA());
    assertClose(btA, acc.sumBtA());
    assertClose(colA, acc.sumA());
    assertClose(colB, acc.sumB());
    assertEquals(SAMPLE_TOKENS.length, acc.numSamples());
    assertEquals(Arrays.stream(SAMPLE_TOKENS).sum(), acc.numTokens());
  }

  /** Several row blocks of both products, several token chunks, and two stacked targets that split a row block. */
  @Test
  void blockedProductsMatchDirectFp64Computation() {
    int in = LeastSquaresAccumulator.ROW_BLOCK + 37;
    int[] widths = {300, LeastSquaresAccumulator.ROW_BLOCK - 295};
    int out = widths[0] + widths[1];
    int rows = LeastSquaresAccumulator.MAX_TOKENS_PER_UPDATE + 50;
    Random rnd = new Random(21);
    float[] a = gaussian(rnd, rows * in, 1); // (rows, in)
    float[] b0 = gaussian(rnd, rows * widths[0], 1); // (rows, widths[0])
    float[] b1 = gaussian(rnd, rows * widths[1], 1); // (rows, widths[1])
    LeastSquaresAccumulator acc = new LeastSquaresAccumulator(in, out).addStacked(a, rows, b0, b1);
    double[] atA = new double[in * in];
    double[] btA = new double[out * in];
    double[] row = new double[in];
    for (int t = 0; t < rows; t++) {
      for (int i = 0; i < in; i++) {
        row[i] = a[t * in + i];
      }
      for (int i = 0; i < in; i++) {
        for (int j = 0; j < in; j++) {
          atA[i * in + j] += row[i] * row[j];
        }
      }
      for (int o = 0; o < out; o++) {
        double bo = o < widths[0] ? b0[t * widths[0] + o] : b1[t * widths[1] + o - widths[0]];
        for (int i = 0; i < in; i++) {
          btA[o * in + i] += bo * row[i];
        }
      }
    }
    assertClose(atA, acc.sumAtA());
    assertClose(btA, acc.sumBtA());
    assertEquals(rows, acc.numTokens());
  }

  /** A partition's samples summed slice by slice equal the samples added one by one, bitwise, over several row blocks. */
  @Test
  void slicesOfSeveralSamplesEqualOneByOne() {
    int in = LeastSquaresAccumulator.ROW_BLOCK + 9;
    int[] widths = {20, 13};
    Random rnd = new Random(5);
    List<LeastSquaresSlices.Sample> samples = new ArrayList<>();
    LeastSquaresAccumulator oneByOne = new LeastSquaresAccumulator(in, widths[0] + widths[1]);
    for (int rows : new int[] {7, 40, 1}) {
      LeastSquaresSlices.Sample s = new LeastSquaresSlices.Sample(gaussian(rnd, rows * in, 1), rows, gaussian(rnd, rows * widths[0], 1),
          gaussian(rnd, rows * widths[1], 1));
      samples.add(s);
      oneByOne.addStacked(s.a(), rows, s.targets());
    }
    LeastSquaresAccumulator sliced = new LeastSquaresAccumulator(in, widths[0] + widths[1]).addAll(samples);
    List<ExactSums> a = oneByOne.components();
    List<ExactSums> b = sliced.components();
    for (int c = 0; c < a.size(); c++) {
      assertArrayEquals(a.get(c).toDoubles(), b.get(c).toDoubles(), 0.0, "component " + c);
    }
    assertEquals(3, sliced.numSamples());
    assertEquals(48, sliced.numTokens());
  }

  @Test
  void hessianEqualsHessianAccumulator() {
    List<float[][]> data = samples(13);
    LeastSquaresAccumulator acc = partitioned(data, 1);
    HessianAccumulator reference = new HessianAccumulator(HIDDEN);
    data.forEach(sample -> reference.add(sample[0], sample[0].length / HIDDEN));
    assertArrayEquals(reference.finish(), acc.hessian(), 0.0);
  }

  @Test
  void stackedTargetsEqualSeparateFits() {
    Random rnd = new Random(14);
    int n = 30;
    float[] a = gaussian(rnd, n * HIDDEN, 1);
    float[] z = gaussian(rnd, n * FFN, 1);
    float[] s = gaussian(rnd, n * FFN, 1);
    LeastSquaresAccumulator stacked = new LeastSquaresAccumulator(HIDDEN, 2 * FFN).addStacked(a, n, z, s);
    double[] zPart = new LeastSquaresAccumulator(HIDDEN, FFN).add(a, z, n).sumBtA();
    double[] sPart = new LeastSquaresAccumulator(HIDDEN, FFN).add(a, s, n).sumBtA();
    double[] both = stacked.sumBtA();
    assertArrayEquals(zPart, Arrays.copyOfRange(both, 0, FFN * HIDDEN), 0.0);
    assertArrayEquals(sPart, Arrays.copyOfRange(both, FFN * HIDDEN, 2 * FFN * HIDDEN), 0.0);
  }

  @Test
  void mergeWithEmptyOnEitherSide() {
    List<float[][]> data = samples(15);
    LeastSquaresAccumulator full = partitioned(data, 1);
    LeastSquaresAccumulator emptyThis = new LeastSquaresAccumulator(HIDDEN, FFN).merge(partitioned(data, 1));
    LeastSquaresAccumulator emptyOther = partitioned(data, 1).merge(new LeastSquaresAccumulator(HIDDEN, FFN));
    for (LeastSquaresAccumulator merged : List.of(emptyThis, emptyOther)) {
      assertTrue(Arrays.equals(full.sumBtA(), merged.sumBtA()));
      assertEquals(full.numTokens(), merged.numTokens());
    }
  }

  @Test
  void shapeErrorsNameBothShapes() {
    LeastSquaresAccumulator acc = new LeastSquaresAccumulator(HIDDEN, FFN);
    assertEquals("Cannot merge least-squares accumulators of different shapes: this has (out, in) = (48, 16), other has (48, 17)",
        assertThrows(IllegalArgumentException.class, () -> acc.merge(new LeastSquaresAccumulator(17, FFN))).getMessage());
    assertEquals("Cannot accumulate least-squares statistics: expected input of shape (2, 16) = 32 values, got 31",
        assertThrows(IllegalArgumentException.class, () -> acc.add(new float[31], new float[2 * FFN], 2)).getMessage());
    assertEquals("Cannot accumulate least-squares statistics: expected targets 48 wide in total, got 47",
        assertThrows(IllegalArgumentException.class, () -> acc.add(new float[2 * HIDDEN], new float[2 * 47], 2)).getMessage());
  }

  @Test
  void ffnStatisticsFeedBothFitsAndSumTheObjective() {
    Random rnd = new Random(16);
    int n = 20;
    float[] x = gaussian(rnd, n * HIDDEN, 1);
    float[] z = gaussian(rnd, n * FFN, 1);
    float[] s = gaussian(rnd, n * FFN, 1);
    float[] p = gaussian(rnd, n * FFN, 1);
    float[] y = gaussian(rnd, n * HIDDEN, 1);
    FfnStatistics llama = new FfnStatistics(FfnKind.LLAMA_SWIGLU, HIDDEN, FFN).add(x, z, s, p, y, n).addObjective(1.5);
    llama.merge(new FfnStatistics(FfnKind.LLAMA_SWIGLU, HIDDEN, FFN).addObjective(2.25));
    assertTrue(Arrays.equals(new LeastSquaresAccumulator(HIDDEN, 2 * FFN).addStacked(x, n, z, s).sumBtA(), llama.input().sumBtA()));
    assertTrue(Arrays.equals(new LeastSquaresAccumulator(FFN, HIDDEN).add(p, y, n).sumBtA(), llama.output().sumBtA()));
    assertEquals(3.75, llama.objective(), 0.0);
    FfnStatistics opt = new FfnStatistics(FfnKind.OPT_RELU, HIDDEN, FFN).add(x, z, null, p, y, n);
    assertTrue(Arrays.equals(new LeastSquaresAccumulator(HIDDEN, FFN).add(x, z, n).sumBtA(), opt.input().sumBtA()));
    assertEquals("Cannot accumulate OPT_RELU FFN statistics: the gate pre-activation s must be null",
        assertThrows(IllegalArgumentException.class, () -> opt.add(x, z, s, p, y, n)).getMessage());
    assertEquals("Cannot merge FFN statistics of different shapes: this is OPT_RELU (16 → 48), other is LLAMA_SWIGLU (16 → 48)",
        assertThrows(IllegalArgumentException.class, () -> opt.merge(llama)).getMessage());
  }

  private static void assertClose(double[] expected, double[] actual) {
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], RELATIVE_TOLERANCE * (1 + Math.abs(expected[i])), "entry " + i);
    }
  }
}
