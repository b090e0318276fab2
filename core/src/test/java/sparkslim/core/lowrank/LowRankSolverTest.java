package sparkslim.core.lowrank;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import sparkslim.core.SparkslimException;
import sparkslim.core.calib.HessianAccumulator;
import sparkslim.core.calib.InputStatistics;
import sparkslim.core.compress.CompressedLinear;

class LowRankSolverTest {
  private static final int ROWS = 48;
  private static final int COLS = 40;
  private static final int TOKENS = 400;

  /** Correlated tokens with uneven column scales (N, n), so whitening matters. */
  private static float[] tokens(Random rnd, int numTokens, int cols, int rankOfInputs) {
    double[] mix = new double[rankOfInputs * cols]; // (r, cols)
    for (int i = 0; i < mix.length; i++) {
      mix[i] = rnd.nextGaussian() * Math.pow(4, (i % cols) / (double) cols);
    }
    float[] x = new float[numTokens * cols];
    for (int t = 0; t < numTokens; t++) {
      double[] z = new double[rankOfInputs];
      for (int k = 0; k < rankOfInputs; k++) {
        z[k] = rnd.nextGaussian();
      }
      for (int c = 0; c < cols; c++) {
        double v = 0;
        for (int k = 0; k < rankOfInputs; k++) {
          v += z[k] * mix[k * cols + c];
        }
        x[t * cols + c] = (float) v;
      }
    }
    return x;
  }

  private static InputStatistics statistics(float[] x, int numTokens, int cols) {
    HessianAccumulator acc = new HessianAccumulator(cols);
    acc.add(x, numTokens);
    return acc.statistics();
  }

  private static float[] weights(Random rnd, int rows, int cols) {
    float[] w = new float[rows * cols];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) rnd.nextGaussian();
    }
    return w;
  }

  /** W′ = U·V (rows, cols) in fp64, from the fp64 factors. */
  private static double[] product(LowRankSolver.Factors f) {
    int m = f.rows();
    int n = f.cols();
    int k = f.rank();
    double[] wPrime = new double[m * n];
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < k; j++) {
        double uij = f.u()[i * k + j];
        for (int c = 0; c < n; c++) {
          wPrime[i * n + c] += uij * f.v()[j * n + c];
        }
      }
    }
    return wPrime;
  }

  /** ‖(W − W′)·Xᵀ‖²_F in fp64, W′ = U·V from the fp64 factors. */
  private static double outputError(float[] w, LowRankSolver.Factors f, float[] x, int numTokens) {
    int m = f.rows();
    int n = f.cols();
    double[] wPrime = product(f);
    double sum = 0;
    for (int t = 0; t < numTokens; t++) {
      for (int i = 0; i < m; i++) {
        double e = 0;
        for (int c = 0; c < n; c++) {
          e += (w[i * n + c] - wPrime[i * n + c]) * x[t * n + c];
        }
        sum += e * e;
      }
    }
    return sum;
  }

  @Test
  void truncationLossIsTheMeasuredOutputError() {
    Random rnd = new Random(15);
    float[] w = weights(rnd, ROWS, COLS);
    float[] x = tokens(rnd, TOKENS, COLS, COLS);
    InputStatistics stats = statistics(x, TOKENS, COLS);
    for (double ratio : new double[] {0.8, 0.5, 0.2}) {
      LowRankSolver solver = new LowRankSolver(LowRankMethod.SVD_LLM, ratio);
      LowRankSolver.Factors f = solver.factor(w, ROWS, COLS, stats, null);
      assertEquals(LowRankSolver.rank(ratio, ROWS, COLS), f.rank());
      assertEquals(0, f.gramShift());
      double measured = outputError(w, f, x, TOKENS);
      assertEquals(measured, f.truncationLoss(), 1e-6 * measured, "ρ = " + ratio + ": Σ dropped σ² against ‖(W − W′)Xᵀ‖²");
      // the fp32 factors the solver hands out: the same loss to fp32 rounding
      CompressedLinear.Factored r = solver.solve(w, ROWS, COLS, stats, new double[COLS * COLS]);
      assertEquals(f.truncationLoss(), r.loss());
      assertNull(r.fallback());
      assertEquals(f.rank() * (ROWS + COLS), r.parameters());
    }
  }

  @Test
  void whiteningBeatsPlainSvdOnTheOutputsAndPlainSvdOnTheWeights() {
    Random rnd = new Random(16);
    float[] w = weights(rnd, ROWS, COLS);
    float[] x = tokens(rnd, TOKENS, COLS, COLS);
    InputStatistics stats = statistics(x, TOKENS, COLS);
    LowRankSolver.Factors llm = new LowRankSolver(LowRankMethod.SVD_LLM, 0.5).factor(w, ROWS, COLS, stats, null);
    LowRankSolver.Factors svd = new LowRankSolver(LowRankMethod.SVD, 0.5).factor(w, ROWS, COLS, null, null);
    assertTrue(outputError(w, llm, x, TOKENS) < outputError(w, svd, x, TOKENS), "SVD-LLM is optimal for the outputs");
    double weightError = 0; // plain SVD: its loss is ‖W − W′‖²_F
    double[] wPrime = product(svd);
    for (int i = 0; i < w.length; i++) {
      weightError += (w[i] - wPrime[i]) * (w[i] - wPrime[i]);
    }
    assertEquals(weightError, svd.truncationLoss(), 1e-9 * weightError);
  }

  @Test
  void singularGramIsShiftedAndSaid() {
    Random rnd = new Random(18);
    float[] w = weights(rnd, ROWS, COLS);
    float[] x = tokens(rnd, TOKENS, COLS, COLS / 2); // inputs of rank n/2: Σ XᵀX is singular
    CompressedLinear.Factored r = new LowRankSolver(LowRankMethod.SVD_LLM, 0.5).solve(w, ROWS, COLS, statistics(x, TOKENS, COLS), null);
    assertNotNull(r.fallback());
    assertTrue(r.fallback().startsWith("gram-shift "), r.fallback());
    for (float v : r.weights()) {
      assertTrue(Float.isFinite(v));
    }
  }

  @Test
  void rankIsTheKeptParameterFraction() {
    assertEquals(1638, LowRankSolver.rank(0.8, 4096, 4096)); // ⌊0.8·4096²/8192⌋
    assertEquals(2388, LowRankSolver.rank(0.8, 4096, 11008)); // ⌊0.8·4096·11008/15104⌋
    assertEquals(0, LowRankSolver.rank(0.01, 8, 8));
    SparkslimException e = assertThrows(SparkslimException.class,
        () -> new LowRankSolver(LowRankMethod.SVD, 0.01).factor(new float[64], 8, 8, null, null));
    assertTrue(e.getMessage().contains("rank"), e.getMessage());
  }
}
