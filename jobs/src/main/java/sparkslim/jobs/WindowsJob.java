package sparkslim.jobs;

import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import sparkslim.core.SparkslimException;
import sparkslim.core.calib.CalibrationWindows;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.eval.EvalTexts;
import sparkslim.core.io.OutputDirectory;
import sparkslim.core.io.SafetensorsWriter;
import sparkslim.core.model.ModelDirectory;
import sparkslim.jobs.driver.CalibrationSource;
import sparkslim.jobs.driver.EvalSource;

/**
 * {@code sparkslim windows}: writes a calibration windows file ({@code OUT/windows.safetensors}, I64 tensor
 * {@value CalibrationWindows#TENSOR} of shape [n, seqlen]) that {@code --calibration.windows} reads. The windows are
 * either the first windows of a text under the eval protocol ({@code --eval.texts}, {@code eval.seqlen},
 * {@code eval.max-windows}), or drawn from a text by the SparseGPT sampler ({@code --calibration.text} and the other
 * calibration keys). No Spark: the work is tokenizing one text on the driver.
 */
public final class WindowsJob {
  public static final String FILE = "windows.safetensors";

  private WindowsJob() {}

  public static void run(List<String> args) {
    JobRun run = JobRun.start("windows", args);
    Config config = run.config();
    String outputPath = config.required(ConfigKey.OUTPUT_PATH);
    Configuration hadoopConf = run.hadoopConf();
    ModelDirectory model = ModelDirectory.open(config.required(ConfigKey.MODEL_PATH), hadoopConf);
    List<String> texts = config.list(ConfigKey.EVAL_TEXTS);
    boolean sampled = !config.string(ConfigKey.CALIBRATION_TEXT).isBlank();
    if (texts.isEmpty() == !sampled) {
      throw new SparkslimException("Exactly one of 'eval.texts' (the first windows of a text) and 'calibration.text' (sampled windows) must be set, found "
          + (sampled ? "both" : "neither"));
    }
    if (!sampled && texts.size() != 1) {
      throw new SparkslimException("'eval.texts' names " + texts.size() + " files but the windows job reads exactly one");
    }
    List<int[]> windows;
    String source;
    if (sampled) {
      windows = CalibrationSource.windows(config, model, hadoopConf);
      source = "sampled from " + config.string(ConfigKey.CALIBRATION_TEXT).trim() + " (seed " + config.integer(ConfigKey.CALIBRATION_SEED) + ")";
    } else {
      EvalTexts eval = EvalSource.texts(config, model, hadoopConf);
      windows = eval.windows().stream().map(EvalTexts.Window::tokens).toList();
      source = "first windows of " + texts.get(0);
    }
    int seqlen = windows.get(0).length;
    long[] ids = new long[windows.size() * seqlen];
    for (int w = 0; w < windows.size(); w++) {
      for (int p = 0; p < seqlen; p++) {
        ids[w * seqlen + p] = windows.get(w)[p];
      }
    }
    run.withOutput(outputPath, (out, report) -> {
      SafetensorsWriter.writeFile(out.fileSystem(), out.staged(FILE),
          List.of(SafetensorsWriter.Tensor.ofLongs(CalibrationWindows.TENSOR, new long[] {windows.size(), seqlen}, ids)),
          Map.of("source", source, "tokenizer", model.tokenizerPath().toString()));
      report.put("windows", windows.size());
      report.put("seqlen", seqlen);
      report.put("source", source);
      run.log("%d windows of %d tokens (%s) -> %s/%s", windows.size(), seqlen, source, out.root(), FILE);
    });
  }
}
