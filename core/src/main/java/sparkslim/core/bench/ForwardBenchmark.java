package sparkslim.core.bench;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.bytedeco.javacpp.FloatPointer;
import sparkslim.core.eval.EvalWindows;
import sparkslim.core.linalg.Blas;
import sparkslim.core.io.DType;
import sparkslim.core.io.HalfFloats;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.HalfTensor;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.model.RandomModel;
import sparkslim.core.tokenize.TextFiles;
import sparkslim.core.tokenize.TextTokenizer;

/**
 * Benchmark (not a test): forward-pass and training-pass throughput on evaluation windows, and of one block at a
 * published shape, next to this machine's sgemm peak measured in the same run. Prints tokens/s, achieved GFLOP/s
 * (matrix products only), sgemm GFLOP/s and their ratio.
 */
public final class ForwardBenchmark {
  private static final int SGEMM_N = 2048;
  private static final int SGEMM_ROUNDS = 5;

  private ForwardBenchmark() {}

  /** args: modelDir textFile [windows=16] [seqlen=512]; one task. */
  public static String run(String modelDir, String textFile, int windows, int seqlen) {
    return run(modelDir, textFile, windows, seqlen, 1);
  }

  /**
   * As {@link #run(String, String, int, int)} with the stacks of windows shared by {@code tasks} threads, as a job's
   * tasks share an executor's cores (call with one BLAS thread, as the jobs' tasks run).
   */
  public static String run(String modelDir, String textFile, int windows, int seqlen, int tasks) {
    Loaded loaded = load(modelDir, textFile, windows, seqlen);
    CausalLm lm = loaded.lm();
    List<int[]> ws = loaded.windows();
    int perStack = CausalLm.windowsPerProduct(lm.spec(), seqlen);
    lm.windowNlls(ws.subList(0, Math.min(perStack, ws.size()))); // warm-up: JIT, workspaces
    List<List<int[]>> stacks = new java.util.ArrayList<>();
    for (int i = 0; i < ws.size(); i += perStack) { // stacked as the eval job stacks them
      stacks.add(ws.subList(i, Math.min(ws.size(), i + perStack)));
    }
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(tasks);
    long t0 = System.nanoTime();
    double sum = 0;
    try {
      List<java.util.concurrent.Future<double[]>> futures = new java.util.ArrayList<>();
      for (List<int[]> stack : stacks) {
        futures.add(pool.submit(() -> lm.windowNlls(stack)));
      }
      for (java.util.concurrent.Future<double[]> f : futures) {
        for (double nll : f.get()) {
          sum += nll;
        }
      }
    } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException("bench-forward task failed", e);
    } finally {
      pool.shutdown();
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    double flops = (double) lm.flops(seqlen) * ws.size();
    double achieved = flops / seconds / 1e9;
    int blasThreads = Blas.threads();
    if (tasks > 1) {
      Blas.setThreads(tasks); // the peak of the cores the tasks share
    }
    double peak = sgemmGflops();
    Blas.setThreads(blasThreads);
    String result = String.format(Locale.ROOT,
        "{\"pass\": \"forward\", \"model\": \"%s\", \"tasks\": %d, \"windows\": %d, \"windows_per_product\": %d, \"seqlen\": %d, "
            + "\"seconds\": %.3f, \"tokens_per_second\": %.1f, "
            + "\"forward_gflops\": %.2f, \"sgemm_gflops\": %.2f, \"ratio_to_sgemm_peak\": %.3f, \"mean_nll\": %.6f, \"blas_threads\": %d}",
        modelDir, tasks, ws.size(), perStack, seqlen, seconds, ws.size() * (double) seqlen / seconds, achieved, peak, achieved / peak,
        sum / ws.size(), Blas.threads());
    return result;
  }

  private record Loaded(CausalLm lm, List<int[]> windows) {}

  /** The model and the first {@code windows} windows of {@code seqlen} tokens of the text, under the eval protocol. */
  private static Loaded load(String modelDir, String textFile, int windows, int seqlen) {
    Configuration conf = new Configuration();
    ModelDirectory dir = ModelDirectory.open(modelDir, conf);
    CausalLm lm = dir.loadModel();
    int[] tokens;
    try (TextTokenizer tok = TextTokenizer.load(dir.fileSystem(), dir.tokenizerPath())) {
      tokens = tok.encode(TextFiles.read(new Path(textFile), conf, "bench text"));
    }
    return new Loaded(lm, EvalWindows.cut(tokens, seqlen, windows, textFile));
  }

  /**
   * The training pass of full fine-tuning on {@code windows} windows, one at a time: forward with tapes, backward into a
   * gradient for every parameter. FLOPs counted as 3 × the forward's products (the forward, the input gradients and
   * the weight gradients).
   */
  public static String runBackward(String modelDir, String textFile, int windows, int seqlen) {
    Loaded loaded = load(modelDir, textFile, windows, seqlen);
    CausalLm lm = loaded.lm();
    List<int[]> ws = loaded.windows();
    ModelSpec spec = lm.spec();
    Map<String, float[]> gradients = new LinkedHashMap<>();
    spec.globalTensorShapes().forEach((name, shape) -> gradients.put(name, new float[(int) ModelSpec.numel(shape)]));
    for (int i = 0; i < spec.numLayers(); i++) {
      String prefix = spec.blockPrefix(i);
      spec.blockTensorShapes().forEach((name, shape) -> gradients.put(prefix + name, new float[(int) ModelSpec.numel(shape)]));
    }
    lm.backward(ws.get(0), gradients, false); // warm-up
    long t0 = System.nanoTime();
    double loss = 0;
    for (int[] w : ws) {
      loss += lm.backward(w, gradients, false);
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    double achieved = 3.0 * lm.flops(seqlen) * ws.size() / seconds / 1e9;
    double peak = sgemmGflops();
    return String.format(Locale.ROOT,
        "{\"pass\": \"training\", \"model\": \"%s\", \"windows\": %d, \"seqlen\": %d, \"seconds\": %.3f, "
            + "\"tokens_per_second\": %.1f, \"training_gflops\": %.2f, \"sgemm_gflops\": %.2f, \"ratio_to_sgemm_peak\": %.3f, "
            + "\"mean_nll\": %.6f, \"blas_threads\": %d}",
        modelDir, ws.size(), seqlen, seconds, ws.size() * (double) seqlen / seconds, achieved, peak, achieved / peak,
        loss / ws.size() / (seqlen - 1), Blas.threads());
  }

  /**
   * One decoder block of a published shape ({@code preset}, e.g. LLaMA-7B) with random bf16 weights (std 0.02, norms
   * 1) held 16-bit as a loaded block is: {@code reps} forwards of {@link CausalLm#windowsPerProduct} stacked windows of
   * {@code seqlen} random hidden states, then {@code reps} training passes of one window (forward with a tape, backward
   * into a gradient for every tensor of the block). Prints one JSON line per pass against the sgemm peak.
   */
  public static List<String> runBlock(RandomModel.Preset preset, int seqlen, int reps) {
    ModelSpec spec = RandomModel.spec(RandomModel.Options.of(preset));
    SplittableRandom random = new SplittableRandom(0);
    Map<String, HalfTensor> halves = new LinkedHashMap<>();
    spec.blockTensorShapes().forEach((name, shape) -> {
      short[] bits = new short[(int) ModelSpec.numel(shape)];
      boolean norm = shape.length == 1;
      for (int i = 0; i < bits.length; i++) {
        bits[i] = HalfFloats.floatToBf16(norm ? 1f : (float) (0.02 * random.nextGaussian()));
      }
      halves.put(name, new HalfTensor(shape, DType.BF16, bits));
    });
    DecoderBlock block = DecoderBlock.of(spec, Map.of(), halves);
    int stack = CausalLm.windowsPerProduct(spec, seqlen);
    float[] hidden = new float[stack * seqlen * spec.hiddenSize()]; // (stack·seqlen, hiddenSize)
    for (int i = 0; i < hidden.length; i++) {
      hidden[i] = (float) random.nextGaussian();
    }
    block.forward(hidden, seqlen); // warm-up
    long t0 = System.nanoTime();
    for (int r = 0; r < reps; r++) {
      block.forward(hidden, seqlen);
    }
    double forwardSeconds = (System.nanoTime() - t0) / 1e9 / reps;
    double forwardFlops = (double) block.flops(seqlen) * stack;
    float[] one = java.util.Arrays.copyOf(hidden, seqlen * spec.hiddenSize()); // (seqlen, hiddenSize)
    Map<String, float[]> gradients = new LinkedHashMap<>();
    spec.blockTensorShapes().forEach((name, shape) -> gradients.put(name, new float[(int) ModelSpec.numel(shape)]));
    float[] dOut = java.util.Arrays.copyOf(hidden, one.length);
    DecoderBlock.Tape warm = new DecoderBlock.Tape();
    block.forward(one, seqlen, null, warm);
    block.backward(warm, dOut, seqlen, gradients);
    t0 = System.nanoTime();
    for (int r = 0; r < reps; r++) {
      DecoderBlock.Tape tape = new DecoderBlock.Tape();
      block.forward(one, seqlen, null, tape);
      block.backward(tape, dOut, seqlen, gradients);
    }
    double trainingSeconds = (System.nanoTime() - t0) / 1e9 / reps;
    double trainingFlops = 3.0 * block.flops(seqlen);
    double peak = sgemmGflops();
    String common = String.format(Locale.ROOT, "\"shape\": \"%s\", \"seqlen\": %d, \"reps\": %d, \"sgemm_gflops\": %.2f, \"blas_threads\": %d",
        preset.id(), seqlen, reps, peak, Blas.threads());
    return List.of(
        String.format(Locale.ROOT, "{\"pass\": \"block-forward\", %s, \"windows_per_product\": %d, \"seconds\": %.3f, \"gflops\": %.2f, "
            + "\"ratio_to_sgemm_peak\": %.3f}", common, stack, forwardSeconds, forwardFlops / forwardSeconds / 1e9,
            forwardFlops / forwardSeconds / 1e9 / peak),
        String.format(Locale.ROOT, "{\"pass\": \"block-training\", %s, \"windows_per_product\": 1, \"seconds\": %.3f, \"gflops\": %.2f, "
            + "\"ratio_to_sgemm_peak\": %.3f}", common, trainingSeconds, trainingFlops / trainingSeconds / 1e9,
            trainingFlops / trainingSeconds / 1e9 / peak));
  }

  /**
   * Best of {@value #SGEMM_ROUNDS} 2048×2048 fp32 products through {@code cblas_sgemm} on native buffers: the call
   * and BLAS the forward pass uses, on as many threads as {@link Blas#threads}. (Through ND4J's {@code mmul} the same
   * product measured 0.65–0.75× of this on 2 threads, which made ratios against it exceed 1.)
   */
  public static double sgemmGflops() {
    int n = SGEMM_N;
    java.util.SplittableRandom random = new java.util.SplittableRandom(1);
    float[] values = new float[n * n];
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) random.nextDouble();
    }
    try (FloatPointer a = new FloatPointer(values); FloatPointer b = new FloatPointer(values); FloatPointer c = new FloatPointer((long) n * n)) {
      Blas.gemm(false, n, n, n, a, 0, n, b, 0, n, c, 0, n);
      double best = Double.MAX_VALUE;
      for (int r = 0; r < SGEMM_ROUNDS; r++) {
        long t = System.nanoTime();
        Blas.gemm(false, n, n, n, a, 0, n, b, 0, n, c, 0, n);
        best = Math.min(best, (System.nanoTime() - t) / 1e9);
      }
      return 2.0 * n * n * n / best / 1e9;
    }
  }

  public static void main(String[] args) {
    int windows = args.length > 2 ? Integer.parseInt(args[2]) : 16;
    int seqlen = args.length > 3 ? Integer.parseInt(args[3]) : 512;
    System.out.println(run(args[0], args[1], windows, seqlen));
  }
}
