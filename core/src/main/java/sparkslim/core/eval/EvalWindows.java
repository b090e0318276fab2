package sparkslim.core.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import sparkslim.core.SparkslimException;

/** The evaluation protocol's windows: floor(n / seqlen) non-overlapping windows of seqlen tokens, tail dropped. */
public final class EvalWindows {
  private EvalWindows() {}

  /**
   * Cuts {@code tokens} into windows; {@code maxWindows} &gt; 0 keeps only the first ones. {@code text} names the file for errors.
   */
  public static List<int[]> cut(int[] tokens, int seqlen, int maxWindows, String text) {
    int count = tokens.length / seqlen;
    if (count == 0) {
      throw new SparkslimException("Text " + text + " has " + tokens.length + " tokens, fewer than one evaluation window: expected at least "
          + seqlen + " tokens ('eval.seqlen' = " + seqlen + ")");
    }
    if (maxWindows > 0) {
      count = Math.min(count, maxWindows);
    }
    List<int[]> windows = new ArrayList<>(count);
    for (int w = 0; w < count; w++) {
      windows.add(Arrays.copyOfRange(tokens, w * seqlen, (w + 1) * seqlen));
    }
    return windows;
  }

  /** PPL = exp(mean of the window NLLs), summed in window order in fp64 so the result never depends on partitioning. */
  public static double perplexity(double[] windowNllsInOrder) {
    double sum = 0;
    for (double nll : windowNllsInOrder) {
      sum += nll;
    }
    return Math.exp(sum / windowNllsInOrder.length);
  }
}
