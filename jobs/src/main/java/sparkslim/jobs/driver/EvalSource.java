package sparkslim.jobs.driver;

import java.util.List;
import org.apache.hadoop.conf.Configuration;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.eval.EvalTexts;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.tokenize.TextTokenizer;

/** Resolves the optional evaluation texts of a compression job on the driver: {@code eval.texts} cut into windows. */
public final class EvalSource {
  private EvalSource() {}

  /** The texts of {@code eval.texts}, tokenized with the model's tokenizer and cut into windows; null when none are set. */
  public static EvalTexts texts(Config config, ModelDirectory model, Configuration conf) {
    List<String> texts = config.list(ConfigKey.EVAL_TEXTS);
    if (texts.isEmpty()) {
      return null;
    }
    try (TextTokenizer tokenizer = TextTokenizer.load(model.fileSystem(), model.tokenizerPath())) {
      return EvalTexts.prepare(tokenizer, texts, config.integer(ConfigKey.EVAL_SEQLEN), config.integer(ConfigKey.EVAL_MAX_WINDOWS), conf,
          ConfigKey.EVAL_TEXTS.key());
    }
  }
}
