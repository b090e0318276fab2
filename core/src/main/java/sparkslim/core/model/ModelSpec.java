package sparkslim.core.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;
import sparkslim.core.SparkslimException;

/**
 * The typed view of a HuggingFace {@code config.json}: everything the forward pass and the tensor layout need.
 * {@link #parse} validates once, at the boundary; everything downstream trusts it.
 */
public record ModelSpec(
    Architecture architecture,
    int vocabSize,
    int hiddenSize,
    int numLayers,
    int numHeads,
    int numKvHeads,
    int headDim,
    int intermediateSize,
    int maxPositionEmbeddings,
    double normEps,
    double ropeTheta,
    boolean tieWordEmbeddings,
    boolean attentionBias,
    boolean mlpBias,
    // OPT only
    boolean layerNormBefore,
    boolean finalLayerNorm,
    int wordEmbedProjDim,
    String torchDtype) implements Serializable {

  /** OPT's learned position table is offset by 2 (fairseq legacy). */
  public static final int OPT_POSITION_OFFSET = 2;

  public static ModelSpec parse(JsonNode c, String source) {
    if (!c.isObject()) {
      throw new SparkslimException(source + ": expected a JSON object, found " + c.getNodeType());
    }
    String modelType = c.path("model_type").asText("");
    Architecture arch = null;
    for (Architecture a : Architecture.values()) {
      if (a.modelType().equals(modelType)) {
        arch = a;
      }
    }
    if (arch == null) {
      throw new SparkslimException(source + ": unknown model_type '" + modelType + "' (expected one of 'llama', 'opt')");
    }
    String dtype = c.has("torch_dtype") ? c.get("torch_dtype").asText() : c.path("dtype").asText("float32");
    if (arch == Architecture.LLAMA) {
      if (!c.path("hidden_act").asText("silu").equals("silu")) {
        throw new SparkslimException(source + ": 'hidden_act' is '" + c.get("hidden_act").asText() + "' but LLaMA models must use 'silu'");
      }
      int hidden = requireInt(c, "hidden_size", source);
      int heads = requireInt(c, "num_attention_heads", source);
      int kvHeads = c.has("num_key_value_heads") && !c.get("num_key_value_heads").isNull() ? c.get("num_key_value_heads").asInt() : heads;
      int headDim = c.has("head_dim") && !c.get("head_dim").isNull() ? c.get("head_dim").asInt() : hidden / heads;
      double theta = ropeTheta(c, source);
      ModelSpec spec = new ModelSpec(arch, requireInt(c, "vocab_size", source), hidden, requireInt(c, "num_hidden_layers", source),
          heads, kvHeads, headDim, requireInt(c, "intermediate_size", source), c.path("max_position_embeddings").asInt(2048),
          c.path("rms_norm_eps").asDouble(1e-6), theta, c.path("tie_word_embeddings").asBoolean(false),
          c.path("attention_bias").asBoolean(false), c.path("mlp_bias").asBoolean(false), true, true, hidden, dtype);
      spec.check(source);
      return spec;
    }
    if (!c.path("activation_function").asText("relu").equals("relu")) {
      throw new SparkslimException(source + ": 'activation_function' is '" + c.get("activation_function").asText()
          + "' but only 'relu' OPT models are supported");
    }
    int hidden = requireInt(c, "hidden_size", source);
    int heads = requireInt(c, "num_attention_heads", source);
    boolean before = c.path("do_layer_norm_before").asBoolean(true);
    boolean finalNorm = before && !c.path("_remove_final_layer_norm").asBoolean(false);
    ModelSpec spec = new ModelSpec(arch, requireInt(c, "vocab_size", source), hidden, requireInt(c, "num_hidden_layers", source),
        heads, heads, hidden / heads, requireInt(c, "ffn_dim", source), requireInt(c, "max_position_embeddings", source),
        1e-5, 0, c.path("tie_word_embeddings").asBoolean(true), c.path("enable_bias").asBoolean(true),
        c.path("enable_bias").asBoolean(true), before, finalNorm, c.path("word_embed_proj_dim").asInt(hidden), dtype);
    spec.check(source);
    return spec;
  }

  private static double ropeTheta(JsonNode c, String source) {
    JsonNode params = c.get("rope_parameters");
    if (params != null && params.isObject()) {
      String type = params.path("rope_type").asText("default");
      if (!type.equals("default")) {
        throw new SparkslimException(source + ": rope_parameters.rope_type is '" + type + "' but only 'default' RoPE is supported");
      }
      if (params.has("rope_theta")) {
        return params.get("rope_theta").asDouble();
      }
    }
    JsonNode scaling = c.get("rope_scaling");
    if (scaling != null && scaling.isObject() && !scaling.path("rope_type").asText(scaling.path("type").asText("default")).equals("default")) {
      throw new SparkslimException(source + ": rope_scaling " + scaling + " is not supported (only default RoPE)");
    }
    return c.path("rope_theta").asDouble(10000.0);
  }

  private static int requireInt(JsonNode c, String key, String source) {
    JsonNode v = c.get(key);
    if (v == null || !v.canConvertToInt() || v.asInt() <= 0) {
      throw new SparkslimException(source + ": key '" + key + "' must be a positive integer, found " + (v == null ? "nothing" : v.toString()));
    }
    return v.asInt();
  }

  private void check(String source) {
    if (numHeads % numKvHeads != 0) {
      throw new SparkslimException(source + ": num_attention_heads (" + numHeads + ") must be a multiple of num_key_value_heads (" + numKvHeads + ")");
    }
    if (architecture == Architecture.OPT && hiddenSize % numHeads != 0) {
      throw new SparkslimException(source + ": hidden_size (" + hiddenSize + ") must be a multiple of num_attention_heads (" + numHeads + ")");
    }
    if (architecture == Architecture.LLAMA && headDim % 2 != 0) {
      throw new SparkslimException(source + ": head_dim (" + headDim + ") must be even for RoPE");
    }
  }

  public String modelType() {
    return architecture.modelType();
  }

  /** Prefix of block {@code i}'s tensor names. */
  public String blockPrefix(int i) {
    return (architecture == Architecture.LLAMA ? "model.layers." : "model.decoder.layers.") + i + ".";
  }

  /** The tensors of block {@code i}, by name relative to {@link #blockPrefix}, with their expected shapes. */
  public Map<String, long[]> blockTensorShapes() {
    Map<String, long[]> m = new LinkedHashMap<>();
    long d = hiddenSize;
    long q = (long) numHeads * headDim;
    long kv = (long) numKvHeads * headDim;
    long f = intermediateSize;
    if (architecture == Architecture.LLAMA) {
      m.put("input_layernorm.weight", new long[] {d});
      m.put("self_attn.q_proj.weight", new long[] {q, d});
      m.put("self_attn.k_proj.weight", new long[] {kv, d});
      m.put("self_attn.v_proj.weight", new long[] {kv, d});
      m.put("self_attn.o_proj.weight", new long[] {d, q});
      if (attentionBias) {
        m.put("self_attn.q_proj.bias", new long[] {q});
        m.put("self_attn.k_proj.bias", new long[] {kv});
        m.put("self_attn.v_proj.bias", new long[] {kv});
        m.put("self_attn.o_proj.bias", new long[] {d});
      }
      m.put("post_attention_layernorm.weight", new long[] {d});
      m.put("mlp.gate_proj.weight", new long[] {f, d});
      m.put("mlp.up_proj.weight", new long[] {f, d});
      m.put("mlp.down_proj.weight", new long[] {d, f});
      if (mlpBias) {
        m.put("mlp.gate_proj.bias", new long[] {f});
        m.put("mlp.up_proj.bias", new long[] {f});
        m.put("mlp.down_proj.bias", new long[] {d});
      }
      return m;
    }
    for (String p : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      m.put("self_attn." + p + ".weight", new long[] {d, d});
      if (attentionBias) {
        m.put("self_attn." + p + ".bias", new long[] {d});
      }
    }
    m.put("self_attn_layer_norm.weight", new long[] {d});
    m.put("self_attn_layer_norm.bias", new long[] {d});
    m.put("fc1.weight", new long[] {f, d});
    m.put("fc2.weight", new long[] {d, f});
    if (mlpBias) {
      m.put("fc1.bias", new long[] {f});
      m.put("fc2.bias", new long[] {d});
    }
    m.put("final_layer_norm.weight", new long[] {d});
    m.put("final_layer_norm.bias", new long[] {d});
    return m;
  }

  /** The tensors outside the decoder blocks, by full name, with expected shapes. The tied head is not listed. */
  public Map<String, long[]> globalTensorShapes() {
    Map<String, long[]> m = new LinkedHashMap<>();
    long d = hiddenSize;
    if (architecture == Architecture.LLAMA) {
      m.put("model.embed_tokens.weight", new long[] {vocabSize, d});
      m.put("model.norm.weight", new long[] {d});
      if (!tieWordEmbeddings) {
        m.put("lm_head.weight", new long[] {vocabSize, d});
      }
      return m;
    }
    m.put("model.decoder.embed_tokens.weight", new long[] {vocabSize, wordEmbedProjDim});
    m.put("model.decoder.embed_positions.weight", new long[] {maxPositionEmbeddings + OPT_POSITION_OFFSET, d});
    if (wordEmbedProjDim != hiddenSize) {
      m.put("model.decoder.project_in.weight", new long[] {d, wordEmbedProjDim});
      m.put("model.decoder.project_out.weight", new long[] {wordEmbedProjDim, d});
    }
    if (finalLayerNorm) {
      m.put("model.decoder.final_layer_norm.weight", new long[] {d});
      m.put("model.decoder.final_layer_norm.bias", new long[] {d});
    }
    if (!tieWordEmbeddings) {
      m.put("lm_head.weight", new long[] {vocabSize, wordEmbedProjDim});
    }
    return m;
  }

  /** Number of parameters: the global tensors (a tied head counted once) plus every block's tensors. */
  public long parameterCount() {
    long n = 0;
    for (long[] shape : globalTensorShapes().values()) {
      n += numel(shape);
    }
    long perBlock = 0;
    for (long[] shape : blockTensorShapes().values()) {
      perBlock += numel(shape);
    }
    return n + perBlock * numLayers;
  }

  /** Values in a tensor of this shape. */
  public static long numel(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  /** Name of the input embedding, which a tied head reuses. */
  public String embedTokensName() {
    return architecture == Architecture.LLAMA ? "model.embed_tokens.weight" : "model.decoder.embed_tokens.weight";
  }
}
