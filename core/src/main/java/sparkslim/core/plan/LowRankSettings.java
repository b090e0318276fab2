package sparkslim.core.plan;

import java.util.LinkedHashMap;
import java.util.Map;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.lowrank.LowRankMethod;
import sparkslim.core.lowrank.LowRankSolver;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelSpec;

/**
 * {@code lowrank.*}: the method and the kept-parameter fraction ρ (docs/depth_quant.md §5). Every linear of every block
 * is factored with the same ρ, at rank k = ⌊ρ·m·n/(m + n)⌋ ({@link LowRankSolver#rank}).
 */
public record LowRankSettings(LowRankMethod method, double ratio) {
  public static LowRankSettings of(Config c) {
    String methodText = c.string(ConfigKey.LOWRANK_METHOD).trim();
    if (methodText.isEmpty()) {
      throw new SparkslimException("Missing required key '" + ConfigKey.LOWRANK_METHOD.key() + "' (" + ConfigKey.LOWRANK_METHOD.description()
          + "): pass --" + ConfigKey.LOWRANK_METHOD.key() + "=svd-llm or svd");
    }
    LowRankMethod method = LowRankMethod.parse(methodText, ConfigKey.LOWRANK_METHOD.key());
    double ratio = c.decimal(ConfigKey.LOWRANK_RATIO);
    if (!(ratio > 0 && ratio < 1)) {
      throw new SparkslimException("'" + ConfigKey.LOWRANK_RATIO.key() + "' is set to " + c.string(ConfigKey.LOWRANK_RATIO).trim()
          + " but must be a kept-parameter fraction in (0, 1)");
    }
    return new LowRankSettings(method, ratio);
  }

  /** The rank of every linear of a block of {@code spec} (names relative to the block prefix), in pruning order. */
  public Map<String, Integer> ranks(ModelSpec spec) {
    Map<String, long[]> shapes = spec.blockTensorShapes();
    Map<String, Integer> ranks = new LinkedHashMap<>();
    for (String linear : DecoderBlock.linearNames(spec)) {
      long[] shape = shapes.get(linear + ".weight"); // (outFeatures, inFeatures)
      ranks.put(linear, LowRankSolver.rank(ratio, (int) shape[0], (int) shape[1]));
    }
    return ranks;
  }

  /** Every linear keeps rank ≥ 1 at this ratio ({@code source}: the model's config.json, for the message). */
  public void check(ModelSpec spec, String source) {
    Map<String, long[]> shapes = spec.blockTensorShapes();
    ranks(spec).forEach((linear, k) -> {
      if (k < 1) {
        long[] shape = shapes.get(linear + ".weight");
        throw new SparkslimException("'" + ConfigKey.LOWRANK_RATIO.key() + "' is set to " + ratio + ", which gives rank 0 for "
            + linear + " (" + shape[0] + " x " + shape[1] + " in " + source + "): expected a ratio of at least "
            + (shape[0] + shape[1]) / (double) (shape[0] * shape[1]));
      }
    });
  }

  public LowRankSolver solver() {
    return new LowRankSolver(method, ratio);
  }

  String canonical() {
    return String.join("\n", ConfigKey.LOWRANK_METHOD.key() + "=" + method.configName(),
        ConfigKey.LOWRANK_RATIO.key() + "=" + Values.canonical(ratio));
  }
}
