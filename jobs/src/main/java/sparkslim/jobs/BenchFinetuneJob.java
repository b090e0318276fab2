package sparkslim.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.bench.ForwardBenchmark;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.train.TrainingMetrics;

/**
 * {@code sparkslim bench-finetune}: a {@code finetune} run of {@code finetune.max-steps} steps (default 20, on
 * {@code local[2]} unless {@code spark.master} is given), then this machine's sgemm peak measured in the same JVM.
 * Prints one JSON line: steady-state tokens/s (every step but the first, which includes the JIT warm-up and the
 * broadcast), the achieved GFLOP/s of the training pass's matrix products (forward, plus the input gradients, plus the
 * weight gradients of what is trained: 2× the forward for LoRA, 3× for full and QAT, one more forward with activation
 * checkpointing) and its ratio to the sgemm peak of all the machine's cores.
 */
public final class BenchFinetuneJob {
  private BenchFinetuneJob() {}

  public static void run(List<String> args) throws IOException {
    List<String> all = new ArrayList<>(args);
    if (args.stream().noneMatch(a -> a.startsWith("--finetune.max-steps="))) {
      all.add("--finetune.max-steps=20");
    }
    if (args.stream().noneMatch(a -> a.startsWith("--spark.master="))) {
      all.add("--spark.master=local[2]");
    }
    java.nio.file.Path scratch = null;
    if (args.stream().noneMatch(a -> a.startsWith("--output.path="))) {
      scratch = Files.createTempDirectory("sparkslim-bench-finetune");
      all.add("--output.path=" + scratch.resolve("out"));
    }
    Config c = ConfigLoader.fromArgs(FinetuneJob.JOB, all);
    FinetuneJob.run(all);
    String out = c.string(ConfigKey.OUTPUT_PATH);
    JsonNode report = new ObjectMapper().readTree(Files.readString(java.nio.file.Path.of(out.replaceFirst("^file:", ""), "report.json")));
    List<TrainingMetrics.Step> steps = TrainingMetrics.readAll(new Path(out, "metrics"), Integer.MAX_VALUE, new Configuration());
    double seconds = 0;
    long tokens = 0;
    for (TrainingMetrics.Step s : steps.subList(Math.min(1, steps.size()), steps.size())) {
      seconds += s.seconds();
      tokens += s.tokens();
    }
    int seqlen = c.integer(ConfigKey.FINETUNE_SEQLEN);
    String method = c.string(ConfigKey.FINETUNE_METHOD);
    boolean recompute = report.path("spark").path("recompute").asBoolean();
    double passes = (method.equals("lora") ? 2 : 3) + (recompute ? 1 : 0);
    double flopsPerWindow = passes * ModelDirectory.open(c.string(ConfigKey.MODEL_PATH), new Configuration()).loadModel().flops(seqlen);
    double tokensPerSecond = tokens / seconds;
    double achieved = tokensPerSecond / seqlen * flopsPerWindow / 1e9;
    // local mode ran the tasks in this JVM with one BLAS thread each: the peak is that of every core together
    sparkslim.core.linalg.Blas.setThreads(Runtime.getRuntime().availableProcessors());
    double peak = ForwardBenchmark.sgemmGflops();
    System.out.println(String.format(Locale.ROOT,
        "{\"method\": \"%s\", \"master\": \"%s\", \"micro_batch_size\": %d, \"steps_timed\": %d, \"tokens\": %d, \"seconds\": %.3f, \"tokens_per_second\": %.1f, "
            + "\"training_gflops\": %.2f, \"sgemm_gflops\": %.2f, \"ratio_to_sgemm_peak\": %.3f, \"passes_per_window\": %.0f, \"loss_first\": %.6f, "
            + "\"loss_last\": %.6f}",
        method, report.path("spark").path("master").asText(), c.integer(ConfigKey.FINETUNE_MICRO_BATCH_SIZE), Math.max(0, steps.size() - 1), tokens, seconds, tokensPerSecond, achieved, peak,
        achieved / peak, passes, steps.get(0).loss(), steps.get(steps.size() - 1).loss()));
    if (scratch != null) {
      try (java.util.stream.Stream<java.nio.file.Path> walk = Files.walk(scratch)) {
        walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }
}
