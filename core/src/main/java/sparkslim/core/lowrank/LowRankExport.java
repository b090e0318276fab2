package sparkslim.core.lowrank;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.function.Supplier;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.io.DType;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelExporter;
import sparkslim.core.model.ModelSpec;

/**
 * The two exports of {@code sparkslim lowrank} (docs/depth_quant.md §5, "for our pipeline"), streamed one block at a
 * time from the job's files: block b's shard ({@code TensorShard.avsc}: the norms and biases in the output dtype, each
 * linear as W′ = U·V in fp32) and its factors file (the same schema: {@code <linear>.u_proj.weight} and
 * {@code <linear>.v_proj.weight} in the output dtype).
 */
public final class LowRankExport {
  private LowRankExport() {}

  /**
   * The factored checkpoint: every linear as its two factors, the other tensors as stored, {@code lowrank} in
   * config.json ({@link LowRankCheckpoint}). sparkslim's own loaders read it; transformers does not know the layout.
   */
  public static void factored(ModelDirectory source, IntFunction<Path> shardOfBlock, IntFunction<Path> factorsOfBlock, LowRankCheckpoint checkpoint,
                              DType dtype, FileSystem fs, Path outDir, Configuration conf) {
    ModelSpec spec = source.spec();
    List<String> linears = DecoderBlock.linearNames(spec);
    Cache shards = new Cache();
    Cache factors = new Cache();
    ModelExporter.exportEncoded(source, spec.numLayers(), i -> {
      Map<String, ModelExporter.Encoded> tensors = new LinkedHashMap<>();
      String prefix = spec.blockPrefix(i);
      for (Map.Entry<String, long[]> e : spec.blockTensorShapes().entrySet()) {
        String name = e.getKey();
        boolean linear = name.endsWith(".weight") && linears.contains(name.substring(0, name.length() - ".weight".length()));
        if (linear && checkpoint.rankOf(prefix + name) > 0) {
          int k = checkpoint.rankOf(prefix + name);
          long[] shape = e.getValue(); // (outFeatures, inFeatures)
          String u = LowRankCheckpoint.uName(name);
          String v = LowRankCheckpoint.vName(name);
          tensors.put(u, new ModelExporter.Encoded(new long[] {shape[0], k}, () -> bytes(factors, factorsOfBlock, i, prefix + u, dtype, conf)));
          tensors.put(v, new ModelExporter.Encoded(new long[] {k, shape[1]}, () -> bytes(factors, factorsOfBlock, i, prefix + v, dtype, conf)));
        } else {
          tensors.put(name, new ModelExporter.Encoded(e.getValue(), () -> bytes(shards, shardOfBlock, i, prefix + name, dtype, conf)));
        }
      }
      return tensors;
    }, dtype, fs, outDir, ModelExporter.DEFAULT_MAX_SHARD_BYTES, Map.of(LowRankCheckpoint.CONFIG_KEY, checkpoint.toJson()));
  }

  /**
   * The dense checkpoint transformers loads: every linear as W′ = U·V, multiplied back in fp32 exactly as sparkslim's
   * loaders do, so the whole checkpoint is fp32 (the product of 16-bit factors is not a 16-bit tensor). No size gain.
   */
  public static void dense(ModelDirectory source, IntFunction<Path> shardOfBlock, FileSystem fs, Path outDir, Configuration conf) {
    ModelSpec spec = source.spec();
    Cache shards = new Cache();
    ModelExporter.exportEncoded(source, spec.numLayers(), i -> {
      Map<String, ModelExporter.Encoded> tensors = new LinkedHashMap<>();
      String prefix = spec.blockPrefix(i);
      for (Map.Entry<String, long[]> e : spec.blockTensorShapes().entrySet()) {
        tensors.put(e.getKey(), new ModelExporter.Encoded(e.getValue(), () -> {
          TensorShardTable.Stored t = stored(shards, shardOfBlock, i, prefix + e.getKey(), conf);
          return t.dtype() == DType.F32 ? t.data() : TensorShardTable.encode(t.values(), DType.F32); // widening is exact
        }));
      }
      return tensors;
    }, DType.F32, fs, outDir, ModelExporter.DEFAULT_MAX_SHARD_BYTES, Map.of());
  }

  private static byte[] bytes(Cache cache, IntFunction<Path> fileOfBlock, int block, String tensor, DType dtype, Configuration conf) {
    TensorShardTable.Stored t = stored(cache, fileOfBlock, block, tensor, conf);
    if (t.dtype() != dtype) {
      throw new IllegalStateException(fileOfBlock.apply(block) + " stores '" + tensor + "' as " + t.dtype() + ", expected " + dtype);
    }
    return t.data();
  }

  private static TensorShardTable.Stored stored(Cache cache, IntFunction<Path> fileOfBlock, int block, String tensor, Configuration conf) {
    TensorShardTable.Stored t = cache.get(block, () -> TensorShardTable.read(fileOfBlock.apply(block), conf)).get(tensor);
    if (t == null) {
      throw new IllegalStateException(fileOfBlock.apply(block) + " has no tensor '" + tensor + "'");
    }
    return t;
  }

  /** One block's file as read, dropped when the writer moves to the next block (it goes block by block). */
  private static final class Cache {
    private int block = -1;
    private Map<String, TensorShardTable.Stored> value;

    Map<String, TensorShardTable.Stored> get(int i, Supplier<Map<String, TensorShardTable.Stored>> read) {
      if (block != i) {
        value = null;
        value = read.get();
        block = i;
      }
      return value;
    }
  }
}
