package sparkslim.core.bench;

import java.util.Locale;
import java.util.SplittableRandom;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.prune.MaskStructure;
import sparkslim.core.prune.SparseGptSolver;

/**
 * Benchmark (not a test): one SparseGPT solve on a LLaMA-7B {@code down_proj} shape, W (4096, 11008) with a random
 * SPD Hessian (11008, 11008), next to its FLOP-bound time at this machine's sgemm peak measured in the same run.
 * FLOPs counted: the Hessian factorization (n³/3 for the Cholesky, n³/3 for the triangular inverse), the in-block OBS
 * updates (rows·n·B) and the lazy batch updates (rows·n²).
 */
public final class SparseGptBenchmark {
  private SparseGptBenchmark() {}

  public static String run(int rows, int cols, double sparsity, int blockSize) {
    double[] h = randomHessian(cols);
    float[] w = randomWeight(rows, cols);
    double peak = ForwardBenchmark.sgemmGflops();
    long t0 = System.nanoTime();
    CompressedLinear.Masked r = new SparseGptSolver(sparsity, MaskStructure.UNSTRUCTURED, blockSize, SparseGptSolver.DEFAULT_DAMPENING_FRACTION)
        .solve(w, rows, cols, h);
    double seconds = (System.nanoTime() - t0) / 1e9;
    double n = cols;
    double flops = 2 * n * n * n / 3 + (double) rows * n * blockSize + (double) rows * n * n;
    double bound = flops / (peak * 1e9);
    return String.format(Locale.ROOT,
        "{\"rows\": %d, \"cols\": %d, \"sparsity\": %.2f, \"block_size\": %d, \"seconds\": %.2f, \"gflop\": %.1f, \"sgemm_gflops\": %.1f, "
            + "\"flop_bound_seconds\": %.2f, \"ratio_to_flop_bound\": %.2f, \"actual_sparsity\": %.4f}",
        rows, cols, sparsity, blockSize, seconds, flops / 1e9, peak, bound, seconds / bound, r.sparsity());
  }

  /** A (cols, cols) symmetric, diagonally dominant (so SPD, by Gershgorin) Hessian, seeded. */
  static double[] randomHessian(int cols) {
    SplittableRandom rnd = new SplittableRandom(42);
    double[] h = new double[cols * cols]; // (cols, cols)
    for (int i = 0; i < cols; i++) {
      for (int j = i + 1; j < cols; j++) {
        double v = rnd.nextDouble(-1, 1);
        h[i * cols + j] = v;
        h[j * cols + i] = v;
      }
      h[i * cols + i] = cols;
    }
    return h;
  }

  /** A (rows, cols) weight uniform in [−0.05, 0.05), seeded. */
  static float[] randomWeight(int rows, int cols) {
    SplittableRandom rnd = new SplittableRandom(43);
    float[] w = new float[rows * cols]; // (rows, cols)
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) rnd.nextDouble(-0.05, 0.05);
    }
    return w;
  }
}
