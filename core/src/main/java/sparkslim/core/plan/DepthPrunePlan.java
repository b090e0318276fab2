package sparkslim.core.plan;

import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.TreeSet;
import sparkslim.core.config.Config;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.ModelSpec;

/**
 * The plan of {@code sparkslim depth-prune}: every setting parsed and checked by {@link #of}, then against the model by
 * {@link #check} as soon as its config.json is read, all before Spark starts. The calibration source is required only
 * by the criteria that read calibration data.
 */
public record DepthPrunePlan(ModelSettings model, OutputSettings output, DepthSettings depth, CalibrationSettings calibration,
                             EvalSettings eval, SparkSettings spark) {
  public static DepthPrunePlan of(Config c) {
    DepthSettings depth = DepthSettings.of(c);
    CalibrationSettings calibration = CalibrationSettings.of(c, depth.criterion().needsCalibration());
    EvalSettings eval = EvalSettings.of(c, false);
    return new DepthPrunePlan(ModelSettings.of(c), OutputSettings.of(c), depth, calibration, eval, SparkSettings.of(c));
  }

  /**
   * Checks the settings against the model's config.json ({@code source}): the protected indices and
   * {@code num-blocks} against num_hidden_layers, the calibration (if used) and eval window lengths against
   * max_position_embeddings, and that {@code output.dtype=auto} resolves.
   */
  public DepthPrunePlan check(ModelSpec spec, String source) {
    depth.check(spec, source);
    if (depth.criterion().needsCalibration()) {
      calibration.check(spec, source);
    }
    eval.check(spec, source);
    output.check(spec, source);
    return this;
  }

  /**
   * SHA-256 over everything a round's result depends on: the model's root, the criterion, mode, number of blocks, the
   * protected blocks (resolved, sorted) and the SHA-256 of the calibration token ids; resume refuses score files with
   * another fingerprint.
   */
  public String fingerprint(String modelRoot, Set<Integer> protectedBlocks, String windowsSha) {
    String s = String.join("\n", modelRoot, "criterion=" + depth.criterion().configName(), "mode=" + depth.mode().configName(),
        "num-blocks=" + depth.numBlocks(), "protect=" + new TreeSet<>(protectedBlocks), "calibration=" + windowsSha);
    return TensorShardTable.sha256(s.getBytes(StandardCharsets.UTF_8));
  }
}
