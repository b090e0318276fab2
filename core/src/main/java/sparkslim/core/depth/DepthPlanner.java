package sparkslim.core.depth;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import sparkslim.core.SparkslimException;

/**
 * Pure planning rules of depth pruning (Shortened LLaMA, Kim et al. 2024): the protected set of the "+" heuristic,
 * the check of {@code depth.num-blocks}, and the unimportance order (least important first).
 */
public final class DepthPlanner {
  public static final String PROTECT_KEY = "depth.protect";
  public static final String NUM_BLOCKS_KEY = "depth.num-blocks";
  /** The value of {@code depth.protect} that protects nothing. */
  public static final String NO_PROTECTION = "none";
  private static final Pattern FROM_END = Pattern.compile("L\\s*-\\s*(\\d+)");

  private DepthPlanner() {}

  /**
   * Parses {@code depth.protect}: {@code none}, or block indices and {@code L-k} items (L = {@code num_hidden_layers}),
   * e.g. the reference's default {@code 0,1,2,3,L-2,L-1}. {@code source} names the model's config.json for messages.
   */
  public static SortedSet<Integer> parseProtected(List<String> items, int numLayers, String source) {
    SortedSet<Integer> out = new TreeSet<>();
    if (items.size() == 1 && items.get(0).equals(NO_PROTECTION)) {
      return out;
    }
    for (String item : items) {
      int block;
      Matcher m = FROM_END.matcher(item);
      if (m.matches()) {
        block = numLayers - Integer.parseInt(m.group(1));
      } else {
        try {
          block = Integer.parseInt(item);
        } catch (NumberFormatException e) {
          throw new SparkslimException("'" + PROTECT_KEY + "' lists '" + item + "': expected block indices or L-k items (e.g. 0,1,2,3,L-2,L-1), or "
              + NO_PROTECTION);
        }
      }
      if (block < 0 || block >= numLayers) {
        throw new SparkslimException("'" + PROTECT_KEY + "' lists '" + item + "' = block " + block + ", but " + source
            + " has num_hidden_layers=" + numLayers + ": expected blocks in [0, " + (numLayers - 1) + "] (L-k with 1 <= k <= " + numLayers + ")");
      }
      out.add(block);
    }
    return out;
  }

  /** {@code depth.num-blocks} must be at least 1 and below the number of unprotected blocks. */
  public static void checkNumBlocks(int numBlocks, int numLayers, Set<Integer> protectedBlocks, String source) {
    if (numBlocks < 1) {
      throw new SparkslimException("'" + NUM_BLOCKS_KEY + "' is set to " + numBlocks + " but must be >= 1");
    }
    int unprotected = numLayers - protectedBlocks.size();
    if (numBlocks >= unprotected) {
      throw new SparkslimException("'" + NUM_BLOCKS_KEY + "' is set to " + numBlocks + " but must be less than the number of unprotected blocks, "
          + unprotected + " (" + source + " has num_hidden_layers=" + numLayers + "; '" + PROTECT_KEY + "' protects " + new java.util.TreeSet<>(protectedBlocks)
          + (protectedBlocks.isEmpty() ? ")" : "; pass --" + PROTECT_KEY + "=" + NO_PROTECTION + " to protect nothing)"));
    }
  }

  /** {@code blocks} sorted by ascending {@code scores[block]} (least important first), ties by block index. */
  public static List<Integer> order(double[] scores, Collection<Integer> blocks) {
    List<Integer> out = new ArrayList<>(blocks);
    out.sort(Comparator.<Integer>comparingDouble(b -> scores[b]).thenComparingInt(b -> b));
    return out;
  }

  /** The removal candidates: {@code order} without the protected blocks (the "+" heuristic), order kept. */
  public static List<Integer> withoutProtected(List<Integer> order, Set<Integer> protectedBlocks) {
    List<Integer> out = new ArrayList<>();
    for (int b : order) {
      if (!protectedBlocks.contains(b)) {
        out.add(b);
      }
    }
    return out;
  }
}
