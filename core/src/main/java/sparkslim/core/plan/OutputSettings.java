package sparkslim.core.plan;

import java.util.Locale;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.io.DType;
import sparkslim.core.model.ModelSpec;

/**
 * {@code output.path} and {@code output.dtype}.
 *
 * @param path the output directory as configured, trimmed
 * @param dtype the dtype of an exported model; null for {@code auto} (the input model's, from its config.json)
 */
public record OutputSettings(String path, DType dtype) {
  /** The value of {@code output.dtype} that keeps the input model's dtype. */
  public static final String AUTO = "auto";

  public static OutputSettings of(Config c) {
    String path = c.required(ConfigKey.OUTPUT_PATH);
    String name = Values.text(c, ConfigKey.OUTPUT_DTYPE);
    DType dtype = null;
    if (!name.toLowerCase(Locale.ROOT).equals(AUTO)) {
      try {
        dtype = DType.parseFloating(name, ConfigKey.OUTPUT_DTYPE.key());
      } catch (SparkslimException e) {
        throw new SparkslimException("'" + ConfigKey.OUTPUT_DTYPE.key() + "' is set to '" + name
            + "' but must be one of auto, float32, float16, bfloat16");
      }
    }
    return new OutputSettings(path, dtype);
  }

  /** True for {@code output.dtype=auto}. */
  public boolean autoDtype() {
    return dtype == null;
  }

  /** The dtype to export in: the configured one, or for {@code auto} the model's config.json dtype (F32 when absent). */
  public DType dtype(ModelSpec spec) {
    if (dtype != null) {
      return dtype;
    }
    String stored = spec.torchDtype();
    return DType.parseFloating(stored == null || stored.isBlank() ? "float32" : stored, "config.json dtype");
  }

  /** Checks that {@code auto} resolves: the model's config.json ({@code source}) names a floating dtype. */
  public void check(ModelSpec spec, String source) {
    try {
      dtype(spec);
    } catch (SparkslimException e) {
      throw new SparkslimException("'" + ConfigKey.OUTPUT_DTYPE.key() + "' is auto but " + source + " has dtype '" + spec.torchDtype()
          + "', which is not one of float32, float16, bfloat16: pass --" + ConfigKey.OUTPUT_DTYPE.key() + "=float32|float16|bfloat16");
    }
  }

  /** {@code auto} or the HuggingFace name of the dtype: the same text for every spelling of one setting. */
  public String canonicalDtype() {
    return dtype == null ? AUTO : dtype.hfName();
  }
}
