package sparkslim.core.prune;

import java.util.Arrays;
import java.util.Locale;
import sparkslim.core.SparkslimException;

/** The value of {@code pruning.method}. */
public enum PruningMethod {
  MAGNITUDE, WANDA, SPARSEGPT, SPARSELLM;

  public static PruningMethod parse(String text, String key) {
    for (PruningMethod m : values()) {
      if (m.configName().equals(text.trim())) {
        return m;
      }
    }
    throw new SparkslimException("'" + key + "' is set to '" + text + "' but must be one of "
        + String.join(", ", Arrays.stream(values()).map(PruningMethod::configName).toArray(String[]::new)));
  }

  public String configName() {
    return name().toLowerCase(Locale.ROOT);
  }
}
