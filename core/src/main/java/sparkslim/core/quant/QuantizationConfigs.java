package sparkslim.core.quant;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * The {@code quantization_config} that loaders read from a quantized checkpoint's {@code config.json}
 * (docs/depth_quant.md §2.6–2.7), and GPTQ's {@code quantize_config.json}.
 */
public final class QuantizationConfigs {
  /** The compressed-tensors version whose layout {@link CompressedTensorsPacking} writes (dense 3-bit streams). */
  public static final String COMPRESSED_TENSORS_VERSION = "0.18.0";
  private static final ObjectMapper JSON = new ObjectMapper();

  private QuantizationConfigs() {}

  /**
   * compressed-tensors' {@code pack-quantized} config with one group targeting every Linear but {@code ignore}
   * (keys sorted, as {@code ModelCompressor.update_config} writes them).
   */
  public static ObjectNode compressedTensors(QuantScheme scheme, ActOrder actOrder, List<String> ignore) {
    ObjectNode weights = JSON.createObjectNode();
    weights.put("actorder", actOrder.compressedTensorsName());
    weights.putNull("block_structure");
    weights.put("dynamic", false);
    if (scheme.strategy() == QuantStrategy.GROUP) {
      weights.put("group_size", scheme.groupSize());
    } else {
      weights.putNull("group_size");
    }
    weights.put("num_bits", scheme.bits());
    weights.put("observer", "memoryless_minmax");
    weights.set("observer_kwargs", JSON.createObjectNode());
    weights.putNull("scale_dtype");
    weights.put("strategy", scheme.strategy().configName());
    weights.put("symmetric", scheme.symmetric());
    weights.put("type", "int");
    weights.put("zp_dtype", scheme.symmetric() ? null : "torch.int8");

    ObjectNode group = JSON.createObjectNode();
    group.put("format", "pack-quantized");
    group.putNull("input_activations");
    group.putNull("output_activations");
    group.putArray("targets").add("Linear");
    group.set("weights", weights);

    ObjectNode config = JSON.createObjectNode();
    config.putObject("config_groups").set("group_0", group);
    config.put("format", "pack-quantized");
    config.putNull("global_compression_ratio");
    ignore.forEach(config.putArray("ignore")::add);
    config.putNull("kv_cache_scheme");
    config.put("quant_method", "compressed-tensors");
    config.put("quantization_status", "compressed");
    config.putObject("sparsity_config");
    config.putObject("transform_config");
    config.put("version", COMPRESSED_TENSORS_VERSION);
    return config;
  }

  /**
   * GPTQ's {@code quantize_config.json} (the keys AutoGPTQ 0.7 writes, plus GPTQModel's {@code lm_head} and
   * {@code pack_dtype}); the same object goes into {@code config.json} as {@code quantization_config}.
   */
  public static ObjectNode gptq(QuantScheme scheme, ActOrder actOrder, double dampeningFraction) {
    if (!scheme.symmetric()) {
      throw new IllegalArgumentException("the GPTQ format is written for symmetric schemes only");
    }
    ObjectNode config = JSON.createObjectNode();
    config.put("bits", scheme.bits());
    config.put("group_size", scheme.strategy() == QuantStrategy.GROUP ? scheme.groupSize() : -1);
    config.put("damp_percent", dampeningFraction);
    config.put("desc_act", actOrder == ActOrder.DYNAMIC);
    config.put("static_groups", actOrder == ActOrder.STATIC);
    config.put("sym", true);
    config.put("true_sequential", true);
    config.putNull("model_name_or_path");
    config.put("model_file_base_name", "model");
    config.put("quant_method", "gptq");
    config.put("checkpoint_format", "gptq");
    config.put("lm_head", false);
    config.put("pack_dtype", "int32");
    return config;
  }
}
