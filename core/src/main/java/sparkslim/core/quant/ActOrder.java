package sparkslim.core.quant;

import java.util.Locale;

/**
 * GPTQ's act-order (docs/depth_quant.md §2.4 step 3): the columns are quantized in the order of decreasing
 * diag(H), the most active inputs first.
 */
public enum ActOrder {
  /** Columns in their own order (the reference's default). */
  OFF,
  /**
   * llm-compressor's default {@code actorder: "static"} (alias "weight"): each group's grid is computed from the
   * unmodified W before the permutation, so g_idx stays trivial and loaders pay nothing.
   */
  STATIC,
  /**
   * {@code actorder: "dynamic"} (alias "group", the reference's {@code desc_act} with dynamic groups): groups are formed
   * in the permuted order from the error-updated W, and {@code g_idx} maps each input column to its group.
   */
  DYNAMIC;

  /** The value of the config key, lower case. */
  public String configName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** compressed-tensors' {@code actorder} in {@code quantization_config}: null, "static" or "dynamic" (0.18's names). */
  public String compressedTensorsName() {
    return this == OFF ? null : configName();
  }
}
