package sparkslim.core.train;

import java.util.Arrays;
import java.util.List;
import sparkslim.core.SparkslimException;
import sparkslim.core.calib.PythonRandom;
import sparkslim.core.eval.EvalWindows;

/**
 * The training data order: the text's tokens cut into ⌊n/seqlen⌋ non-overlapping windows as in the evaluation protocol,
 * and for each epoch e a permutation of their indices, {@code order = list(range(count));
 * random.Random(seed + e).shuffle(order)} in Python (CPython's MT19937, ported exactly by {@link PythonRandom}). Step s
 * of an epoch takes windows order[s·batch … (s + 1)·batch − 1]; the last partial batch is dropped. The order depends only
 * on the seed, never on the number of executors.
 */
public final class TrainingWindows {
  private final List<int[]> windows;
  private final int batchSize;
  private final long seed;

  /**
   * @param text names the file in errors; {@code batchKey} the config key of the batch size
   */
  public TrainingWindows(int[] tokens, int seqlen, int batchSize, long seed, String text, String batchKey) {
    if (tokens.length / seqlen < batchSize) {
      throw new SparkslimException("Training text " + text + " has " + tokens.length + " tokens, " + tokens.length / seqlen + " windows of "
          + seqlen + ", fewer than one batch: expected at least '" + batchKey + "' = " + batchSize + " windows (" + (long) batchSize * seqlen
          + " tokens)");
    }
    this.windows = EvalWindows.cut(tokens, seqlen, 0, text);
    this.batchSize = batchSize;
    this.seed = seed;
  }

  public int count() {
    return windows.size();
  }

  public int[] window(int index) {
    return windows.get(index);
  }

  /** Steps per epoch: ⌊count/batch⌋. */
  public int stepsPerEpoch() {
    return windows.size() / batchSize;
  }

  /** The window order of epoch {@code epoch} (0-based). */
  public int[] order(int epoch) {
    int[] order = new int[windows.size()];
    Arrays.setAll(order, i -> i);
    new PythonRandom(seed + epoch).shuffle(order);
    return order;
  }

  /** The window indices of global step {@code step} (0-based, epochs back to back). */
  public int[] batch(int step) {
    int perEpoch = stepsPerEpoch();
    int[] order = order(step / perEpoch);
    int from = (step % perEpoch) * batchSize;
    return Arrays.copyOfRange(order, from, from + batchSize);
  }
}
