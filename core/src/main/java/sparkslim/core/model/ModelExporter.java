package sparkslim.core.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.function.Supplier;
import sparkslim.core.io.TensorShardTable;
import java.util.Map;
import java.util.function.IntFunction;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsWriter;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.quant.QuantScheme;
import sparkslim.core.quant.QuantizedCheckpoint;
import sparkslim.core.quant.QuantizedShardTable;
import sparkslim.core.quant.QuantizedTensors;

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
   * A tensor of the output as its shape and a source of its bytes, fetched when it is written: in the output dtype, or
   * in {@code dtype} when given (a quantized linear's I32 codes and its scales).
   */
  public record Encoded(long[] shape, Supplier<byte[]> bytes, DType dtype) {
    public Encoded(long[] shape, Supplier<byte[]> bytes) {
      this(shape, bytes, null);
    }
  }

  /**
   * @param numBlocks number of decoder blocks in the output
   * @param blocks output block i's tensors, names relative to the block prefix
   * @param configUpdates extra keys to set in config.json (e.g. num_hidden_layers), may be empty
   */
  public static void export(ModelDirectory source, int numBlocks, IntFunction<Map<String, Tensor>> blocks, DType dtype,
                            FileSystem fs, Path outDir, long maxShardBytes, Map<String, Object> configUpdates) {
    exportEncoded(source, numBlocks, i -> {
      Map<String, Encoded> encoded = new LinkedHashMap<>();
      blocks.apply(i).forEach((name, t) -> encoded.put(name, new Encoded(t.shape(), () -> TensorShardTable.encode(t.data(), dtype))));
      return encoded;
    }, dtype, fs, outDir, maxShardBytes, configUpdates);
  }

  /**
   * As {@link #export}, streaming: each tensor's bytes are fetched when its turn comes (the globals from the source model,
   * the blocks from {@code blocks}, e.g. the compressed blocks' shard files), so the exporter holds one tensor at a time.
   */
  public static void exportEncoded(ModelDirectory source, int numBlocks, IntFunction<Map<String, Encoded>> blocks, DType dtype,
                                   FileSystem fs, Path outDir, long maxShardBytes, Map<String, Object> configUpdates) {
    exportEncoded(source, null, numBlocks, blocks, dtype, fs, outDir, maxShardBytes, configUpdates);
  }

  /**
   * As {@link #exportEncoded(ModelDirectory, int, IntFunction, DType, FileSystem, Path, long, Map)}, with the global
   * tensors (embeddings, final norm, head) taken from {@code globals} (full names; null: from {@code source}), e.g. a
   * fine-tuned model's.
   */
  public static void exportEncoded(ModelDirectory source, Map<String, Tensor> globals, int numBlocks, IntFunction<Map<String, Encoded>> blocks,
                                   DType dtype, FileSystem fs, Path outDir, long maxShardBytes, Map<String, Object> configUpdates) {
    ModelSpec spec = source.spec();
    SafetensorsWriter.Sharded writer = new SafetensorsWriter.Sharded(maxShardBytes);
    for (Map.Entry<String, long[]> e : spec.globalTensorShapes().entrySet()) {
      writer.add(SafetensorsWriter.Tensor.ofEncoded(e.getKey(), dtype, e.getValue(),
          () -> TensorShardTable.encode((globals != null ? globals.get(e.getKey()) : source.tensor(e.getKey(), e.getValue())).data(), dtype)));
    }
    for (int i = 0; i < numBlocks; i++) {
      String prefix = spec.blockPrefix(i);
      for (Map.Entry<String, Encoded> e : blocks.apply(i).entrySet()) {
        DType own = e.getValue().dtype();
        writer.add(SafetensorsWriter.Tensor.ofEncoded(prefix + e.getKey(), own != null ? own : dtype, e.getValue().shape(), e.getValue().bytes()));
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

  /**
   * The quantized linears of a compressed model: block i's are in {@code fileOfBlock.apply(i)}
   * ({@code QuantizedLinear.avsc}; null for a block kept unquantized), written in {@code format} with
   * {@code quantizationConfig} as config.json's {@code quantization_config} (GPTQ: also as {@code quantize_config.json}).
   */
  public record QuantizedBlocks(IntFunction<Path> fileOfBlock, QuantizedCheckpoint.Format format, QuantScheme scheme, boolean gIdx,
                                ObjectNode quantizationConfig) {}

  /**
   * Exports a model whose blocks are shard files ({@code TensorShard.avsc}, one per block, already in {@code dtype}): the
   * globals come from {@code source}, each block's bytes from its shard, copied as stored. One block's bytes are held at a
   * time (safetensors files list a block's tensors together), never the model.
   */
  public static void exportShards(ModelDirectory source, IntFunction<Path> shardOfBlock, DType dtype, FileSystem fs, Path outDir,
                                  Configuration conf) {
    exportShards(source, shardOfBlock, null, dtype, fs, outDir, conf);
  }

  /**
   * As {@link #exportShards(ModelDirectory, IntFunction, DType, FileSystem, Path, Configuration)}, with the linears of
   * {@code quantized} (or null) written as their packed tensors ({@link QuantizedTensors}) instead of a dense weight.
   */
  public static void exportShards(ModelDirectory source, IntFunction<Path> shardOfBlock, QuantizedBlocks quantized, DType dtype,
                                  FileSystem fs, Path outDir, Configuration conf) {
    exportShards(source, null, shardOfBlock, quantized, dtype, fs, outDir, conf);
  }

  /** As {@link #exportShards(ModelDirectory, IntFunction, QuantizedBlocks, DType, FileSystem, Path, Configuration)}, the globals from {@code globals} (null: {@code source}'s). */
  public static void exportShards(ModelDirectory source, Map<String, Tensor> globals, IntFunction<Path> shardOfBlock, QuantizedBlocks quantized,
                                  DType dtype, FileSystem fs, Path outDir, Configuration conf) {
    ModelSpec spec = source.spec();
    List<String> linears = DecoderBlock.linearNames(spec);
    PerBlock<Map<String, TensorShardTable.Stored>> stored = new PerBlock<>();
    PerBlock<Map<String, QuantizedShardTable.Row>> codes = new PerBlock<>();
    exportEncoded(source, globals, spec.numLayers(), i -> {
      Map<String, Encoded> tensors = new LinkedHashMap<>();
      Path quantizedFile = quantized == null ? null : quantized.fileOfBlock().apply(i);
      for (Map.Entry<String, long[]> e : spec.blockTensorShapes().entrySet()) {
        String name = spec.blockPrefix(i) + e.getKey();
        String linear = e.getKey().endsWith(".weight") ? e.getKey().substring(0, e.getKey().length() - ".weight".length()) : null;
        if (quantizedFile != null && linear != null && linears.contains(linear)) {
          long[] shape = e.getValue();
          QuantizedTensors.Layout layout = new QuantizedTensors.Layout((int) shape[0], (int) shape[1], quantized.scheme(), quantized.gIdx());
          java.util.function.Supplier<CompressedLinear.Quantized> q = () -> {
            QuantizedShardTable.Row row = codes.get(i, () -> QuantizedShardTable.read(quantizedFile, conf)).get(spec.blockPrefix(i) + linear);
            if (row == null) {
              throw new IllegalStateException("Quantized shard " + quantizedFile + " has no linear '" + spec.blockPrefix(i) + linear + "'");
            }
            return row.q();
          };
          List<SafetensorsWriter.Tensor> packed = quantized.format() == QuantizedCheckpoint.Format.GPTQ
              ? QuantizedTensors.gptq(linear, layout, q) : QuantizedTensors.compressedTensors(linear, layout, q);
          for (SafetensorsWriter.Tensor t : packed) {
            tensors.put(t.name(), new Encoded(t.shape(), t::bytes, t.dtype()));
          }
          continue;
        }
        tensors.put(e.getKey(), new Encoded(e.getValue(), () -> {
          TensorShardTable.Stored t = stored.get(i, () -> TensorShardTable.read(shardOfBlock.apply(i), conf)).get(name);
          if (t == null || t.dtype() != dtype) {
            throw new IllegalStateException("Shard " + shardOfBlock.apply(i) + " has no " + dtype + " tensor '" + name + "'");
          }
          return t.data();
        }));
      }
      return tensors;
    }, dtype, fs, outDir, DEFAULT_MAX_SHARD_BYTES,
        quantized == null ? Map.of() : Map.of(QuantizedCheckpoint.CONFIG_KEY, quantized.quantizationConfig()));
    if (quantized != null && quantized.format() == QuantizedCheckpoint.Format.GPTQ) {
      try (FSDataOutputStream out = fs.create(new Path(outDir, QuantizedCheckpoint.GPTQ_CONFIG_FILE), true)) {
        out.write(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(quantized.quantizationConfig()));
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot write " + new Path(outDir, QuantizedCheckpoint.GPTQ_CONFIG_FILE), e);
      }
    }
  }

  /** What the exporter has read of one block, dropped before the next block is read (the writer goes block by block). */
  public static final class PerBlock<T> {
    private int block = -1;
    private T value;

    /** Block {@code i}'s value: the one held, or {@code read}'s after dropping the previous block's. */
    public T get(int i, Supplier<T> read) {
      if (block != i) {
        value = null; // the previous block's first
        value = read.get();
        block = i;
      }
      return value;
    }
  }

  /** The dtype a model directory stores, from config.json ("torch_dtype" or "dtype"), defaulting to F32. */
  public static DType storedDtype(ModelDirectory dir) {
    String name = dir.spec().torchDtype();
    return DType.parseFloating(name == null || name.isBlank() ? "float32" : name, "config.json dtype");
  }
}
