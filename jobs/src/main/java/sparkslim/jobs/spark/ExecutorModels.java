package sparkslim.jobs.spark;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.lowrank.LowRankExport;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.HalfTensor;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.Tensor;
import sparkslim.core.quant.QuantizedShardTable;

/**
 * Model files as an executor sees them: each JVM opens a model directory once (headers only) and reads the tensors it
 * needs straight from the files (local or {@code hdfs://}), so the driver never broadcasts weights. Blocks are cached
 * per JVM, at most {@link #MAX_CACHED_BLOCKS} at a time (least recently used first out, evicted before the next one
 * is read): a task streaming the model block by block holds one or two blocks, never the whole model. The global
 * tensors (embeddings, final norm, head) are cached per model as a blocks-free {@link CausalLm}.
 *
 * <p>Loads are done under one lock, so concurrent tasks of a JVM that need the same block or globals read them once.
 * A layer-sequential pass uses {@link #onlyBlock} and {@link #onlyGlobals}, which first drop everything else cached,
 * so a JVM holds one block or the globals at a time.
 *
 * <p>Matrices stay in their stored dtype in memory ({@link ModelDirectory#block}, {@link ModelDirectory#globals}): a
 * LLaMA-7B block from bf16 files takes 0.40 GB and its globals 0.52 GB, and each linear is widened to fp32 only while
 * it is applied (at most 0.18 GB, {@code down_proj}, per running task). Widening is exact, so the results are those of
 * fp32 blocks.
 */
public final class ExecutorModels {
  /** Blocks kept per JVM (the one in use and the next). */
  public static final int MAX_CACHED_BLOCKS = 2;
  private static final Map<String, ModelDirectory> DIRECTORIES = new ConcurrentHashMap<>();
  /**
   * One Hadoop configuration per JVM: each new {@code Configuration} parses the default XML resources again on first
   * use, which, once per propagated window, cost more than the block's attention (JFR of a quantize run).
   */
  private static final Configuration HADOOP_CONF = new Configuration();
  private static final Object LOCK = new Object();
  private static final Map<String, DecoderBlock> BLOCKS = new LinkedHashMap<>(4, 0.75f, true); // guarded by LOCK
  private static final Map<String, CausalLm> GLOBALS = new LinkedHashMap<>(); // guarded by LOCK
  private static Object step; // guarded by LOCK
  private static String stepKey; // guarded by LOCK

  private ExecutorModels() {}

  /** This JVM's Hadoop configuration (the defaults; read only), for tasks that open files. */
  public static Configuration hadoopConf() {
    return HADOOP_CONF;
  }

  /** The model directory at {@code location} (as given to the job: local path, file:// or hdfs://), opened once per JVM. */
  public static ModelDirectory open(String location) {
    return DIRECTORIES.computeIfAbsent(location, l -> ModelDirectory.open(l, HADOOP_CONF));
  }

  /** Block {@code i} of the model at {@code location}, dense, matrices in their stored dtype, cached per JVM. */
  public static DecoderBlock block(String location, int i) {
    return cached(location + "#" + i, () -> open(location).block(i));
  }

  /**
   * Block {@code i} of the model at {@code location} as compressed in the shard file {@code shard}
   * ({@code TensorShard.avsc}: values already rounded to the output dtype; matrices stored BF16 or F16 stay 16-bit in
   * memory) and, for a quantized run, the quantized linears of {@code quantizedShard} ({@code QuantizedLinear.avsc},
   * or null: held as codes and dequantized where used, exactly as the exported checkpoint), cached per JVM. A rerun may
   * rewrite the same paths, so the cache key includes the files' lengths and modification times.
   */
  public static DecoderBlock shardBlock(String location, String shard, String quantizedShard, String factors, int i) {
    String version = version(shard) + (quantizedShard == null ? "" : "+" + version(quantizedShard))
        + (factors == null ? "" : "+" + version(factors));
    return cached(version, () -> {
      ModelDirectory dir = open(location);
      String prefix = dir.spec().blockPrefix(i);
      Map<String, Tensor> tensors = new LinkedHashMap<>();
      Map<String, HalfTensor> halves = new LinkedHashMap<>();
      TensorShardTable.forEach(new Path(shard), HADOOP_CONF, s -> {
        String name = s.tensor().substring(prefix.length());
        if (s.shape().length == 2 && (s.dtype() == DType.BF16 || s.dtype() == DType.F16)) {
          halves.put(name, HalfTensor.fromLittleEndian(s.shape(), s.dtype(), s.data()));
        } else {
          tensors.put(name, new Tensor(s.shape(), s.values()));
        }
      });
      if (factors != null) {
        LowRankExport.forEachLinear(new Path(factors), prefix, HADOOP_CONF, (name, w) -> tensors.put(name, new Tensor(dir.spec().blockTensorShapes().get(name), w)));
      }
      Map<String, CompressedLinear.Quantized> quantized = new LinkedHashMap<>();
      if (quantizedShard != null) {
        QuantizedShardTable.read(new Path(quantizedShard), HADOOP_CONF)
            .forEach((name, row) -> quantized.put(name.substring(prefix.length()) + ".weight", row.q()));
      }
      return DecoderBlock.of(dir.spec(), tensors, halves, quantized);
    });
  }

  private static String version(String file) {
    try {
      FileStatus st = new Path(file).getFileSystem(HADOOP_CONF).getFileStatus(new Path(file));
      return file + "@" + st.getLen() + ":" + st.getModificationTime();
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + file, e);
    }
  }

  private static DecoderBlock cached(String key, Supplier<DecoderBlock> load) {
    synchronized (LOCK) {
      DecoderBlock cached = BLOCKS.get(key);
      if (cached != null) {
        return cached;
      }
      // make room first: the block being read and the cached ones are never more than MAX_CACHED_BLOCKS
      while (BLOCKS.size() >= MAX_CACHED_BLOCKS) {
        BLOCKS.remove(BLOCKS.keySet().iterator().next());
      }
      DecoderBlock block = load.get();
      BLOCKS.put(key, block);
      return block;
    }
  }

  /**
   * The model at {@code location} without its blocks ({@link CausalLm#globalsOnly}): embeddings (OPT: positions and
   * project_in), final norm, head (OPT: project_out), matrices in their stored dtype, cached per JVM.
   */
  public static CausalLm globals(String location) {
    synchronized (LOCK) {
      CausalLm cached = GLOBALS.get(location);
      if (cached != null) {
        return cached;
      }
      GLOBALS.clear(); // one model's globals at a time (0.52 GB at LLaMA-7B in bf16)
      CausalLm lm = open(location).globals();
      GLOBALS.put(location, lm);
      return lm;
    }
  }

  /**
   * A block-scoped object other than a block (a SparseLLM alternation's chosen FFN and M⁻¹), one per JVM: loaded
   * once under the lock and kept until another key is asked for or {@link #releaseBlocks} is called.
   */
  @SuppressWarnings("unchecked")
  public static <T> T step(String key, Supplier<T> load) {
    synchronized (LOCK) {
      if (key.equals(stepKey)) {
        return (T) step;
      }
      step = null; // make room first
      stepKey = null;
      T loaded = load.get();
      step = loaded;
      stepKey = key;
      return loaded;
    }
  }

  /**
   * Drops every cached block and the cached {@link #step}: a solve task needs its linear's statistics, not the blocks
   * the statistics came from.
   */
  public static void releaseBlocks() {
    synchronized (LOCK) {
      BLOCKS.clear();
      step = null;
      stepKey = null;
    }
  }

  /** Drops the cached globals (a job that needs them only to embed, e.g. prune, calls it once it is past embedding). */
  public static void releaseGlobals() {
    synchronized (LOCK) {
      GLOBALS.clear();
    }
  }

  /** As {@link #block}, after dropping every other cached block and all cached globals. */
  public static DecoderBlock onlyBlock(String location, int i) {
    synchronized (LOCK) {
      GLOBALS.clear();
      BLOCKS.keySet().removeIf(k -> !k.equals(location + "#" + i));
      return block(location, i);
    }
  }

  /** As {@link #globals}, after dropping every cached block and the globals of other models. */
  public static CausalLm onlyGlobals(String location) {
    synchronized (LOCK) {
      BLOCKS.clear();
      for (Iterator<String> it = GLOBALS.keySet().iterator(); it.hasNext(); ) {
        if (!it.next().equals(location)) {
          it.remove();
        }
      }
      return globals(location);
    }
  }

  /**
   * Forgets everything cached in this JVM, including opened directories (their headers): the driver calls it after a
   * streamed run, where local-mode tasks ran in its own JVM, so that nothing stays on the heap and a model rewritten
   * at the same path is read afresh.
   */
  public static void clear() {
    synchronized (LOCK) {
      BLOCKS.clear();
      GLOBALS.clear();
      DIRECTORIES.clear();
      step = null;
      stepKey = null;
    }
  }
}
