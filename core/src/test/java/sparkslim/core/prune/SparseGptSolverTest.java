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
import sparkslim.core.SparkslimException;
import sparkslim.core.compress.CompressedLinear;

/**
 * {@link SparseGptSolver}: a hand-computed example, agreement with a slow unblocked fp64 implementation written here
 * from the reference, the per-block sparsity rule, N:M, the loss normalisation, dead columns and input immutability.
 */
class SparseGptSolverTest {
  private static final double NEAR_ZERO_DAMPENING = 1e-8;

  /**
   * The joint sweep's per-block budgets against a transcription: sort every (score w²/U_jj², index) pair, take the
   * first ⌊numel·s⌋ and count them per block of columns (the last block narrower than the others).
   */
  @Test
  void blockBudgetsCountTheLinearsSmallestScoresPerBlock() {
    java.util.Random rnd = new java.util.Random(9);
    int rows = 7;
    int cols = 300;
    int blockSize = 128;
    float[] w = new float[rows * cols]; // (rows, cols)
    float[] u = new float[cols * cols]; // (cols, cols), only the diagonal is read
    for (int k = 0; k < w.length; k++) {
      w[k] = rnd.nextInt(5) == 0 ? 0.25f : (float) rnd.nextGaussian(); // ties on the threshold
    }
    for (int j = 0; j < cols; j++) {
      u[j * cols + j] = j % 3 == 0 ? 1f : 0.5f + rnd.nextFloat() * (1 + j / 100);
    }
    for (double s : new double[] {0.5, 0.7, 0.13}) {
      int[] budgets = new SparseGptSolver(s, MaskStructure.UNSTRUCTURED, blockSize, 0.01).blockBudgets(w, u, rows, cols);
      Integer[] order = new Integer[w.length];
      float[] score = new float[w.length];
      for (int e = 0; e < w.length; e++) {
        order[e] = e;
        float d = u[(e % cols) * cols + e % cols];
        score[e] = w[e] * w[e] / (d * d);
      }
      Arrays.sort(order, (a, b) -> score[a] != score[b] ? Float.compare(score[a], score[b]) : Integer.compare(a, b));
      int total = (int) ((double) w.length * s);
      int[] expected = new int[3];
      for (int k = 0; k < total; k++) {
        expected[order[k] % cols / blockSize]++;
      }
      assertArrayEquals(expected, budgets, "s = " + s);
      assertEquals(total, Arrays.stream(budgets).sum());
    }
  }

  /**
   * W = [1, 3], H = [[2, 1], [1, 2]], no dampening. H⁻¹ = ⅓·[[2, −1], [−1, 2]], whose upper Cholesky factor is
   * U = [[√(2/3), −1/√6], [0, 1/√2]]. Scores w²/d² = [1.5, 18].
   * 1:2 prunes column 0: err = 1/√(2/3), w₁ −= err·U₀₁ = 3 + ½ = 3.5 (the OBS update −w₀·H⁻¹₀₁/H⁻¹₀₀ = +½),
   * loss = 1²/(2/3)/2 = 0.75 = ½·ΔW·H·ΔWᵀ with ΔW = [1, −0.5].
   */
  @Test
  void handComputedTwoColumnExample() {
    float[] w = {1f, 3f};
    double[] h = {2, 1, 1, 2};
    CompressedLinear.Masked oneOfTwo = new SparseGptSolver(0.5, MaskStructure.nOfM(1, 2), 2, 0).solve(w, 1, 2, h);
    assertEquals(0f, oneOfTwo.weights()[0], 0f);
    assertEquals(3.5f, oneOfTwo.weights()[1], 1e-6f);
    assertEquals("{0}", oneOfTwo.mask().toString());
    assertEquals(0.75, oneOfTwo.loss(), 1e-6);
    assertEquals(0.5, oneOfTwo.sparsity(), 0.0);

    // Unstructured 50% of 2 entries: thr = sorted(score)[⌊2·0.5⌋] = 18 prunes both (the reference's "+1").
    // Column 1 is then pruned at its compensated value 3.5 with d = 1/√2: loss += 3.5²·2/2 = 12.25.
    CompressedLinear.Masked half = new SparseGptSolver(0.5, MaskStructure.UNSTRUCTURED, 2, 0).solve(w, 1, 2, h);
    assertArrayEquals(new float[] {0f, 0f}, half.weights());
    assertEquals(1.0, half.sparsity(), 0.0);
    assertEquals(13.0, half.loss(), 1e-5);
  }

  @ParameterizedTest
  @CsvSource({"0.5, 0, 0", "0.3, 0, 0", "0.0, 2, 4", "0.5, 4, 8"})
  void unblockedSolverMatchesSlowReference(double sparsity, int n, int m) {
    int rows = 16;
    int cols = 64;
    float[] w = PruneFixtures.randomWeights(rows, cols, 41);
    double[] h = PruneFixtures.calibration(cols, 8, 32, 42).hessian();
    MaskStructure structure = n == 0 ? MaskStructure.UNSTRUCTURED : MaskStructure.nOfM(n, m);
    Reference expected = Reference.prune(w, rows, cols, h, sparsity, n, m, SparseGptSolver.DEFAULT_DAMPENING_FRACTION);
    CompressedLinear.Masked actual = new SparseGptSolver(sparsity, structure, cols, SparseGptSolver.DEFAULT_DAMPENING_FRACTION).solve(w, rows, cols, h);
    assertEquals(expected.mask, actual.mask());
    assertClose(expected.weights, actual.weights(), 1e-4);
    assertEquals(expected.loss, actual.loss(), 1e-4 * expected.loss);
    if (n != 0) {
      // N:M does not depend on the block size: the lazy batch update (sgemm) must give the same result
      CompressedLinear.Masked blocked = new SparseGptSolver(sparsity, structure, 16, SparseGptSolver.DEFAULT_DAMPENING_FRACTION).solve(w, rows, cols, h);
      assertEquals(expected.mask, blocked.mask());
      assertClose(expected.weights, blocked.weights(), 1e-4);
    }
  }

  @ParameterizedTest
  @CsvSource({"16, 64, 32", "32, 256, 128", "32, 256, 100"})
  void unstructuredPrunesFloorPlusOnePerBlock(int rows, int cols, int blockSize) {
    double sparsity = 0.5;
    float[] w = PruneFixtures.randomWeights(rows, cols, 43);
    double[] h = PruneFixtures.calibration(cols, 4, 2 * cols, 44).hessian();
    CompressedLinear.Masked result = new SparseGptSolver(sparsity, MaskStructure.UNSTRUCTURED, blockSize, 0.01).solve(w, rows, cols, h);
    PruneFixtures.assertMaskedAreZero(result, rows, cols);
    int numBlocks = 0;
    for (int i1 = 0; i1 < cols; i1 += blockSize) {
      int count = Math.min(blockSize, cols - i1);
      int pruned = 0;
      for (int r = 0; r < rows; r++) {
        pruned += result.mask().get(r * cols + i1, r * cols + i1 + count).cardinality();
      }
      // random data has no ties, so exactly ⌊rows·B·s⌋ + 1
      assertEquals((int) ((double) rows * count * sparsity) + 1, pruned, "block at column " + i1);
      numBlocks++;
    }
    assertTrue(result.sparsity() > sparsity);
    assertEquals(sparsity, result.sparsity(), (double) numBlocks / (rows * cols));
    assertTrue(result.loss() > 0 && Double.isFinite(result.loss()));
  }

  @ParameterizedTest
  @CsvSource({"2, 4", "4, 8"})
  void nOfMHasExactlyNZerosPerGroup(int n, int m) {
    int rows = 32;
    int cols = 256;
    float[] w = PruneFixtures.randomWeights(rows, cols, 45);
    double[] h = PruneFixtures.calibration(cols, 4, 128, 46).hessian();
    CompressedLinear.Masked result = new SparseGptSolver(0.5, MaskStructure.nOfM(n, m)).solve(w, rows, cols, h);
    PruneFixtures.assertNOfM(result, rows, cols, n, m);
  }

  /**
   * The reported loss Σ (w − q)²/d²/2 equals ½·tr(ΔW·H·ΔWᵀ), and with H = (2/n)·Σ XᵀX that is ‖ΔW·Xᵀ‖²_F / n
   * (n = calibration sequences). Near-zero dampening, so the damped H is the data's H.
   */
  @Test
  void lossEqualsMeasuredReconstructionError() {
    int rows = 32;
    int cols = 256;
    PruneFixtures.Calibration calibration = PruneFixtures.calibration(cols, 8, 128, 47);
    float[] w = PruneFixtures.randomWeights(rows, cols, 48);
    CompressedLinear.Masked result = new SparseGptSolver(0.5, MaskStructure.UNSTRUCTURED, 64, NEAR_ZERO_DAMPENING)
        .solve(w, rows, cols, calibration.hessian());
    double viaHessian = 0.5 * PruneFixtures.hessianError(w, result.weights(), rows, cols, calibration.hessian());
    double viaOutputs = PruneFixtures.outputError(w, result.weights(), rows, cols, calibration.x(), calibration.numTokens())
        / calibration.numSamples();
    assertTrue(result.loss() > 0 && Double.isFinite(result.loss()));
    assertEquals(viaHessian, viaOutputs, 1e-9 * viaHessian);
    assertEquals(viaHessian, result.loss(), 1e-5 * viaHessian); // fp32 column loop: observed 2e-7
  }

  @Test
  void reconstructionErrorIsBelowMagnitudeAndWanda() {
    int rows = 32;
    int cols = 256;
    PruneFixtures.Calibration calibration = PruneFixtures.calibration(cols, 8, 128, 49);
    double[] h = calibration.hessian();
    float[] w = PruneFixtures.randomWeights(rows, cols, 50);
    for (MaskStructure structure : new MaskStructure[] {MaskStructure.UNSTRUCTURED, MaskStructure.nOfM(2, 4)}) {
      double sparseGpt = PruneFixtures.hessianError(w, new SparseGptSolver(0.5, structure).solve(w, rows, cols, h).weights(), rows, cols, h);
      double magnitude = PruneFixtures.hessianError(w, new MagnitudeSolver(0.5, structure).solve(w, rows, cols).weights(), rows, cols, h);
      double wanda = PruneFixtures.hessianError(w,
          new WandaSolver(0.5, structure).solve(w, rows, cols, calibration.columnNorms()).weights(), rows, cols, h);
      assertTrue(sparseGpt < wanda, structure + ": SparseGPT " + sparseGpt + " vs Wanda " + wanda);
      assertTrue(wanda < magnitude, structure + ": Wanda " + wanda + " vs magnitude " + magnitude);
    }
  }

  @Test
  void deadColumnIsZeroedWithoutFailure() {
    int rows = 16;
    int cols = 64;
    int dead = 5;
    double[] h = PruneFixtures.calibration(cols, 4, 64, 51, dead).hessian();
    assertEquals(0.0, h[dead * cols + dead], 0.0);
    float[] w = PruneFixtures.randomWeights(rows, cols, 52);
    for (MaskStructure structure : new MaskStructure[] {MaskStructure.UNSTRUCTURED, MaskStructure.nOfM(2, 4)}) {
      CompressedLinear.Masked result = new SparseGptSolver(0.5, structure, 32, 0.01, true).solve(w, rows, cols, h);
      for (int r = 0; r < rows; r++) {
        assertEquals(0f, result.weights()[r * cols + dead], 0f, structure + ": row " + r);
      }
      assertTrue(Double.isFinite(result.loss()));
      PruneFixtures.assertMaskedAreZero(result, rows, cols);
      // default: the dead column's weights are kept unless the mask prunes them, and nothing fails
      CompressedLinear.Masked kept = new SparseGptSolver(0.5, structure, 32, 0.01).solve(w, rows, cols, h);
      assertTrue(Double.isFinite(kept.loss()));
      PruneFixtures.assertMaskedAreZero(kept, rows, cols);
      for (int r = 0; r < rows; r++) {
        if (!kept.mask().get(r * cols + dead)) {
          assertEquals(w[r * cols + dead], kept.weights()[r * cols + dead], 0f, structure + ": row " + r);
        }
      }
    }
  }

  @Test
  void inputsAreNotModified() {
    int rows = 16;
    int cols = 64;
    float[] w = PruneFixtures.randomWeights(rows, cols, 53);
    double[] h = PruneFixtures.calibration(cols, 4, 64, 54, 7).hessian();
    float[] wCopy = w.clone();
    double[] hCopy = h.clone();
    new SparseGptSolver(0.5, MaskStructure.UNSTRUCTURED, 32, 0.01).solve(w, rows, cols, h);
    assertArrayEquals(wCopy, w);
    assertArrayEquals(hCopy, h);
  }

  @Test
  void zeroSparsityPrunesNothing() {
    float[] w = PruneFixtures.randomWeights(16, 64, 55);
    double[] h = PruneFixtures.calibration(64, 4, 64, 56).hessian();
    CompressedLinear.Masked result = new SparseGptSolver(0, MaskStructure.UNSTRUCTURED).solve(w, 16, 64, h);
    assertTrue(result.mask().isEmpty());
    assertArrayEquals(w, result.weights());
    assertEquals(0, result.loss(), 0.0);
  }

  @Test
  void indefiniteHessianFailsWithAHint() {
    double[] h = {1, 2, 2, 1}; // eigenvalues 3 and −1
    SparkslimException e = assertThrows(SparkslimException.class,
        () -> new SparseGptSolver(0.5, MaskStructure.UNSTRUCTURED, 128, 0).solve(new float[] {1f, 2f}, 1, 2, h));
    assertEquals("Cannot invert Hessian (Cholesky failed at column 1). Increase 'pruning.dampening-fraction' (now 0.0) "
        + "or 'calibration.num-samples'", e.getMessage());
  }

  @Test
  void rejectsBadOptionsAndShapes() {
    IllegalArgumentException block = assertThrows(IllegalArgumentException.class,
        () -> new SparseGptSolver(0.5, MaskStructure.nOfM(4, 8), 100, 0.01));
    assertEquals("Cannot create SparseGptSolver: 'pruning.block-size' is set to 100 but must be positive and a multiple of M = 8 "
        + "for 'pruning.mask-structure' 4:8", block.getMessage());
    IllegalArgumentException damp = assertThrows(IllegalArgumentException.class,
        () -> new SparseGptSolver(0.5, MaskStructure.UNSTRUCTURED, 128, -0.1));
    assertEquals("Cannot create SparseGptSolver: 'pruning.dampening-fraction' is set to -0.1 but must be finite and ≥ 0", damp.getMessage());
    IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
        () -> new SparseGptSolver(0.5, MaskStructure.UNSTRUCTURED).solve(new float[8], 2, 4, new double[9]));
    assertEquals("Cannot prune with SparseGPT: weights have 4 input columns, so the Hessian needs (4, 4) = 16 values, got 9",
        shape.getMessage());
  }

  private static void assertClose(float[] expected, float[] actual, double tolerance) {
    assertEquals(expected.length, actual.length);
    double scale = 0;
    for (float v : expected) {
      scale = Math.max(scale, Math.abs(v));
    }
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], tolerance * scale, "entry " + i);
    }
  }

  /**
   * A slow, unblocked fp64 transcription of the reference {@code fasterprune} with blocksize = cols, written
   * independently of the solver: Gauss–Jordan for H⁻¹, a hand-written Cholesky, no BLAS, no LAPACK.
   */
  private record Reference(float[] weights, BitSet mask, double loss) {
    static Reference prune(float[] w0, int rows, int cols, double[] h0, double s, int n, int m, double percdamp) {
      double[][] w = new double[rows][cols];
      double[][] h = new double[cols][cols];
      for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
          w[r][c] = w0[r * cols + c];
        }
      }
      for (int i = 0; i < cols; i++) {
        for (int j = 0; j < cols; j++) {
          h[i][j] = h0[i * cols + j];
        }
      }
      for (int d = 0; d < cols; d++) {
        if (h[d][d] == 0) {
          h[d][d] = 1;
          for (int r = 0; r < rows; r++) {
            w[r][d] = 0;
          }
        }
      }
      double mean = 0;
      for (int i = 0; i < cols; i++) {
        mean += h[i][i] / cols;
      }
      for (int i = 0; i < cols; i++) {
        h[i][i] += percdamp * mean;
      }
      double[][] u = upperCholesky(inverse(h));
      boolean[][] mask = new boolean[rows][cols];
      if (n == 0 && s > 0) {
        double[] scores = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
          for (int c = 0; c < cols; c++) {
            scores[r * cols + c] = w[r][c] * w[r][c] / (u[c][c] * u[c][c]);
          }
        }
        double[] sorted = scores.clone();
        Arrays.sort(sorted);
        double thr = sorted[(int) (scores.length * s)];
        for (int r = 0; r < rows; r++) {
          for (int c = 0; c < cols; c++) {
            mask[r][c] = scores[r * cols + c] <= thr;
          }
        }
      }
      double loss = 0;
      for (int i = 0; i < cols; i++) {
        if (n != 0 && i % m == 0) {
          for (int r = 0; r < rows; r++) {
            Integer[] order = new Integer[m];
            for (int j = 0; j < m; j++) {
              order[j] = i + j;
            }
            double[] row = w[r];
            Arrays.sort(order, (a, b) -> Double.compare(row[a] * row[a] / (u[a][a] * u[a][a]), row[b] * row[b] / (u[b][b] * u[b][b])));
            for (int k = 0; k < n; k++) {
              mask[r][order[k]] = true;
            }
          }
        }
        for (int r = 0; r < rows; r++) {
          double q = mask[r][i] ? 0 : w[r][i];
          double err = (w[r][i] - q) / u[i][i];
          loss += err * err / 2;
          for (int j = i; j < cols; j++) {
            w[r][j] -= err * u[i][j];
          }
          w[r][i] = q;
        }
      }
      float[] weights = new float[rows * cols];
      BitSet bits = new BitSet();
      for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
          weights[r * cols + c] = (float) w[r][c];
          bits.set(r * cols + c, mask[r][c]);
        }
      }
      return new Reference(weights, bits, loss);
    }

    /** Gauss–Jordan with partial pivoting. */
    static double[][] inverse(double[][] a0) {
      int n = a0.length;
      double[][] a = new double[n][2 * n];
      for (int i = 0; i < n; i++) {
        System.arraycopy(a0[i], 0, a[i], 0, n);
        a[i][n + i] = 1;
      }
      for (int c = 0; c < n; c++) {
        int pivot = c;
        for (int r = c + 1; r < n; r++) {
          if (Math.abs(a[r][c]) > Math.abs(a[pivot][c])) {
            pivot = r;
          }
        }
        double[] tmp = a[c];
        a[c] = a[pivot];
        a[pivot] = tmp;
        double p = a[c][c];
        for (int j = 0; j < 2 * n; j++) {
          a[c][j] /= p;
        }
        for (int r = 0; r < n; r++) {
          if (r != c && a[r][c] != 0) {
            double f = a[r][c];
            for (int j = 0; j < 2 * n; j++) {
              a[r][j] -= f * a[c][j];
            }
          }
        }
      }
      double[][] inv = new double[n][n];
      for (int i = 0; i < n; i++) {
        System.arraycopy(a[i], n, inv[i], 0, n);
      }
      return inv;
    }

    /** U upper triangular with A = Uᵀ·U. */
    static double[][] upperCholesky(double[][] a) {
      int n = a.length;
      double[][] u = new double[n][n];
      for (int i = 0; i < n; i++) {
        double diag = a[i][i];
        for (int k = 0; k < i; k++) {
          diag -= u[k][i] * u[k][i];
        }
        u[i][i] = Math.sqrt(diag);
        for (int j = i + 1; j < n; j++) {
          double v = a[i][j];
          for (int k = 0; k < i; k++) {
            v -= u[k][i] * u[k][j];
          }
          u[i][j] = v / u[i][i];
        }
      }
      return u;
    }
  }
}
