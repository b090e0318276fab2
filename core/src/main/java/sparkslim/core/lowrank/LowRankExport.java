package sparkslim.core.lowrank;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.IntFunction;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelExporter;
import sparkslim.core.model.ModelSpec;

/**
 * The two exports of {@code sparkslim lowrank} (docs/depth_quant.md §5, "for our pipeline"), streamed one block at a
 * time from the job's files: block b's shard ({@code TensorShard.avsc}: the norms and biases in the output dtype) and
 * its factors file (the same schema: {@code <linear>.u_proj.weight} then {@code <linear>.v_proj.weight} of each linear,
 * in the output dtype).
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
    ModelExporter.PerBlock<Map<String, TensorShardTable.Stored>> shards = new ModelExporter.PerBlock<>();
    ModelExporter.PerBlock<Map<String, TensorShardTable.Stored>> factors = new ModelExporter.PerBlock<>();
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
   * loaders do (one linear at a time), so the whole checkpoint is fp32 (the product of 16-bit factors is not a 16-bit tensor). No size gain.
   */
  public static void dense(ModelDirectory source, IntFunction<Path> shardOfBlock, IntFunction<Path> factorsOfBlock, LowRankCheckpoint checkpoint,
                           FileSystem fs, Path outDir, Configuration conf) {
    ModelSpec spec = source.spec();
    ModelExporter.PerBlock<Map<String, TensorShardTable.Stored>> shards = new ModelExporter.PerBlock<>();
    ModelExporter.PerBlock<Map<String, TensorShardTable.Stored>> factors = new ModelExporter.PerBlock<>();
    ModelExporter.exportEncoded(source, spec.numLayers(), i -> {
      Map<String, ModelExporter.Encoded> tensors = new LinkedHashMap<>();
      String prefix = spec.blockPrefix(i);
      for (Map.Entry<String, long[]> e : spec.blockTensorShapes().entrySet()) {
        String name = prefix + e.getKey();
        tensors.put(e.getKey(), new ModelExporter.Encoded(e.getValue(), checkpoint.rankOf(name) > 0
            ? () -> TensorShardTable.encode(product(stored(factors, factorsOfBlock, i, LowRankCheckpoint.uName(name), conf),
                stored(factors, factorsOfBlock, i, LowRankCheckpoint.vName(name), conf)), DType.F32)
            : () -> TensorShardTable.encode(stored(shards, shardOfBlock, i, name, conf).values(), DType.F32))); // widening is exact
      }
      return tensors;
    }, DType.F32, fs, outDir, ModelExporter.DEFAULT_MAX_SHARD_BYTES, Map.of());
  }

  /**
   * Each linear of a block's factors file, as {@code <linear>.weight} (relative to {@code prefix}) and W′ = U·V in fp32
   * ({@link CompressedLinear.Factored#product}, as every reader of factors computes it), one linear at a time.
   */
  public static void forEachLinear(Path factorsFile, String prefix, Configuration conf, BiConsumer<String, float[]> action) {
    TensorShardTable.Stored[] u = new TensorShardTable.Stored[1];
    TensorShardTable.forEach(factorsFile, conf, s -> {
      if (s.tensor().endsWith(LowRankCheckpoint.U_SUFFIX)) {
        u[0] = s;
        return;
      }
      if (u[0] == null || !s.tensor().endsWith(LowRankCheckpoint.V_SUFFIX)) {
        throw new IllegalStateException(factorsFile + ": expected " + LowRankCheckpoint.U_SUFFIX + " then " + LowRankCheckpoint.V_SUFFIX
            + " of each linear, found '" + s.tensor() + "'");
      }
      String linear = s.tensor().substring(prefix.length(), s.tensor().length() - LowRankCheckpoint.V_SUFFIX.length());
      action.accept(linear + ".weight", product(u[0], s));
      u[0] = null;
    });
  }

  /** W′ = U·V (rows, cols) in fp32 of a linear's stored factors U (rows, rank) and V (rank, cols). */
  private static float[] product(TensorShardTable.Stored u, TensorShardTable.Stored v) {
    return CompressedLinear.Factored.product(u.values(), (int) u.shape()[0], (int) u.shape()[1], v.values(), (int) v.shape()[1]);
  }

  private static byte[] bytes(ModelExporter.PerBlock<Map<String, TensorShardTable.Stored>> cache, IntFunction<Path> fileOfBlock, int block,
                              String tensor, DType dtype, Configuration conf) {
    TensorShardTable.Stored t = stored(cache, fileOfBlock, block, tensor, conf);
    if (t.dtype() != dtype) {
      throw new IllegalStateException(fileOfBlock.apply(block) + " stores '" + tensor + "' as " + t.dtype() + ", expected " + dtype);
    }
    return t.data();
  }

  private static TensorShardTable.Stored stored(ModelExporter.PerBlock<Map<String, TensorShardTable.Stored>> cache, IntFunction<Path> fileOfBlock,
                                                int block, String tensor, Configuration conf) {
    TensorShardTable.Stored t = cache.get(block, () -> TensorShardTable.read(fileOfBlock.apply(block), conf)).get(tensor);
    if (t == null) {
      throw new IllegalStateException(fileOfBlock.apply(block) + " has no tensor '" + tensor + "'");
    }
    return t;
  }
}
