package sparkslim.core.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.Locale;
import sparkslim.core.calib.InputStatistics;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.linalg.GramSlices;
import sparkslim.core.lowrank.LowRankMethod;
import sparkslim.core.lowrank.LowRankSolver;

/**
 * Benchmark (not a test): one SVD-LLM solve (docs/depth_quant.md §5) on a LLaMA-7B {@code down_proj} shape, W (4096,
 * 11008) with a random SPD Σ XᵀX (11008, 11008), next to its FLOP-bound time at this machine's sgemm peak measured in
 * the same run, and the JVM's peak heap. FLOPs counted (all fp64, whose peak is about half the fp32 one): the Cholesky
 * of G (n³/3), W·S (m·n²), the thin SVD of the (m, n) product (4m²n + 22m³, m ≤ n: Golub and Van Loan's R-SVD) and
 * V_kᵀ·S⁻¹ (k·n²). dgesdd's workspace is native memory, outside the heap.
 */
public final class LowRankBenchmark {
  private LowRankBenchmark() {}

  public static String run(int rows, int cols, double ratio) {
    double[] g = SparseGptBenchmark.randomHessian(cols); // (cols, cols) symmetric, diagonally dominant
    double[] packed = new double[GramSlices.packedSize(cols)];
    for (int i = 0, p = 0; i < cols; i++) { // the packed upper triangle the statistics pipeline delivers
      for (int j = i; j < cols; j++) {
        packed[p++] = g[i * cols + j];
      }
    }
    InputStatistics stats = new InputStatistics(cols, packed, 1, cols);
    float[] w = SparseGptBenchmark.randomWeight(rows, cols);
    double peak = ForwardBenchmark.sgemmGflops();
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      pool.resetPeakUsage();
    }
    long t0 = System.nanoTime();
    CompressedLinear.Factored r = new LowRankSolver(LowRankMethod.SVD_LLM, ratio).solve(w, rows, cols, stats, g); // g: the scratch
    double seconds = (System.nanoTime() - t0) / 1e9;
    long peakHeap = 0;
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      if (pool.getType() == MemoryType.HEAP) {
        peakHeap += pool.getPeakUsage().getUsed();
      }
    }
    double m = Math.min(rows, cols);
    double n = Math.max(rows, cols);
    double c = cols;
    double flops = c * c * c / 3 + rows * c * c + 4 * m * m * n + 22 * m * m * m + r.rank() * c * c;
    double bound = flops / (peak * 1e9);
    return String.format(Locale.ROOT,
        "{\"bench\": \"lowrank-solve\", \"method\": \"svd-llm\", \"rows\": %d, \"cols\": %d, \"ratio\": %.2f, \"rank\": %d, \"seconds\": %.2f, "
            + "\"gflop\": %.1f, \"sgemm_gflops\": %.1f, \"flop_bound_seconds\": %.2f, \"ratio_to_flop_bound\": %.2f, \"peak_heap_gib\": %.2f, "
            + "\"truncation_loss\": %.6g}",
        rows, cols, ratio, r.rank(), seconds, flops / 1e9, peak, bound, seconds / bound, peakHeap / (double) (1L << 30), r.loss());
  }
}
