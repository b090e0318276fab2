package sparkslim.core.depth;

import sparkslim.core.SparkslimException;

/** The value of {@code depth.mode}. */
public enum DepthMode {
  /** Score the unpruned model once and remove the n least important blocks at once (the reference code). */
  ONE_SHOT("one-shot"),
  /** Remove one block per round, re-scoring the remaining blocks of the shortened model each time. */
  ITERATIVE("iterative");

  private final String configName;

  DepthMode(String configName) {
    this.configName = configName;
  }

  public String configName() {
    return configName;
  }

  public static DepthMode parse(String text, String key) {
    for (DepthMode m : values()) {
      if (m.configName.equals(text.trim())) {
        return m;
      }
    }
    throw new SparkslimException("'" + key + "' is set to '" + text + "' but must be one-shot or iterative");
  }
}
