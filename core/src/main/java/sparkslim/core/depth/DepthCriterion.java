package sparkslim.core.depth;

import java.util.Arrays;
import java.util.Locale;
import sparkslim.core.SparkslimException;

/**
 * The value of {@code depth.criterion}: how a block's importance is scored (Shortened LLaMA, Kim et al. 2024, §3.1).
 * A lower score means a less important block, removed first.
 */
public enum DepthCriterion {
  /** Perplexity of the calibration windows with the block skipped. */
  PPL,
  /** Σ |W ⊙ ∂L/∂W| over the block's weight tensors, L the mean causal-LM loss of the calibration windows. */
  TAYLOR,
  /** Σ |W| over the block's weight tensors; needs no data. */
  MAGNITUDE;

  public static DepthCriterion parse(String text, String key) {
    for (DepthCriterion c : values()) {
      if (c.configName().equals(text.trim())) {
        return c;
      }
    }
    throw new SparkslimException("'" + key + "' is set to '" + text + "' but must be one of "
        + String.join(", ", Arrays.stream(values()).map(DepthCriterion::configName).toArray(String[]::new)));
  }

  public String configName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Whether the criterion reads calibration windows. */
  public boolean needsCalibration() {
    return this != MAGNITUDE;
  }
}
