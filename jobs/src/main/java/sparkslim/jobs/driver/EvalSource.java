package sparkslim.jobs.driver;

import org.apache.hadoop.conf.Configuration;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.eval.EvalTexts;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.plan.EvalSettings;
import sparkslim.core.tokenize.TextTokenizer;

/** Resolves the optional evaluation texts of a compression job on the driver: {@code eval.texts} cut into windows. */
public final class EvalSource {
  private EvalSource() {}

  /** Parses and checks the eval keys (also against the model), then returns the texts as {@link #texts(EvalSettings, ModelDirectory, Configuration)}. */
  public static EvalTexts texts(Config config, ModelDirectory model, Configuration conf) {
    EvalSettings settings = EvalSettings.of(config, false);
    settings.check(model.spec(), model.root() + "/" + ModelDirectory.CONFIG_FILE);
    return texts(settings, model, conf);
  }

  /** The texts of {@code eval.texts}, tokenized with the model's tokenizer and cut into windows; null when none are set. */
  public static EvalTexts texts(EvalSettings settings, ModelDirectory model, Configuration conf) {
    if (!settings.enabled()) {
      return null;
    }
    try (TextTokenizer tokenizer = TextTokenizer.load(model.fileSystem(), model.tokenizerPath())) {
      return EvalTexts.prepare(tokenizer, settings.texts(), settings.seqlen(), settings.maxWindows(), conf, ConfigKey.EVAL_TEXTS.key());
    }
  }
}
