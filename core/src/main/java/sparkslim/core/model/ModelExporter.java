package sparkslim.core.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsWriter;

/**
 * Writes a complete HuggingFace model directory: sharded safetensors (+ index), {@code config.json} with the output
 * dtype, and the tokenizer files copied from the source. Blocks come from a function, so callers can swap in compressed
 * blocks or drop blocks (the output's layer i is {@code blocks.apply(i)}).
 */
public final class ModelExporter {
  /** HuggingFace's default shard size is 5 GB; small shards keep memory flat for large models. */
  public static final long DEFAULT_MAX_SHARD_BYTES = 2L << 30;
  private static final List<String> COPIED_FILES = List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json",
      "special_tokens_map.json");
  private static final ObjectMapper JSON = new ObjectMapper();

  private ModelExporter() {}

  /**
   * @param numBlocks number of decoder blocks in the output
   * @param blocks output block i's tensors, names relative to the block prefix
   * @param configUpdates extra keys to set in config.json (e.g. num_hidden_layers), may be empty
   */
  public static void export(ModelDirectory source, int numBlocks, IntFunction<Map<String, Tensor>> blocks, DType dtype,
                            FileSystem fs, Path outDir, long maxShardBytes, Map<String, Object> configUpdates) {
    ModelSpec spec = source.spec();
    SafetensorsWriter.Sharded writer = new SafetensorsWriter.Sharded(maxShardBytes);
    for (Map.Entry<String, Tensor> e : source.loadGlobals().entrySet()) {
      writer.add(SafetensorsWriter.Tensor.ofFloats(e.getKey(), dtype, e.getValue().shape(), e.getValue().data()));
    }
    for (int i = 0; i < numBlocks; i++) {
      String prefix = spec.blockPrefix(i);
      for (Map.Entry<String, Tensor> e : blocks.apply(i).entrySet()) {
        writer.add(SafetensorsWriter.Tensor.ofFloats(prefix + e.getKey(), dtype, e.getValue().shape(), e.getValue().data()));
      }
    }
    try {
      fs.mkdirs(outDir);
      writer.write(fs, outDir);
      ObjectNode config = source.configJson().deepCopy();
      config.put(config.has("torch_dtype") ? "torch_dtype" : "dtype", dtype.hfName());
      configUpdates.forEach((k, v) -> config.set(k, JSON.valueToTree(v)));
      try (FSDataOutputStream out = fs.create(new Path(outDir, ModelDirectory.CONFIG_FILE), true)) {
        out.write(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(config));
      }
      FileSystem srcFs = source.fileSystem();
      for (String name : COPIED_FILES) {
        Path src = new Path(source.root(), name);
        if (srcFs.exists(src)) {
          FileUtil.copy(srcFs, src, fs, new Path(outDir, name), false, true, fs.getConf());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot export model to " + outDir, e);
    }
  }

  /** The dtype a model directory stores, from config.json ("torch_dtype" or "dtype"), defaulting to F32. */
  public static DType storedDtype(ModelDirectory dir) {
    String name = dir.spec().torchDtype();
    return DType.parseFloating(name == null || name.isBlank() ? "float32" : name, "config.json dtype");
  }
}
