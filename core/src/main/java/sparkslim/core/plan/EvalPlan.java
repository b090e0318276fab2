package sparkslim.core.plan;

import sparkslim.core.config.Config;
import sparkslim.core.model.ModelSpec;

/**
 * The plan of {@code sparkslim eval}: every setting parsed and checked by {@link #of}, then against the model by
 * {@link #check} as soon as its config.json is read, all before Spark starts.
 */
public record EvalPlan(ModelSettings model, OutputSettings output, EvalSettings eval, SparkSettings spark) {
  public static EvalPlan of(Config c) {
    EvalSettings eval = EvalSettings.of(c, true);
    return new EvalPlan(ModelSettings.of(c), OutputSettings.of(c), eval, SparkSettings.of(c));
  }

  /** Checks the settings against the model's config.json ({@code source}): the window length against its positions. */
  public EvalPlan check(ModelSpec spec, String source) {
    eval.check(spec, source);
    return this;
  }
}
