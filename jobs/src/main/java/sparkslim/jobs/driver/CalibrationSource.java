package sparkslim.jobs.driver;

import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;
import sparkslim.core.calib.CalibrationSampler;
import sparkslim.core.calib.CalibrationWindows;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.tokenize.TextFiles;
import sparkslim.core.tokenize.TextTokenizer;

/** Resolves the calibration windows on the driver: a windows file (first rows and columns) or a text file and the sampler. */
public final class CalibrationSource {
  private CalibrationSource() {}

  /** Validates the calibration keys and returns (numSamples) windows of seqlen tokens. */
  public static List<int[]> windows(Config c, ModelDirectory model, Configuration conf) {
    String windowsFile = c.string(ConfigKey.CALIBRATION_WINDOWS).trim();
    String text = c.string(ConfigKey.CALIBRATION_TEXT).trim();
    int numSamples = c.integer(ConfigKey.CALIBRATION_NUM_SAMPLES);
    int seqlen = c.integer(ConfigKey.CALIBRATION_SEQLEN);
    if (numSamples <= 0) {
      throw new SparkslimException("'calibration.num-samples' is set to " + numSamples + " but must be > 0");
    }
    if (seqlen <= 1) {
      throw new SparkslimException("'calibration.seqlen' is set to " + seqlen + " but must be > 1");
    }
    if (seqlen > model.spec().maxPositionEmbeddings()) {
      throw new SparkslimException("'calibration.seqlen' is set to " + seqlen + " but must be at most the model's max_position_embeddings, "
          + model.spec().maxPositionEmbeddings() + " (" + model.root() + "/config.json)");
    }
    if (windowsFile.isEmpty() == text.isEmpty()) {
      throw new SparkslimException("Exactly one of 'calibration.windows' and 'calibration.text' must be set, found "
          + (windowsFile.isEmpty() ? "neither" : "both"));
    }
    if (!windowsFile.isEmpty()) {
      List<int[]> all = CalibrationWindows.read(windowsFile, model.spec().vocabSize(), conf);
      return CalibrationWindows.firstRowsAndColumns(all, numSamples, seqlen);
    }
    int[] tokens;
    try (TextTokenizer tokenizer = TextTokenizer.load(model.fileSystem(), model.tokenizerPath())) {
      tokens = tokenizer.encode(TextFiles.read(new Path(text), conf, ConfigKey.CALIBRATION_TEXT.key()));
    }
    return CalibrationSampler.sample(tokens, numSamples, seqlen, c.integer(ConfigKey.CALIBRATION_SEED), text);
  }
}
