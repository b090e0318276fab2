package sparkslim.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.io.OutputDirectory;
import sparkslim.core.model.ModelExporter;
import sparkslim.core.model.RandomModel;

/**
 * {@code sparkslim random-model}: writes a HuggingFace model directory ({@code output.path} itself) of random bf16 weights
 * at a published shape ({@code random.architecture}), so users can check that a cluster carries their model before
 * compressing it. The work is {@link RandomModel}; this class adds the output protocol (staged, renamed, {@code _SUCCESS}
 * last), {@code report.json}, {@code resolved-config.yaml} and a progress line per layer. No Spark.
 */
public final class RandomModelJob {
  /** The weight files a model directory may hold; those of an earlier run that this run does not write are removed. */
  private static final Pattern WEIGHT_FILE = Pattern.compile("model(-\\d{5}-of-\\d{5})?\\.safetensors|model\\.safetensors\\.index\\.json");
  private static final ObjectMapper JSON = new ObjectMapper();

  private RandomModelJob() {}

  public static void run(List<String> args) {
    JobRun run = JobRun.start("random-model", args);
    long t0 = run.startNanos();
    Config config = run.config();
    String outputPath = config.required(ConfigKey.OUTPUT_PATH);
    RandomModel.Options options = RandomModel.Options.from(config);
    run.log("run %s: %s, %d layers, vocab %d, seed %d, std %s -> %s", run.runId(), options.preset().id(), options.numLayers(),
        options.vocabSize(), options.seed(), options.std(), outputPath);
    run.withOutput(outputPath, (out, report) -> {
      FileSystem fs = out.fileSystem();
      RandomModel.Result result = RandomModel.write(options, fs, out.stagingDir(), ModelExporter.DEFAULT_MAX_SHARD_BYTES,
          (block, done, total, bytes) -> run.log("layer %d/%d written (block %d, %.2f GB, %.1f s)", done, total, block, bytes / 1e9,
              (System.nanoTime() - t0) / 1e9));
      long tWritten = System.nanoTime();
      long bytes = 0;
      int shards = 0;
      for (String f : result.files()) {
        if (f.endsWith(".safetensors")) {
          bytes += fs.getFileStatus(out.staged(f)).getLen();
          shards++;
        }
      }
      report.put("output", out.root().toString());
      report.put("architecture", options.preset().id());
      report.put("num_layers", options.numLayers());
      report.put("vocab_size", options.vocabSize());
      report.put("seed", options.seed());
      report.put("std", options.std());
      report.put("parameters", result.parameters());
      report.put("bytes", bytes);
      report.put("tensor_bytes", result.tensorBytes());
      report.put("shards", shards);
      ObjectNode seconds = report.putObject("seconds");
      seconds.put("write", secs(t0, tWritten));
      seconds.put("total", secs(t0, System.nanoTime()));
      removeStaleWeights(fs, out.root(), new HashSet<>(result.files()));
      run.log("%s: %,d parameters, %,d bytes in %d shard%s, %.1f s", options.preset().id(), result.parameters(), bytes, shards,
          shards == 1 ? "" : "s", (System.nanoTime() - t0) / 1e9);
    });
  }

  /** Deletes weight files of an earlier model in {@code root} that this run does not replace (another shard count). */
  private static void removeStaleWeights(FileSystem fs, Path root, Set<String> written) throws IOException {
    for (FileStatus st : fs.listStatus(root)) {
      String name = st.getPath().getName();
      if (st.isFile() && WEIGHT_FILE.matcher(name).matches() && !written.contains(name)) {
        log("removing %s of an earlier model", st.getPath());
        fs.delete(st.getPath(), false);
      }
    }
  }

  private static double secs(long from, long to) {
    return Math.round((to - from) / 1e6) / 1e3;
  }

  static void log(String format, Object... args) {
    System.err.println("[sparkslim random-model] " + String.format(Locale.ROOT, format, args));
  }
}
