package sparkslim.core.prune.sparsellm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.FFN;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.HIDDEN;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.SAMPLE_TOKENS;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.gaussian;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.linear64;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.toDouble;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link WeightRefit}: exact recovery on noise-free data, partition independence, and a finite-difference check that
 * the refit minimises F(W) = ‖A·Wᵀ + 1·bᵀ − B‖² (in the manner of Spark's ann/GradientSuite):
 * <ol>
 *   <li>accumulate noisy (A, B) samples, refit W with the fixed bias b;</li>
 *   <li>for random entries (o, i): F(W ± ε·e_oi) ≥ F(W), all in fp64;</li>
 *   <li>central difference (F(W + h·e_oi) − F(W − h·e_oi)) / 2h ≈ 0, relative to the two gradient terms
 *       2(W·ΣAᵀA)_oi and 2(ΣBᵀA − b·ΣAᵀ)_oi that cancel at the minimum.</li>
 * </ol>
 * The refit fits fc1/up/gate (A = X, in = d, out = f) as here, and fc2/down with the roles of d and f swapped.
 */
class WeightRefitTest {
  private static final double RECOVERY_TOLERANCE = 1e-6;
  private static final double PERTURBATION = 1e-2;
  private static final double STEP = 1e-3;
  private static final double GRADIENT_TOLERANCE = 1e-4;
  private static final int NUM_CHECKED_ENTRIES = 40;

  /** Noise-free data in dyadic values, so B = A·Wᵀ + b is exact in fp32: the refit must give W back. */
  @Test
  void recoversWeightsFromExactData() {
    Random rnd = new Random(21);
    float[] w = new float[FFN * HIDDEN]; // (f, d), multiples of 1/8
    for (int i = 0; i < w.length; i++) {
      w[i] = (rnd.nextInt(33) - 16) / 8f;
    }
    float[] bias = new float[FFN];
    for (int o = 0; o < FFN; o++) {
      bias[o] = (rnd.nextInt(17) - 8) / 4f;
    }
    for (float[] b : new float[][] {bias, null}) {
      LeastSquaresAccumulator acc = new LeastSquaresAccumulator(HIDDEN, FFN);
      Random data = new Random(22);
      for (int n : SAMPLE_TOKENS) {
        float[] a = new float[n * HIDDEN]; // (n, d), small integers
        for (int i = 0; i < a.length; i++) {
          a[i] = data.nextInt(9) - 4;
        }
        double[] target = linear64(toDouble(a), n, HIDDEN, w, FFN, b); // exact
        float[] targetFloat = new float[target.length];
        for (int i = 0; i < target.length; i++) {
          targetFloat[i] = (float) target[i];
          assertEquals(target[i], targetFloat[i], 0.0, "fixture not exact in fp32");
        }
        acc.add(a, targetFloat, n);
      }
      float[] refit = WeightRefit.refit(acc, b);
      assertArrayEquals(w, refit, (float) RECOVERY_TOLERANCE, b == null ? "no bias" : "with bias");
    }
  }

  @Test
  void refitDoesNotDependOnPartitioning() {
    List<float[][]> data = noisySamples(23);
    float[] bias = gaussian(new Random(24), FFN, 1);
    float[] single = WeightRefit.refit(accumulate(data, 1), bias);
    for (int numPartitions : new int[] {2, 3}) {
      assertArrayEquals(single, WeightRefit.refit(accumulate(data, numPartitions), bias), 0f, numPartitions + " partitions");
    }
  }

  @Test
  void refitMinimisesTheSquaredError() {
    List<float[][]> data = noisySamples(25);
    float[] bias = gaussian(new Random(26), FFN, 1);
    LeastSquaresAccumulator acc = accumulate(data, 1);
    double[] w = toDouble(WeightRefit.refit(acc, bias));
    double f0 = squaredError(data, w, bias);
    double[] sumAtA = acc.sumAtA();
    double[] sumBtA = acc.sumBtA();
    double[] sumA = acc.sumA();
    Random rnd = new Random(27);
    for (int k = 0; k < NUM_CHECKED_ENTRIES; k++) {
      int o = rnd.nextInt(FFN);
      int i = rnd.nextInt(HIDDEN);
      int index = o * HIDDEN + i;
      for (double sign : new double[] {1, -1}) {
        double[] moved = w.clone();
        moved[index] += sign * PERTURBATION;
        assertTrue(squaredError(data, moved, bias) >= f0, "F decreased at entry (" + o + ", " + i + ") moved by " + sign * PERTURBATION);
      }
      double[] plus = w.clone();
      double[] minus = w.clone();
      plus[index] += STEP;
      minus[index] -= STEP;
      double gradient = (squaredError(data, plus, bias) - squaredError(data, minus, bias)) / (2 * STEP);
      double gramTerm = 0; // (W·ΣAᵀA)_oi
      for (int j = 0; j < HIDDEN; j++) {
        gramTerm += w[o * HIDDEN + j] * sumAtA[j * HIDDEN + i];
      }
      double scale = 2 * Math.abs(gramTerm) + 2 * Math.abs(sumBtA[index] - bias[o] * sumA[i]);
      assertEquals(0, gradient, GRADIENT_TOLERANCE * scale, "∂F/∂W at (" + o + ", " + i + ")");
    }
  }

  @Test
  void rowsSplitsTheStackedFit() {
    float[] w = {1, 2, 3, 4, 5, 6}; // (3, 2)
    assertArrayEquals(new float[] {3, 4, 5, 6}, WeightRefit.rows(w, 2, 1, 3));
  }

  /** Samples {a (n, d), b (n, f)} with b = a·Wᵀ + N(0, 1) noise; the refit tests use an unrelated fixed bias. */
  private static List<float[][]> noisySamples(long seed) {
    Random rnd = new Random(seed);
    float[] w = gaussian(rnd, FFN * HIDDEN, 0.5);
    List<float[][]> result = new ArrayList<>();
    for (int n : SAMPLE_TOKENS) {
      float[] a = gaussian(rnd, n * HIDDEN, 1);
      double[] clean = linear64(toDouble(a), n, HIDDEN, w, FFN, null);
      float[] b = new float[clean.length];
      for (int i = 0; i < b.length; i++) {
        b[i] = (float) (clean[i] + rnd.nextGaussian());
      }
      result.add(new float[][] {a, b});
    }
    return result;
  }

  private static LeastSquaresAccumulator accumulate(List<float[][]> data, int numPartitions) {
    LeastSquaresAccumulator merged = new LeastSquaresAccumulator(HIDDEN, FFN);
    for (int part = numPartitions - 1; part >= 0; part--) {
      LeastSquaresAccumulator acc = new LeastSquaresAccumulator(HIDDEN, FFN);
      for (float[][] s : data.subList(part * data.size() / numPartitions, (part + 1) * data.size() / numPartitions)) {
        acc.add(s[0], s[1], s[0].length / HIDDEN);
      }
      merged.merge(acc);
    }
    return merged;
  }

  /** F(W) = Σ_samples ‖A·Wᵀ + 1·bᵀ − B‖² in fp64. */
  private static double squaredError(List<float[][]> data, double[] w, float[] bias) {
    double total = 0;
    for (float[][] s : data) {
      int n = s[0].length / HIDDEN;
      for (int t = 0; t < n; t++) {
        for (int o = 0; o < FFN; o++) {
          double r = bias[o] - s[1][t * FFN + o];
          for (int i = 0; i < HIDDEN; i++) {
            r += s[0][t * HIDDEN + i] * w[o * HIDDEN + i];
          }
          total += r * r;
        }
      }
    }
    return total;
  }
}
