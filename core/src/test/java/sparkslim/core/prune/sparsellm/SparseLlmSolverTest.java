package sparkslim.core.prune.sparsellm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.FFN;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.HIDDEN;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.SAMPLE_TOKENS;
import static sparkslim.core.prune.sparsellm.SparseLlmFixtures.gaussian;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.linalg.ExactSums;
import sparkslim.core.prune.MaskStructure;
import sparkslim.core.prune.SparseGptSolver;

/**
 * The driver-side solver with the executor-side {@link FfnState} updates, run in one JVM as the Spark driver runs
 * them: iteration 0 is exactly SparseGPT with the dense Hessians; the summed objective never rises from one
 * alternation to the next (the safeguard, exact p/z minimisers and monotone s-steps); the statistics survive being
 * cut into slices and merged in another order; the residual from the sums equals the direct sum of squares.
 */
class SparseLlmSolverTest {
  private static final SparseGptSolver SPARSE_GPT = new SparseGptSolver(0.7, MaskStructure.UNSTRUCTURED, 16, 0.01, false);

  private static FfnWeights denseFfn(FfnKind kind, Random rnd) {
    float[] in = gaussian(rnd, FFN * HIDDEN, 0.3);
    float[] out = gaussian(rnd, HIDDEN * FFN, 0.3);
    if (kind == FfnKind.OPT_RELU) {
      return new FfnWeights(kind, HIDDEN, FFN, in, gaussian(rnd, FFN, 0.3), null, out, gaussian(rnd, HIDDEN, 0.3));
    }
    return new FfnWeights(kind, HIDDEN, FFN, in, null, gaussian(rnd, FFN * HIDDEN, 0.3), out, null);
  }

  private static List<FfnState> capture(FfnWeights dense, Random rnd) {
    List<FfnState> states = new ArrayList<>();
    for (int k = 0; k < SAMPLE_TOKENS.length; k++) {
      states.add(FfnState.capture(k, gaussian(rnd, SAMPLE_TOKENS[k] * HIDDEN, 1), SAMPLE_TOKENS[k], dense));
    }
    return states;
  }

  private static FfnStatistics.Sums sums(FfnWeights dense, List<FfnState> states) {
    FfnStatistics stats = new FfnStatistics(dense.kind(), HIDDEN, FFN);
    states.forEach(s -> s.addTo(stats));
    return stats.decode();
  }

  @Test
  void firstIterationIsSparseGpt() {
    for (FfnKind kind : FfnKind.values()) {
      Random rnd = new Random(7);
      FfnWeights dense = denseFfn(kind, rnd);
      List<FfnState> states = capture(dense, rnd);
      FfnStatistics.Sums sums = sums(dense, states);
      SparseLlmOptions options = SparseLlmOptions.defaults(kind);
      SparseLlmSolver.Step step = new SparseLlmSolver(options, SPARSE_GPT).step(0, sums, dense, null);
      CompressedLinear.Masked in = SPARSE_GPT.solve(dense.in(), FFN, HIDDEN, sums.input().hessian());
      CompressedLinear.Masked out = SPARSE_GPT.solve(dense.out(), HIDDEN, FFN, sums.output().hessian());
      assertArrayEquals(in.weights(), step.pruned().in(), 0f, kind + " in");
      assertArrayEquals(out.weights(), step.pruned().out(), 0f, kind + " out");
      if (kind == FfnKind.LLAMA_SWIGLU) {
        assertArrayEquals(SPARSE_GPT.solve(dense.gate(), FFN, HIDDEN, sums.input().hessian()).weights(), step.pruned().gate(), 0f);
      }
    }
  }

  @Test
  void objectiveNeverIncreasesAcrossAlternations() {
    for (FfnKind kind : FfnKind.values()) {
      Random rnd = new Random(11);
      FfnWeights dense = denseFfn(kind, rnd);
      List<FfnState> states = capture(dense, rnd);
      SparseLlmOptions options = new SparseLlmOptions(0.3, 1.0, 2.0, 6, 2, 0.01);
      SparseLlmSolver solver = new SparseLlmSolver(options, SPARSE_GPT);
      SparseLlmSolver.Step step = null;
      List<Double> history = new ArrayList<>();
      for (int t = 0; t < options.iterations(); t++) {
        step = solver.step(t, sums(dense, states), dense, step);
        List<FfnState> next = new ArrayList<>();
        for (FfnState s : states) {
          next.add(s.update(step.pruned(), step.mInv(), options));
        }
        states = next;
        history.add(states.stream().mapToDouble(FfnState::objective).sum());
      }
      for (int t = 1; t < history.size(); t++) {
        assertTrue(history.get(t) <= history.get(t - 1) * (1 + 1e-6), kind + " objective rose at " + t + ": " + history);
      }
      assertTrue(history.get(history.size() - 1) < history.get(0), kind + " no progress: " + history);
      assertEquals(0.7, step.inMask().cardinality() / (double) (FFN * HIDDEN), 0.02, kind + " sparsity kept");
    }
  }

  @Test
  void slicedStatisticsMergeToTheSameSums() {
    Random rnd = new Random(3);
    FfnWeights dense = denseFfn(FfnKind.LLAMA_SWIGLU, rnd);
    List<FfnState> states = capture(dense, rnd);
    FfnStatistics whole = new FfnStatistics(FfnKind.LLAMA_SWIGLU, HIDDEN, FFN);
    states.forEach(s -> s.addTo(whole));
    // two partitions, each cut into slices of 100 entries, merged in reverse order into fresh sums
    FfnStatistics first = new FfnStatistics(FfnKind.LLAMA_SWIGLU, HIDDEN, FFN);
    FfnStatistics second = new FfnStatistics(FfnKind.LLAMA_SWIGLU, HIDDEN, FFN);
    for (int k = 0; k < states.size(); k++) {
      states.get(k).addTo(k % 2 == 0 ? first : second);
    }
    int[] sizes = FfnStatistics.componentSizes(FfnKind.LLAMA_SWIGLU, HIDDEN, FFN);
    List<double[]> decoded = new ArrayList<>();
    for (int c = 0; c < sizes.length; c++) {
      assertEquals(sizes[c], whole.components().get(c).size(), "component " + c);
      ExactSums merged = new ExactSums(sizes[c]);
      for (FfnStatistics part : List.of(second, first)) {
        ExactSums comp = part.components().get(c);
        for (int offset = ((comp.size() - 1) / 100) * 100; offset >= 0; offset -= 100) {
          merged.mergeAt(offset, comp.slice(offset, Math.min(comp.size(), offset + 100)));
        }
      }
      double[] values = new double[sizes[c]];
      merged.decodeInto(values, 0);
      decoded.add(values);
    }
    FfnStatistics.Sums expected = whole.decode();
    FfnStatistics.Sums actual = FfnStatistics.decode(FfnKind.LLAMA_SWIGLU, HIDDEN, FFN, decoded);
    assertArrayEquals(expected.input().sumAtA(), actual.input().sumAtA(), 0.0);
    assertArrayEquals(expected.input().sumBtA(), actual.input().sumBtA(), 0.0);
    assertArrayEquals(expected.output().sumAtA(), actual.output().sumAtA(), 0.0);
    assertArrayEquals(expected.output().sumSquaresB(), actual.output().sumSquaresB(), 0.0);
    assertEquals(expected.output().numTokens(), actual.output().numTokens());
    assertEquals(SAMPLE_TOKENS.length, actual.input().numSamples());
  }

  @Test
  void residualFromSumsEqualsDirectSumOfSquares() {
    Random rnd = new Random(5);
    FfnWeights dense = denseFfn(FfnKind.OPT_RELU, rnd);
    List<FfnState> states = capture(dense, rnd);
    FfnStatistics.Sums sums = sums(dense, states);
    float[] w = gaussian(rnd, FFN * HIDDEN, 0.3); // a candidate fc1
    float[] bias = dense.inBias();
    double direct = 0;
    for (FfnState s : states) {
      float[] m = AuxiliaryUpdates.linear(s.x(), s.numTokens(), HIDDEN, w, FFN, bias);
      for (int i = 0; i < m.length; i++) {
        direct += Math.pow((double) s.z()[i] - m[i], 2);
      }
    }
    double fromSums = sums.input().residual(w, bias, 0, FFN);
    assertEquals(direct, fromSums, 1e-5 * direct);
  }
}
