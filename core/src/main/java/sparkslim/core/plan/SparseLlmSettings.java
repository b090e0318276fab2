package sparkslim.core.plan;

import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.prune.sparsellm.FfnKind;
import sparkslim.core.prune.sparsellm.SparseLlmOptions;

/**
 * {@code pruning.sparsellm.*}, checked as numbers; {@code auto} values resolve per FFN kind ({@link #resolve}).
 *
 * @param alpha α &gt; 0, finite; null for {@code auto}
 * @param beta β &gt; 0, finite; null for {@code auto}
 * @param gamma γ &gt; 0, finite; null for {@code auto}
 * @param iterations alternations per FFN, &ge; 1; null for {@code auto}
 * @param sGradientSteps gradient steps of the LLaMA s-update, &ge; 0
 * @param sLearningRate initial s step size, &gt; 0 and finite
 */
public record SparseLlmSettings(Double alpha, Double beta, Double gamma, Integer iterations, int sGradientSteps, double sLearningRate) {
  /** The value that takes the per-architecture default. */
  public static final String AUTO = "auto";

  public static SparseLlmSettings of(Config c) {
    Double alpha = penalty(c, ConfigKey.PRUNING_SPARSELLM_ALPHA);
    Double beta = penalty(c, ConfigKey.PRUNING_SPARSELLM_BETA);
    Double gamma = penalty(c, ConfigKey.PRUNING_SPARSELLM_GAMMA);
    Integer iterations = null;
    String it = Values.text(c, ConfigKey.PRUNING_SPARSELLM_ITERATIONS);
    if (!it.equals(AUTO)) {
      try {
        iterations = Values.integer(ConfigKey.PRUNING_SPARSELLM_ITERATIONS.key(), it, "");
      } catch (SparkslimException e) {
        throw new SparkslimException("'" + ConfigKey.PRUNING_SPARSELLM_ITERATIONS.key() + "' is set to '" + it
            + "' but must be a whole number >= 1 or 'auto'");
      }
      if (iterations < 1) {
        throw new SparkslimException("'" + ConfigKey.PRUNING_SPARSELLM_ITERATIONS.key() + "' is set to " + iterations + " but must be >= 1");
      }
    }
    int steps = Values.atLeast(c, ConfigKey.PRUNING_SPARSELLM_S_GRADIENT_STEPS, 0, "(0 keeps s)");
    double rate = Values.finite(c, ConfigKey.PRUNING_SPARSELLM_S_LEARNING_RATE, "> 0");
    if (!(rate > 0)) {
      throw new SparkslimException("'" + ConfigKey.PRUNING_SPARSELLM_S_LEARNING_RATE.key() + "' is set to " + rate + " but must be > 0");
    }
    return new SparseLlmSettings(alpha, beta, gamma, iterations, steps, rate);
  }

  /** α, β or γ: {@code auto} (null) or a finite number &gt; 0. The message keeps the value as a double, e.g. "0.0". */
  private static Double penalty(Config c, ConfigKey key) {
    String t = Values.text(c, key);
    if (t.equals(AUTO)) {
      return null;
    }
    double v;
    try {
      v = Values.finite(key.key(), t, "> 0 or 'auto'");
    } catch (SparkslimException e) {
      if (e.getMessage().contains("finite")) {
        throw e;
      }
      throw new SparkslimException("'" + key.key() + "' is set to '" + t + "' but must be a number > 0 or 'auto'");
    }
    if (!(v > 0)) {
      throw new SparkslimException("'" + key.key() + "' is set to " + v + " but must be > 0 (or 'auto')");
    }
    return v;
  }

  /** The options for {@code kind}: the configured values, {@code auto} ones from {@link SparseLlmOptions#defaults}. */
  public SparseLlmOptions resolve(FfnKind kind) {
    SparseLlmOptions d = SparseLlmOptions.defaults(kind);
    return new SparseLlmOptions(alpha != null ? alpha : d.alpha(), beta != null ? beta : d.beta(), gamma != null ? gamma : d.gamma(),
        iterations != null ? iterations : d.iterations(), sGradientSteps, sLearningRate);
  }

  /** One line per key, {@code auto} or the canonical number. */
  String canonical() {
    return String.join("\n",
        ConfigKey.PRUNING_SPARSELLM_ALPHA.key() + "=" + (alpha == null ? AUTO : Values.canonical(alpha)),
        ConfigKey.PRUNING_SPARSELLM_BETA.key() + "=" + (beta == null ? AUTO : Values.canonical(beta)),
        ConfigKey.PRUNING_SPARSELLM_GAMMA.key() + "=" + (gamma == null ? AUTO : Values.canonical(gamma)),
        ConfigKey.PRUNING_SPARSELLM_ITERATIONS.key() + "=" + (iterations == null ? AUTO : iterations.toString()),
        ConfigKey.PRUNING_SPARSELLM_S_GRADIENT_STEPS.key() + "=" + sGradientSteps,
        ConfigKey.PRUNING_SPARSELLM_S_LEARNING_RATE.key() + "=" + Values.canonical(sLearningRate));
  }
}
