package sparkslim.core.plan;

import java.nio.charset.StandardCharsets;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.ModelSpec;

/**
 * The plan of {@code sparkslim prune}: every setting parsed and checked by {@link #of}, then against the model by
 * {@link #check} as soon as its config.json is read (before any weight), all before Spark starts. The resume
 * fingerprint ({@link #fingerprint}) is computed from the parsed values, so equal settings spelled differently
 * ({@code 0.5} and {@code 0.50}, {@code 2:4} and {@code  2:4}, {@code fp16} and {@code float16}) resume each other.
 */
public record PrunePlan(ModelSettings model, OutputSettings output, PruningSettings pruning, CalibrationSettings calibration,
                        EvalSettings eval, SparkSettings spark) {
  public static PrunePlan of(Config c) {
    PruningSettings pruning = PruningSettings.of(c);
    CalibrationSettings calibration = CalibrationSettings.of(c, true);
    EvalSettings eval = EvalSettings.of(c, false);
    return new PrunePlan(ModelSettings.of(c), OutputSettings.of(c), pruning, calibration, eval, SparkSettings.of(c));
  }

  /**
   * Checks the settings against the model's config.json ({@code source}): N:M against every pruned linear's input
   * width, SparseLLM against the FFN, the calibration and eval window lengths against max_position_embeddings, and
   * that {@code output.dtype=auto} resolves.
   */
  public PrunePlan check(ModelSpec spec, String source) {
    pruning.check(spec, source);
    calibration.check(spec, source);
    eval.check(spec, source);
    output.check(spec, source);
    return this;
  }

  /** How many blocks are pruned (the first ones) in a model of {@code numLayers} blocks. */
  public int prunedBlocks(int numLayers) {
    return pruning.layers().prunedBlocks(numLayers);
  }

  /**
   * The text the fingerprint hashes: the model's root, then every setting that changes the pruned tensors, one
   * {@code key=value} per line, with values in canonical form.
   */
  public String canonical(String modelRoot) {
    return String.join("\n", modelRoot, pruning.canonical(), calibration.canonical(),
        ConfigKey.OUTPUT_DTYPE.key() + "=" + output.canonicalDtype());
  }

  /** SHA-256 of {@link #canonical}; resume refuses shards written with another fingerprint. */
  public String fingerprint(String modelRoot) {
    return TensorShardTable.sha256(canonical(modelRoot).getBytes(StandardCharsets.UTF_8));
  }
}
