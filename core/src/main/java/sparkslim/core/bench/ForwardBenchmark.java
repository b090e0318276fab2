package sparkslim.core.bench;

import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import sparkslim.core.eval.EvalWindows;
import sparkslim.core.linalg.Blas;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.tokenize.TextFiles;
import sparkslim.core.tokenize.TextTokenizer;

/**
 * Benchmark (not a test): forward-pass throughput on evaluation windows, next to this machine's sgemm peak measured
 * in the same run. Prints tokens/s, achieved GFLOP/s (matrix products only), sgemm GFLOP/s and their ratio.
 */
public final class ForwardBenchmark {
  private static final int SGEMM_N = 2048;
  private static final int SGEMM_ROUNDS = 5;

  private ForwardBenchmark() {}

  /** args: modelDir textFile [windows=16] [seqlen=512]. */
  public static String run(String modelDir, String textFile, int windows, int seqlen) {
    Configuration conf = new Configuration();
    ModelDirectory dir = ModelDirectory.open(modelDir, conf);
    CausalLm lm = dir.loadModel();
    int[] tokens;
    try (TextTokenizer tok = TextTokenizer.load(dir.fileSystem(), dir.tokenizerPath())) {
      Path p = new Path(textFile);
      tokens = tok.encode(TextFiles.read(p, conf, "bench text"));
    }
    List<int[]> ws = EvalWindows.cut(tokens, seqlen, windows, textFile);
    lm.windowNll(ws.get(0)); // warm-up: JIT, lazy weight upload
    long t0 = System.nanoTime();
    double sum = 0;
    for (int[] w : ws) {
      sum += lm.windowNll(w);
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    double flops = (double) lm.flops(seqlen) * ws.size();
    double achieved = flops / seconds / 1e9;
    double peak = sgemmGflops();
    String result = String.format(Locale.ROOT,
        "{\"model\": \"%s\", \"windows\": %d, \"seqlen\": %d, \"seconds\": %.3f, \"tokens_per_second\": %.1f, "
            + "\"forward_gflops\": %.2f, \"sgemm_gflops\": %.2f, \"ratio_to_sgemm_peak\": %.3f, \"mean_nll\": %.6f, \"blas_threads\": %d}",
        modelDir, ws.size(), seqlen, seconds, ws.size() * (double) seqlen / seconds, achieved, peak, achieved / peak,
        sum / ws.size(), Blas.threads());
    return result;
  }

  /** Best of {@value #SGEMM_ROUNDS} 2048×2048 fp32 products through ND4J (the same BLAS the forward pass uses). */
  public static double sgemmGflops() {
    INDArray a = Nd4j.rand(DataType.FLOAT, SGEMM_N, SGEMM_N);
    INDArray b = Nd4j.rand(DataType.FLOAT, SGEMM_N, SGEMM_N);
    INDArray c = Nd4j.createUninitialized(DataType.FLOAT, new long[] {SGEMM_N, SGEMM_N}, 'c');
    a.mmul(b, c);
    double best = Double.MAX_VALUE;
    for (int r = 0; r < SGEMM_ROUNDS; r++) {
      long t = System.nanoTime();
      a.mmul(b, c);
      best = Math.min(best, (System.nanoTime() - t) / 1e9);
    }
    return 2.0 * SGEMM_N * SGEMM_N * SGEMM_N / best / 1e9;
  }

  public static void main(String[] args) {
    int windows = args.length > 2 ? Integer.parseInt(args[2]) : 16;
    int seqlen = args.length > 3 ? Integer.parseInt(args[3]) : 512;
    System.out.println(run(args[0], args[1], windows, seqlen));
  }
}
