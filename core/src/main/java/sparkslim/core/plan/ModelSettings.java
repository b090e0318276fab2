package sparkslim.core.plan;

import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;

/**
 * {@code model.path}: the HuggingFace model directory a job reads (local, {@code file://} or {@code hdfs://}).
 *
 * @param path the directory as configured, trimmed
 */
public record ModelSettings(String path) {
  public static ModelSettings of(Config c) {
    return new ModelSettings(c.required(ConfigKey.MODEL_PATH));
  }
}
