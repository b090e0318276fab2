package sparkslim.jobs.driver;

import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.calib.CalibrationSampler;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.plan.CalibrationSettings;
import sparkslim.core.tokenize.TextFiles;
import sparkslim.core.tokenize.TextTokenizer;

/** Resolves the calibration windows on the driver: a windows file (first rows and columns) or a text file and the sampler. */
public final class CalibrationSource {
  private CalibrationSource() {}

  /** Parses and checks the calibration keys (also against the model), then returns (numSamples) windows of seqlen tokens. */
  public static List<int[]> windows(Config c, ModelDirectory model, Configuration conf) {
    CalibrationSettings settings = CalibrationSettings.of(c, true);
    settings.check(model.spec(), model.root() + "/" + ModelDirectory.CONFIG_FILE);
    return windows(settings, model, conf);
  }

  /** The (numSamples) windows of seqlen tokens of checked settings. */
  public static List<int[]> windows(CalibrationSettings settings, ModelDirectory model, Configuration conf) {
    if (settings.fromWindowsFile()) {
      return settings.readWindowsFile(model.spec(), conf);
    }
    int[] tokens;
    try (TextTokenizer tokenizer = TextTokenizer.load(model.fileSystem(), model.tokenizerPath())) {
      tokens = tokenizer.encode(TextFiles.read(new Path(settings.text()), conf, ConfigKey.CALIBRATION_TEXT.key()));
    }
    return CalibrationSampler.sample(tokens, settings.numSamples(), settings.seqlen(), settings.seed(), settings.text());
  }
}
