package sparkslim.core.plan;

import java.util.List;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.eval.EvalMode;
import sparkslim.core.model.ModelSpec;

/**
 * {@code eval.*}: the texts a job measures perplexity on, cut into windows of {@code seqlen} tokens.
 *
 * @param texts the text files; empty when a compression job evaluates nothing
 * @param seqlen tokens per window, at least 2 (one prediction needs two tokens)
 * @param maxWindows at most this many windows per text; 0 = all
 * @param partitions Spark partitions of the windows; 0 = automatic
 * @param mode how the model is run: in memory, streamed block by block, or decided from the executors' memory
 */
public record EvalSettings(List<String> texts, int seqlen, int maxWindows, int partitions, EvalMode mode) {
  public EvalSettings {
    texts = List.copyOf(texts);
  }

  /**
   * Parses and checks the {@code eval.*} keys; {@code textsRequired} for the eval job, whose only input they are.
   * The numbers are checked even when no text is set.
   */
  public static EvalSettings of(Config c, boolean textsRequired) {
    List<String> texts = c.list(ConfigKey.EVAL_TEXTS);
    if (textsRequired && texts.isEmpty()) {
      throw new SparkslimException("Missing required key '" + ConfigKey.EVAL_TEXTS.key() + "' (" + ConfigKey.EVAL_TEXTS.description()
          + "): pass --" + ConfigKey.EVAL_TEXTS.key() + "=FILE[,FILE...]");
    }
    int seqlen = Values.atLeast(c, ConfigKey.EVAL_SEQLEN, 2, "");
    int maxWindows = Values.atLeast(c, ConfigKey.EVAL_MAX_WINDOWS, 0, "(0 = all windows)");
    int partitions = Values.atLeast(c, ConfigKey.EVAL_PARTITIONS, 0, "(0 = automatic)");
    EvalMode mode = EvalMode.parse(c.string(ConfigKey.EVAL_MODE), ConfigKey.EVAL_MODE.key());
    return new EvalSettings(texts, seqlen, maxWindows, partitions, mode);
  }

  /** True when {@code eval.texts} names at least one file. */
  public boolean enabled() {
    return !texts.isEmpty();
  }

  /** With texts set: a window must fit the model's positions ({@code source} names its config.json). */
  public void check(ModelSpec spec, String source) {
    if (enabled() && seqlen > spec.maxPositionEmbeddings()) {
      throw new SparkslimException("'" + ConfigKey.EVAL_SEQLEN.key() + "' is set to " + seqlen + " but must be at most the model's "
          + "max_position_embeddings, " + spec.maxPositionEmbeddings() + " (" + source + ")");
    }
  }
}
