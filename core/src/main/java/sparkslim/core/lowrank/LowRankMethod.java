package sparkslim.core.lowrank;

import java.util.Arrays;
import sparkslim.core.SparkslimException;

/** The value of {@code lowrank.method} (docs/depth_quant.md §5). */
public enum LowRankMethod {
  /** SVD-LLM (Wang et al. 2024): truncation-aware whitening by the Cholesky factor of Σ XᵀX. Reads calibration data. */
  SVD_LLM("svd-llm"),
  /** Plain truncated SVD of W, the baseline: ignores the inputs. Reads no calibration data. */
  SVD("svd");

  private final String configName;

  LowRankMethod(String configName) {
    this.configName = configName;
  }

  public static LowRankMethod parse(String text, String key) {
    for (LowRankMethod m : values()) {
      if (m.configName.equals(text.trim())) {
        return m;
      }
    }
    throw new SparkslimException("'" + key + "' is set to '" + text + "' but must be one of "
        + String.join(", ", Arrays.stream(values()).map(LowRankMethod::configName).toArray(String[]::new)));
  }

  public String configName() {
    return configName;
  }

  /** Whether the method reads the statistics of the linear's inputs (and so calibration data). */
  public boolean readsStatistics() {
    return this == SVD_LLM;
  }
}
