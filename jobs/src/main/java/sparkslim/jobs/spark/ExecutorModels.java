package sparkslim.jobs.spark;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import java.util.List;
import java.util.function.Supplier;
import org.apache.hadoop.fs.Path;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.Tensor;
import sparkslim.core.model.ModelDirectory;

/**
 * Model files as an executor sees them: each JVM opens a model directory once (headers only) and reads the tensors it
 * needs straight from the files (local or {@code hdfs://}), so the driver never broadcasts weights. Blocks are cached
 * per JVM, at most {@link #MAX_CACHED_BLOCKS} at a time (least recently used first out): a task streaming the model
 * block by block holds one or two blocks, never the whole model.
 */
public final class ExecutorModels {
  /** Blocks kept per JVM (the one in use and the next). */
  public static final int MAX_CACHED_BLOCKS = 2;
  private static final Map<String, ModelDirectory> DIRECTORIES = new ConcurrentHashMap<>();
  private static final Map<String, CausalLm> EMBEDDERS = new LinkedHashMap<>();
  private static final Map<String, DecoderBlock> BLOCKS = new LinkedHashMap<>(4, 0.75f, true);

  private ExecutorModels() {}

  /** The model directory at {@code location} (as given to the job: local path, file:// or hdfs://), opened once per JVM. */
  public static ModelDirectory open(String location) {
    return DIRECTORIES.computeIfAbsent(location, l -> ModelDirectory.open(l, new Configuration()));
  }

  /** The embedding side of the model at {@code location}: its global tensors and no blocks, cached per JVM. */
  public static CausalLm embedder(String location) {
    synchronized (EMBEDDERS) {
      CausalLm lm = EMBEDDERS.get(location);
      if (lm == null) {
        EMBEDDERS.clear(); // one model's globals at a time (about 1 GB at LLaMA-7B)
        ModelDirectory dir = open(location);
        lm = new CausalLm(dir.spec(), dir.loadGlobals(), List.of());
        EMBEDDERS.put(location, lm);
      }
      return lm;
    }
  }

  /** Block {@code i} of the model at {@code location}, dense fp32 as stored, cached per JVM. */
  public static DecoderBlock block(String location, int i) {
    return cached(location + "#" + i, () -> {
      ModelDirectory dir = open(location);
      return DecoderBlock.of(dir.spec(), dir.loadBlock(i));
    });
  }

  /**
   * Block {@code i} of the model at {@code location} as compressed in the shard file {@code shard}
   * ({@code TensorShard.avsc}: values already rounded to the output dtype), cached per JVM.
   */
  public static DecoderBlock shardBlock(String location, String shard, int i) {
    String version;
    try { // a rerun may rewrite the same path: the cache key includes the file's length and time
      org.apache.hadoop.fs.FileStatus st = new Path(shard).getFileSystem(new Configuration()).getFileStatus(new Path(shard));
      version = shard + "@" + st.getLen() + ":" + st.getModificationTime();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("Cannot read " + shard, e);
    }
    return cached(version, () -> {
      ModelDirectory dir = open(location);
      String prefix = dir.spec().blockPrefix(i);
      Map<String, Tensor> tensors = new LinkedHashMap<>();
      TensorShardTable.forEach(new Path(shard), new Configuration(),
          s -> tensors.put(s.tensor().substring(prefix.length()), new Tensor(s.shape(), s.values())));
      return DecoderBlock.of(dir.spec(), tensors);
    });
  }

  private static DecoderBlock cached(String key, Supplier<DecoderBlock> load) {
    synchronized (BLOCKS) {
      DecoderBlock cached = BLOCKS.get(key);
      if (cached != null) {
        return cached;
      }
    }
    DecoderBlock block = load.get();
    synchronized (BLOCKS) {
      BLOCKS.put(key, block);
      while (BLOCKS.size() > MAX_CACHED_BLOCKS) {
        BLOCKS.remove(BLOCKS.keySet().iterator().next());
      }
    }
    return block;
  }
}
