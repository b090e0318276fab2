package sparkslim.core.prune.sparsellm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.FFN;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.HIDDEN;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.SAMPLE_TOKENS;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.gaussian;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.halfPruned;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The pieces together, as the driver and executors will run them, without re-pruning between alternations: every
 * update minimises L over its block (W refit, p, z) or descends (s), so the objective summed over samples must not
 * increase after any step (block coordinate descent), up to fp32 storage of the variables. Starts from the dense
 * variables and half-pruned weights (a stand-in for the SparseGPT step), with α ≠ β ≠ γ.
 */
class SparseLlmAlternationTest {
  private static final SparseLlmOptions OPTIONS = new SparseLlmOptions(0.3, 0.7, 2.0, 4, 2, 0.01);
  private static final double RELATIVE_SLACK = 1e-6;

  /** One sample's arrays, updated in place. */
  private static final class Sample {
    final int n;
    final float[] x; // (n, d)
    final float[] y; // (n, d), dense FFN output
    float[] z; // (n, f)
    float[] s; // (n, f), LLaMA only
    float[] p; // (n, f)

    Sample(int n, float[] x, float[] y) {
      this.n = n;
      this.x = x;
      this.y = y;
    }
  }

  @Test
  void optObjectiveNeverIncreases() {
    Random rnd = new Random(41);
    float[] w1 = gaussian(rnd, FFN * HIDDEN, 0.3); // (f, d)
    float[] b1 = gaussian(rnd, FFN, 0.3);
    float[] w2 = gaussian(rnd, HIDDEN * FFN, 0.3); // (d, f)
    float[] b2 = gaussian(rnd, HIDDEN, 0.3);
    List<Sample> samples = new ArrayList<>();
    for (int n : SAMPLE_TOKENS) {
      float[] x = gaussian(rnd, n * HIDDEN, 1);
      float[] z = AuxiliaryUpdates.linear(x, n, HIDDEN, w1, FFN, b1);
      float[] p = AuxiliaryUpdates.reluActivation(z);
      Sample sample = new Sample(n, x, AuxiliaryUpdates.linear(p, n, FFN, w2, HIDDEN, b2));
      sample.z = z;
      sample.p = p;
      samples.add(sample);
    }
    w1 = halfPruned(rnd, w1);
    w2 = halfPruned(rnd, w2);
    List<Double> history = new ArrayList<>();
    history.add(optObjective(samples, w1, b1, w2, b2));
    for (int t = 0; t < OPTIONS.iterations(); t++) {
      double[] mInv = AuxiliaryUpdates.pUpdateMatrixInverse(w2, HIDDEN, FFN, OPTIONS.beta(), OPTIONS.gamma());
      for (Sample s : samples) {
        AuxiliaryUpdates.pUpdate(s.p, s.y, b2, AuxiliaryUpdates.reluActivation(s.z), w2, mInv, s.n, HIDDEN, FFN, OPTIONS.beta(), OPTIONS.gamma());
      }
      history.add(optObjective(samples, w1, b1, w2, b2));
      for (Sample s : samples) {
        AuxiliaryUpdates.zUpdateOpt(s.z, AuxiliaryUpdates.linear(s.x, s.n, HIDDEN, w1, FFN, b1), s.p, OPTIONS.alpha(), OPTIONS.gamma());
      }
      history.add(optObjective(samples, w1, b1, w2, b2));
      FfnStatistics stats = new FfnStatistics(FfnKind.OPT_RELU, HIDDEN, FFN);
      samples.forEach(s -> stats.add(s.x, s.z, null, s.p, s.y, s.n));
      w1 = WeightRefit.refit(stats.input(), b1);
      w2 = WeightRefit.refit(stats.output(), b2);
      history.add(optObjective(samples, w1, b1, w2, b2));
    }
    assertNonIncreasing(history);
  }

  @Test
  void llamaObjectiveNeverIncreases() {
    Random rnd = new Random(42);
    float[] wGate = gaussian(rnd, FFN * HIDDEN, 0.3); // (f, d)
    float[] wUp = gaussian(rnd, FFN * HIDDEN, 0.3); // (f, d)
    float[] wDown = gaussian(rnd, HIDDEN * FFN, 0.3); // (d, f)
    List<Sample> samples = new ArrayList<>();
    for (int n : SAMPLE_TOKENS) {
      float[] x = gaussian(rnd, n * HIDDEN, 1);
      float[] s = AuxiliaryUpdates.linear(x, n, HIDDEN, wGate, FFN, null);
      float[] z = AuxiliaryUpdates.linear(x, n, HIDDEN, wUp, FFN, null);
      float[] p = AuxiliaryUpdates.swigluActivation(s, z);
      Sample sample = new Sample(n, x, AuxiliaryUpdates.linear(p, n, FFN, wDown, HIDDEN, null));
      sample.z = z;
      sample.s = s;
      sample.p = p;
      samples.add(sample);
    }
    wGate = halfPruned(rnd, wGate);
    wUp = halfPruned(rnd, wUp);
    wDown = halfPruned(rnd, wDown);
    List<Double> history = new ArrayList<>();
    history.add(llamaObjective(samples, wUp, wGate, wDown, null));
    for (int t = 0; t < OPTIONS.iterations(); t++) {
      double[] mInv = AuxiliaryUpdates.pUpdateMatrixInverse(wDown, HIDDEN, FFN, OPTIONS.beta(), OPTIONS.gamma());
      for (Sample s : samples) {
        AuxiliaryUpdates.pUpdate(s.p, s.y, null, AuxiliaryUpdates.swigluActivation(s.s, s.z), wDown, mInv, s.n, HIDDEN, FFN,
            OPTIONS.beta(), OPTIONS.gamma());
      }
      history.add(llamaObjective(samples, wUp, wGate, wDown, null));
      for (Sample s : samples) {
        AuxiliaryUpdates.zUpdateLlama(s.z, AuxiliaryUpdates.linear(s.x, s.n, HIDDEN, wUp, FFN, null), s.p, s.s, OPTIONS.alpha(), OPTIONS.gamma());
      }
      history.add(llamaObjective(samples, wUp, wGate, wDown, null));
      for (Sample s : samples) {
        AuxiliaryUpdates.sUpdateLlama(s.s, AuxiliaryUpdates.linear(s.x, s.n, HIDDEN, wGate, FFN, null), s.p, s.z, OPTIONS);
      }
      history.add(llamaObjective(samples, wUp, wGate, wDown, null));
      FfnStatistics stats = new FfnStatistics(FfnKind.LLAMA_SWIGLU, HIDDEN, FFN);
      samples.forEach(s -> stats.add(s.x, s.z, s.s, s.p, s.y, s.n));
      float[] upGate = WeightRefit.refit(stats.input(), null); // (2f, d)
      wUp = WeightRefit.rows(upGate, HIDDEN, 0, FFN);
      wGate = WeightRefit.rows(upGate, HIDDEN, FFN, 2 * FFN);
      wDown = WeightRefit.refit(stats.output(), null);
      FfnStatistics check = new FfnStatistics(FfnKind.LLAMA_SWIGLU, HIDDEN, FFN);
      history.add(llamaObjective(samples, wUp, wGate, wDown, check));
      assertEquals(history.get(history.size() - 1), check.objective(), 1e-9 * check.objective(), "driver-side sum");
    }
    assertNonIncreasing(history);
  }

  private static double optObjective(List<Sample> samples, float[] w1, float[] b1, float[] w2, float[] b2) {
    double total = 0;
    for (Sample s : samples) {
      float[] m = AuxiliaryUpdates.linear(s.x, s.n, HIDDEN, w1, FFN, b1);
      total += AuxiliaryUpdates.objectiveOpt(s.z, m, s.p, s.y, w2, b2, s.n, HIDDEN, FFN, OPTIONS);
    }
    return total;
  }

  /** Σ over samples of the LLaMA objective; also added to {@code stats} when not null. */
  private static double llamaObjective(List<Sample> samples, float[] wUp, float[] wGate, float[] wDown, FfnStatistics stats) {
    double total = 0;
    for (Sample s : samples) {
      float[] m = AuxiliaryUpdates.linear(s.x, s.n, HIDDEN, wUp, FFN, null);
      float[] g = AuxiliaryUpdates.linear(s.x, s.n, HIDDEN, wGate, FFN, null);
      double value = AuxiliaryUpdates.objectiveLlama(s.z, m, s.s, g, s.p, s.y, wDown, s.n, HIDDEN, FFN, OPTIONS);
      total += value;
      if (stats != null) {
        stats.addObjective(value);
      }
    }
    return total;
  }

  private static void assertNonIncreasing(List<Double> history) {
    for (int k = 1; k < history.size(); k++) {
      assertTrue(history.get(k) <= history.get(k - 1) * (1 + RELATIVE_SLACK), "objective increased at step " + k + ": " + history);
    }
    assertTrue(history.get(history.size() - 1) < 0.5 * history.get(0), "no progress: " + history);
  }
}
