package sparkslim.core.lowrank;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import sparkslim.core.SparkslimException;

/**
 * A factored checkpoint as {@code sparkslim lowrank} exports it (docs/depth_quant.md §5, "for our pipeline"): each
 * factored linear {@code <linear>.weight} (m, n) is stored as {@code <linear>.u_proj.weight} (m, k) and
 * {@code <linear>.v_proj.weight} (k, n), and config.json says so:
 * <pre>
 * "lowrank": {"method": "svd-llm", "ratio": 0.8, "ranks": {"model.layers.0.self_attn.q_proj": 102, ...}}
 * </pre>
 * Readers multiply the factors back with {@link sparkslim.core.compress.CompressedLinear.Factored#product} (fp32).
 * transformers does not know the layout: for it, the job also writes a dense checkpoint.
 */
public record LowRankCheckpoint(String method, double ratio, Map<String, Integer> ranks) {
  public static final String CONFIG_KEY = "lowrank";
  public static final String U_SUFFIX = ".u_proj.weight";
  public static final String V_SUFFIX = ".v_proj.weight";

  /** The factored checkpoint config.json describes, or null if it has no {@code lowrank} section. */
  public static LowRankCheckpoint parse(JsonNode configJson, String source) {
    JsonNode node = configJson.get(CONFIG_KEY);
    if (node == null || node.isNull()) {
      return null;
    }
    JsonNode ranks = node.get("ranks");
    if (!node.isObject() || ranks == null || !ranks.isObject()) {
      throw new SparkslimException("Cannot read " + source + ": '" + CONFIG_KEY + "' must be an object with a 'ranks' object"
          + " (linear name -> rank), found " + node);
    }
    Map<String, Integer> byLinear = new LinkedHashMap<>();
    var fields = ranks.fields();
    while (fields.hasNext()) {
      var e = fields.next();
      if (!e.getValue().canConvertToInt() || e.getValue().asInt() < 1) {
        throw new SparkslimException("Cannot read " + source + ": '" + CONFIG_KEY + ".ranks." + e.getKey() + "' must be a rank >= 1, found "
            + e.getValue());
      }
      byLinear.put(e.getKey(), e.getValue().asInt());
    }
    return new LowRankCheckpoint(node.path("method").asText(""), node.path("ratio").asDouble(Double.NaN), Collections.unmodifiableMap(byLinear));
  }

  /** The rank of the linear whose weight is {@code weightName} ({@code <linear>.weight}), or 0 if it is stored dense. */
  public int rankOf(String weightName) {
    if (!weightName.endsWith(".weight")) {
      return 0;
    }
    return ranks.getOrDefault(weightName.substring(0, weightName.length() - ".weight".length()), 0);
  }

  /** The {@code lowrank} section of config.json. */
  public ObjectNode toJson() {
    ObjectNode node = new ObjectMapper().createObjectNode();
    node.put("method", method);
    node.put("ratio", ratio);
    ObjectNode r = node.putObject("ranks");
    ranks.forEach(r::put);
    return node;
  }

  /** The factor tensors' names of the linear whose weight is {@code weightName}. */
  public static String uName(String weightName) {
    return weightName.substring(0, weightName.length() - ".weight".length()) + U_SUFFIX;
  }

  public static String vName(String weightName) {
    return weightName.substring(0, weightName.length() - ".weight".length()) + V_SUFFIX;
  }
}
