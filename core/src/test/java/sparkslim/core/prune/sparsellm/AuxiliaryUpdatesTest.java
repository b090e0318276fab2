package sparkslim.core.prune.sparsellm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.FFN;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.HIDDEN;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.NUM_TOKENS;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.gaussian;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.halfPruned;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.toDouble;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The closed-form p and z updates are minimisers and the s-update is a monotone descent, for α ≠ γ (the case the
 * released LLaMA z-update gets wrong). Finite-difference checks in fp64, as Spark's ann/GradientSuite:
 * <ol>
 *   <li>compute the update (fp32 storage) on random data with fixed seeds;</li>
 *   <li>minimiser: the objective at the result is ≤ the objective at ± ε perturbations of random entries (p), or ≤
 *       its minimum over a fine grid around the result (z, element-wise);</li>
 *   <li>gradient: central differences (f(v + h) − f(v − h)) / 2h of the fp64 objective, compared with 0 at the
 *       p-update's solution, and with the analytic s gradient within {@link #GRADIENT_TOLERANCE} relative.</li>
 * </ol>
 */
class AuxiliaryUpdatesTest {
  private static final double ALPHA = 0.3;
  private static final double BETA = 0.7;
  private static final double GAMMA = 2.0;
  private static final double PERTURBATION = 1e-2;
  private static final double STEP = 1e-4;
  private static final double S_STEP = 1e-5;
  private static final double GRADIENT_TOLERANCE = 1e-4;
  private static final double GRID_SPACING = 1e-3;
  private static final double GRID_SLACK = 1e-9;
  private static final int NUM_CHECKED_ENTRIES = 40;

  @Test
  void pUpdateMinimisesItsObjective() {
    Random rnd = new Random(31);
    float[] w = halfPruned(rnd, gaussian(rnd, HIDDEN * FFN, 0.3)); // (d, f), pruned W2
    float[] bias = gaussian(rnd, HIDDEN, 0.5);
    float[] y = gaussian(rnd, NUM_TOKENS * HIDDEN, 1); // (n, d)
    float[] act = AuxiliaryUpdates.reluActivation(gaussian(rnd, NUM_TOKENS * FFN, 1)); // (n, f)
    float[] p = new float[NUM_TOKENS * FFN];
    double[] mInv = AuxiliaryUpdates.pUpdateMatrixInverse(w, HIDDEN, FFN, BETA, GAMMA);
    AuxiliaryUpdates.pUpdate(p, y, bias, act, w, mInv, NUM_TOKENS, HIDDEN, FFN, BETA, GAMMA);
    double[] solution = toDouble(p);
    double f0 = pObjective(solution, y, bias, act, w);
    Random pick = new Random(32);
    for (int k = 0; k < NUM_CHECKED_ENTRIES; k++) {
      int t = pick.nextInt(NUM_TOKENS);
      int j = pick.nextInt(FFN);
      int index = t * FFN + j;
      for (double sign : new double[] {1, -1}) {
        double[] moved = solution.clone();
        moved[index] += sign * PERTURBATION;
        assertTrue(pObjective(moved, y, bias, act, w) >= f0, "objective decreased at p[" + t + ", " + j + "]");
      }
      double[] plus = solution.clone();
      double[] minus = solution.clone();
      plus[index] += STEP;
      minus[index] -= STEP;
      double gradient = (pObjective(plus, y, bias, act, w) - pObjective(minus, y, bias, act, w)) / (2 * STEP);
      double outputTerm = 0; // (Wᵀ(W·p + b − y))_j for token t
      for (int o = 0; o < HIDDEN; o++) {
        double r = bias[o] - y[t * HIDDEN + o];
        for (int i = 0; i < FFN; i++) {
          r += w[o * FFN + i] * solution[t * FFN + i];
        }
        outputTerm += w[o * FFN + j] * r;
      }
      double scale = 2 * BETA * Math.abs(outputTerm) + 2 * GAMMA * Math.abs(solution[index] - act[index]);
      assertEquals(0, gradient, GRADIENT_TOLERANCE * scale, "∂/∂p at [" + t + ", " + j + "]");
    }
  }

  @Test
  void zUpdateOptIsTheElementwiseMinimiser() {
    Random rnd = new Random(33);
    float[] m = gaussian(rnd, NUM_TOKENS * FFN, 1.5);
    float[] p = gaussian(rnd, NUM_TOKENS * FFN, 1.5);
    float[] z = new float[m.length];
    AuxiliaryUpdates.zUpdateOpt(z, m, p, ALPHA, GAMMA);
    for (int i = 0; i < NUM_CHECKED_ENTRIES * 5; i++) {
      double mi = m[i];
      double pi = p[i];
      assertGridMinimum(v -> AuxiliaryUpdates.zObjectiveOpt(v, mi, pi, ALPHA, GAMMA), z[i], mi, pi, "z[" + i + "]");
    }
  }

  @Test
  void zUpdateLlamaIsTheElementwiseMinimiserWhereTheReleasedFormulaIsNot() {
    Random rnd = new Random(34);
    float[] m = gaussian(rnd, NUM_TOKENS * FFN, 1.5);
    float[] p = gaussian(rnd, NUM_TOKENS * FFN, 1.5);
    float[] s = gaussian(rnd, NUM_TOKENS * FFN, 2);
    float[] z = new float[m.length];
    AuxiliaryUpdates.zUpdateLlama(z, m, p, s, ALPHA, GAMMA);
    int releasedFormulaWorse = 0;
    for (int i = 0; i < NUM_CHECKED_ENTRIES * 5; i++) {
      double mi = m[i];
      double pi = p[i];
      double sigma = Silu.silu(s[i]);
      java.util.function.DoubleUnaryOperator objective = v -> ALPHA * (v - mi) * (v - mi) + GAMMA * (pi - sigma * v) * (pi - sigma * v);
      assertGridMinimum(objective, z[i], mi, pi, "z[" + i + "]");
      double released = (mi + sigma * pi) / (sigma * sigma + 1); // doc §1.3 step 5: exact only for α = γ
      if (objective.applyAsDouble(released) > objective.applyAsDouble(z[i]) + GRID_SLACK) {
        releasedFormulaWorse++;
      }
    }
    assertTrue(releasedFormulaWorse > NUM_CHECKED_ENTRIES, "the check does not tell the two formulas apart");
  }

  @Test
  void sGradientMatchesCentralDifferences() {
    Random rnd = new Random(35);
    for (int k = 0; k < NUM_CHECKED_ENTRIES * 5; k++) {
      double s = rnd.nextGaussian() * 3;
      double g = rnd.nextGaussian() * 2;
      double p = rnd.nextGaussian() * 2;
      double z = rnd.nextGaussian() * 2;
      double analytic = AuxiliaryUpdates.sGradient(s, g, p, z, ALPHA, GAMMA);
      double numeric = (AuxiliaryUpdates.sObjective(s + S_STEP, g, p, z, ALPHA, GAMMA)
          - AuxiliaryUpdates.sObjective(s - S_STEP, g, p, z, ALPHA, GAMMA)) / (2 * S_STEP);
      assertEquals(analytic, numeric, GRADIENT_TOLERANCE * Math.max(Math.abs(analytic), 1e-4), "h′(" + s + ")");
    }
  }

  @Test
  void sUpdateGivesTheBitsOfTheStepByStepDefinition() {
    Random rnd = new Random(37);
    int size = NUM_TOKENS * FFN;
    float[] g = gaussian(rnd, size, 2);
    float[] p = gaussian(rnd, size, 2);
    float[] z = gaussian(rnd, size, 2);
    float[] s = gaussian(rnd, size, 3);
    for (SparseLlmOptions options : List.of(new SparseLlmOptions(ALPHA, BETA, GAMMA, 1, 3, 2.0),
        new SparseLlmOptions(ALPHA, BETA, GAMMA, 1, 2, 0.01))) {
      float[] expected = s.clone();
      for (int i = 0; i < size; i++) { // doc §1.3 step 6 as written: h and h′ evaluated afresh at every step
        float current = expected[i];
        for (int step = 0; step < options.sGradientSteps(); step++) {
          double h0 = AuxiliaryUpdates.sObjective(current, g[i], p[i], z[i], ALPHA, GAMMA);
          double gradient = AuxiliaryUpdates.sGradient(current, g[i], p[i], z[i], ALPHA, GAMMA);
          double lr = options.sLearningRate();
          for (int halving = 0; halving <= AuxiliaryUpdates.MAX_STEP_HALVINGS && gradient != 0; halving++, lr /= 2) {
            float candidate = (float) (current - lr * gradient);
            if (AuxiliaryUpdates.sObjective(candidate, g[i], p[i], z[i], ALPHA, GAMMA) <= h0) {
              current = candidate;
              break;
            }
          }
        }
        expected[i] = current;
      }
      float[] actual = s.clone();
      AuxiliaryUpdates.sUpdateLlama(actual, g, p, z, options);
      assertArrayEquals(expected, actual, "s-update with " + options); // bit for bit
      // the fused pass: the same s, and L's element-wise terms at it give objectiveLlama's value to the bit
      float[] fused = s.clone();
      float[] m = gaussian(rnd, size, 2);
      float[] y = gaussian(rnd, NUM_TOKENS * HIDDEN, 1);
      float[] wDown = gaussian(rnd, HIDDEN * FFN, 0.1);
      double[] terms = AuxiliaryUpdates.sUpdateLlama(fused, g, p, z, m, options);
      assertArrayEquals(expected, fused, "fused s-update with " + options);
      assertEquals(AuxiliaryUpdates.objectiveLlama(z, m, fused, g, p, y, wDown, NUM_TOKENS, HIDDEN, FFN, options),
          AuxiliaryUpdates.objectiveLlama(terms, p, y, wDown, NUM_TOKENS, HIDDEN, FFN, options), 0.0, "objective with " + options);
    }
  }

  @Test
  void sUpdateNeverIncreasesTheObjective() {
    Random rnd = new Random(36);
    int size = NUM_TOKENS * FFN;
    float[] g = gaussian(rnd, size, 2);
    float[] p = gaussian(rnd, size, 2);
    float[] z = gaussian(rnd, size, 2);
    float[] s = gaussian(rnd, size, 2);
    // A large learning rate overshoots: the first raw step must increase some elements' objective (backtracking used).
    SparseLlmOptions options = new SparseLlmOptions(ALPHA, BETA, GAMMA, 1, 1, 2.0);
    int overshoots = 0;
    for (int i = 0; i < size; i++) {
      double raw = s[i] - options.sLearningRate() * AuxiliaryUpdates.sGradient(s[i], g[i], p[i], z[i], ALPHA, GAMMA);
      if (AuxiliaryUpdates.sObjective(raw, g[i], p[i], z[i], ALPHA, GAMMA) > AuxiliaryUpdates.sObjective(s[i], g[i], p[i], z[i], ALPHA, GAMMA)) {
        overshoots++;
      }
    }
    assertTrue(overshoots > 0, "no step overshoots: backtracking not exercised");
    double previousTotal = sTotal(s, g, p, z);
    double firstTotal = previousTotal;
    for (int round = 0; round < 10; round++) {
      float[] before = s.clone();
      AuxiliaryUpdates.sUpdateLlama(s, g, p, z, options);
      for (int i = 0; i < size; i++) {
        assertTrue(AuxiliaryUpdates.sObjective(s[i], g[i], p[i], z[i], ALPHA, GAMMA)
            <= AuxiliaryUpdates.sObjective(before[i], g[i], p[i], z[i], ALPHA, GAMMA), "h increased at element " + i);
      }
      double total = sTotal(s, g, p, z);
      assertTrue(total <= previousTotal, "total increased in round " + round);
      previousTotal = total;
    }
    assertTrue(previousTotal < 0.9 * firstTotal, "no progress: " + firstTotal + " → " + previousTotal);
  }

  @Test
  void objectiveOptMatchesDirectFp64Sum() {
    Random rnd = new Random(37);
    int n = 20;
    float[] z = gaussian(rnd, n * FFN, 1);
    float[] m = gaussian(rnd, n * FFN, 1);
    float[] p = gaussian(rnd, n * FFN, 1);
    float[] y = gaussian(rnd, n * HIDDEN, 1);
    float[] w2 = gaussian(rnd, HIDDEN * FFN, 0.3);
    float[] b2 = gaussian(rnd, HIDDEN, 0.3);
    SparseLlmOptions options = new SparseLlmOptions(ALPHA, BETA, GAMMA, 1, 1, 0.01);
    double expected = 0;
    for (int i = 0; i < z.length; i++) {
      expected += ALPHA * Math.pow((double) z[i] - m[i], 2) + GAMMA * Math.pow(p[i] - Math.max(z[i], 0.0), 2);
    }
    double[] q = SparseLlmFixtures.linear64(toDouble(p), n, FFN, w2, HIDDEN, b2);
    for (int i = 0; i < q.length; i++) {
      expected += BETA * Math.pow(q[i] - y[i], 2);
    }
    assertEquals(expected, AuxiliaryUpdates.objectiveOpt(z, m, p, y, w2, b2, n, HIDDEN, FFN, options), 1e-5 * expected);
  }

  /** β‖W·p + b − y‖² + γ‖p − act‖² over all tokens, in fp64. */
  private static double pObjective(double[] p, float[] y, float[] bias, float[] act, float[] w) {
    double total = 0;
    for (int t = 0; t < NUM_TOKENS; t++) {
      for (int o = 0; o < HIDDEN; o++) {
        double r = bias[o] - y[t * HIDDEN + o];
        for (int i = 0; i < FFN; i++) {
          r += w[o * FFN + i] * p[t * FFN + i];
        }
        total += BETA * r * r;
      }
    }
    for (int i = 0; i < p.length; i++) {
      total += GAMMA * (p[i] - act[i]) * (p[i] - act[i]);
    }
    return total;
  }

  private static double sTotal(float[] s, float[] g, float[] p, float[] z) {
    double total = 0;
    for (int i = 0; i < s.length; i++) {
      total += AuxiliaryUpdates.sObjective(s[i], g[i], p[i], z[i], ALPHA, GAMMA);
    }
    return total;
  }

  /** objective(value) ≤ objective(v) + slack for every v on a grid of spacing GRID_SPACING covering both branches. */
  private static void assertGridMinimum(java.util.function.DoubleUnaryOperator objective, double value, double m, double p, String what) {
    double radius = 1 + 2 * Math.max(Math.abs(m), Math.abs(p));
    double atValue = objective.applyAsDouble(value);
    for (double v = value - radius; v <= value + radius; v += GRID_SPACING) {
      double other = objective.applyAsDouble(v);
      if (atValue > other + GRID_SLACK) {
        throw new AssertionError(what + " = " + value + " has objective " + atValue + " but " + v + " has " + other);
      }
    }
  }
}
