package sparkslim.jobs.spark;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import sparkslim.core.model.DecoderBlock;
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
  private static final Map<String, DecoderBlock> BLOCKS = new LinkedHashMap<>(4, 0.75f, true);

  private ExecutorModels() {}

  /** The model directory at {@code location} (as given to the job: local path, file:// or hdfs://), opened once per JVM. */
  public static ModelDirectory open(String location) {
    return DIRECTORIES.computeIfAbsent(location, l -> ModelDirectory.open(l, new Configuration()));
  }

  /** Block {@code i} of the model at {@code location}, dense fp32 as stored, cached per JVM. */
  public static DecoderBlock block(String location, int i) {
    String key = location + "#" + i;
    synchronized (BLOCKS) {
      DecoderBlock cached = BLOCKS.get(key);
      if (cached != null) {
        return cached;
      }
    }
    ModelDirectory dir = open(location);
    DecoderBlock block = DecoderBlock.of(dir.spec(), dir.loadBlock(i));
    synchronized (BLOCKS) {
      BLOCKS.put(key, block);
      while (BLOCKS.size() > MAX_CACHED_BLOCKS) {
        BLOCKS.remove(BLOCKS.keySet().iterator().next());
      }
    }
    return block;
  }
}
