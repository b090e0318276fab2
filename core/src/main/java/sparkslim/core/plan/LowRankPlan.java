package sparkslim.core.plan;

import java.nio.charset.StandardCharsets;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.ModelSpec;

/**
 * The plan of {@code sparkslim lowrank}: every setting parsed and checked by {@link #of}, then against the model by
 * {@link #check} as soon as its config.json is read (before any weight), all before Spark starts. Plain SVD reads no
 * data, so the calibration source is required only by SVD-LLM.
 */
public record LowRankPlan(ModelSettings model, OutputSettings output, LowRankSettings lowRank, CalibrationSettings calibration,
                          EvalSettings eval, SparkSettings spark) {
  public static LowRankPlan of(Config c) {
    LowRankSettings lowRank = LowRankSettings.of(c);
    CalibrationSettings calibration = CalibrationSettings.of(c, lowRank.method().readsStatistics());
    EvalSettings eval = EvalSettings.of(c, false);
    return new LowRankPlan(ModelSettings.of(c), OutputSettings.of(c), lowRank, calibration, eval, SparkSettings.of(c));
  }

  /**
   * Checks the settings against the model's config.json ({@code source}): every linear keeps rank ≥ 1, the calibration
   * (SVD-LLM) and eval window lengths fit max_position_embeddings, and {@code output.dtype=auto} resolves.
   */
  public LowRankPlan check(ModelSpec spec, String source) {
    lowRank.check(spec, source);
    if (lowRank.method().readsStatistics()) {
      calibration.check(spec, source);
    }
    eval.check(spec, source);
    output.check(spec, source);
    return this;
  }

  /**
   * The text the fingerprint hashes: the model's root, then every setting that changes the factors, one
   * {@code key=value} per line, with values in canonical form.
   */
  public String canonical(String modelRoot) {
    return String.join("\n", modelRoot, lowRank.canonical(), lowRank.method().readsStatistics() ? calibration.canonical() : "",
        ConfigKey.OUTPUT_DTYPE.key() + "=" + output.canonicalDtype());
  }

  /** SHA-256 of {@link #canonical}; resume refuses shards written with another fingerprint. */
  public String fingerprint(String modelRoot) {
    return TensorShardTable.sha256(canonical(modelRoot).getBytes(StandardCharsets.UTF_8));
  }
}
