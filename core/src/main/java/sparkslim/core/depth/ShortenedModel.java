package sparkslim.core.depth;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.io.DType;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelExporter;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.model.Tensor;

/**
 * The dense model that depth pruning leaves: the kept blocks in their original order, renumbered 0..n−1, with the
 * embeddings, final norm and head unchanged. It is an ordinary HuggingFace directory with a smaller
 * {@code num_hidden_layers}; {@code config.json} also records which original blocks were kept under {@link #METADATA_KEY}.
 */
public final class ShortenedModel {
  /** The config.json key holding the depth-pruning record (kept and removed original indices, criterion, calibration). */
  public static final String METADATA_KEY = "sparkslim_depth_pruning";
  /** Per-layer config lists that must follow the kept blocks (e.g. newer configs' attention layer types). */
  private static final List<String> PER_LAYER_KEYS = List.of("layer_types");

  private ShortenedModel() {}

  /**
   * Writes the shortened model directory, reading each tensor from the source files when its turn comes (one tensor in
   * memory at a time, whatever the model's size); {@code metadata} goes under {@link #METADATA_KEY} next to the kept
   * indices.
   */
  public static void export(ModelDirectory source, List<Integer> kept, DType dtype, FileSystem fs, Path dir, Map<String, Object> metadata) {
    ModelSpec spec = source.spec();
    int numLayers = spec.numLayers();
    Map<String, Object> updates = new LinkedHashMap<>();
    updates.put("num_hidden_layers", kept.size());
    JsonNode config = source.configJson();
    for (String key : PER_LAYER_KEYS) {
      JsonNode perLayer = config.get(key);
      if (perLayer != null && perLayer.isArray() && perLayer.size() == numLayers) {
        List<JsonNode> subset = new ArrayList<>();
        kept.forEach(b -> subset.add(perLayer.get(b)));
        updates.put(key, subset);
      }
    }
    Map<String, Object> record = new LinkedHashMap<>();
    record.put("kept_layers", kept);
    record.put("source_num_hidden_layers", numLayers);
    record.putAll(metadata);
    updates.put(METADATA_KEY, record);
    ModelExporter.exportEncoded(source, kept.size(), i -> {
      String prefix = spec.blockPrefix(kept.get(i)); // output block i is source block kept[i]
      Map<String, ModelExporter.Encoded> tensors = new LinkedHashMap<>();
      spec.blockTensorShapes().forEach((name, shape) -> tensors.put(name, new ModelExporter.Encoded(shape,
          () -> TensorShardTable.encode(source.tensor(prefix + name, shape).data(), dtype))));
      return tensors;
    }, dtype, fs, dir, ModelExporter.DEFAULT_MAX_SHARD_BYTES, updates);
  }

  /** The model {@link #export} writes, as it loads back: the kept blocks, every tensor rounded to {@code dtype}. */
  public static CausalLm inMemory(CausalLm lm, List<Integer> kept, DType dtype) {
    Map<String, Tensor> globals = new LinkedHashMap<>();
    lm.globals().forEach((name, t) -> globals.put(name, rounded(t, dtype)));
    List<DecoderBlock> blocks = new ArrayList<>();
    for (int b : kept) {
      Map<String, Tensor> tensors = new LinkedHashMap<>();
      lm.blocks().get(b).tensors().forEach((name, t) -> tensors.put(name, rounded(t, dtype)));
      blocks.add(DecoderBlock.of(lm.spec(), tensors));
    }
    return new CausalLm(lm.spec(), globals, blocks);
  }

  /** Parameters of a model with the given blocks, from config.json's shapes: globals (a tied head counted once) plus every block tensor. */
  public static long parameters(ModelSpec spec, List<Integer> blocks) {
    long n = 0;
    for (long[] shape : spec.globalTensorShapes().values()) {
      n += ModelSpec.numel(shape);
    }
    long perBlock = 0;
    for (long[] shape : spec.blockTensorShapes().values()) {
      perBlock += ModelSpec.numel(shape);
    }
    return n + perBlock * blocks.size();
  }

  private static Tensor rounded(Tensor t, DType dtype) {
    return new Tensor(t.shape(), TensorShardTable.roundTo(t.data(), dtype));
  }
}
