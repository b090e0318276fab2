package sparkslim.core.bench;

import java.util.Locale;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;
import sparkslim.core.quant.ActOrder;
import sparkslim.core.quant.GptqSolver;
import sparkslim.core.quant.QuantScheme;

/**
 * Benchmark (not a test): one GPTQ solve on a LLaMA-7B {@code down_proj} shape, W (4096, 11008) with a random SPD
 * Hessian (11008, 11008), for each act-order, next to its FLOP-bound time at this machine's sgemm peak measured in the
 * same run. FLOPs counted as for SparseGPT ({@link SparseGptBenchmark}): the factorization (2n³/3), the in-block
 * updates (rows·n·B) and the lazy batch updates (rows·n²).
 */
public final class GptqBenchmark {
  private GptqBenchmark() {}

  /** One JSON line per act-order, off, static and dynamic. */
  public static String run(int rows, int cols, int bits, int groupSize, int blockSize) {
    double[] h = SparseGptBenchmark.randomHessian(cols);
    float[] w = SparseGptBenchmark.randomWeight(rows, cols);
    double peak = ForwardBenchmark.sgemmGflops();
    QuantScheme scheme = QuantScheme.group(bits, groupSize, true, DType.BF16);
    double n = cols;
    double flops = 2 * n * n * n / 3 + (double) rows * n * blockSize + (double) rows * n * n;
    double bound = flops / (peak * 1e9);
    StringBuilder out = new StringBuilder();
    for (ActOrder order : ActOrder.values()) {
      long t0 = System.nanoTime();
      CompressedLinear.Quantized q = new GptqSolver(scheme, blockSize, 0.01, order).solveConsumingHessian(w, rows, cols, h.clone());
      double seconds = (System.nanoTime() - t0) / 1e9;
      out.append(out.length() == 0 ? "" : "\n").append(String.format(Locale.ROOT,
          "{\"rows\": %d, \"cols\": %d, \"scheme\": \"%s\", \"act_order\": \"%s\", \"block_size\": %d, \"seconds\": %.2f, \"gflop\": %.1f, "
              + "\"sgemm_gflops\": %.1f, \"flop_bound_seconds\": %.2f, \"ratio_to_flop_bound\": %.2f, \"loss\": %.6g}",
          rows, cols, scheme.label(), order.configName(), blockSize, seconds, flops / 1e9, peak, bound, seconds / bound, q.loss()));
    }
    return out.toString();
  }
}
