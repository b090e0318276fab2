package sparkslim.core.plan;

import java.util.ArrayList;
import java.util.List;
import java.util.SortedSet;
import java.util.regex.Pattern;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.depth.DepthCriterion;
import sparkslim.core.depth.DepthMode;
import sparkslim.core.depth.DepthPlanner;
import sparkslim.core.model.ModelSpec;

/**
 * {@code depth.*}: which blocks depth pruning scores and removes.
 *
 * @param criterion ppl, taylor or magnitude
 * @param numBlocks blocks to remove, &ge; 1 (and, checked against the model, fewer than the unprotected blocks)
 * @param protect the items of {@code depth.protect}: block indices and {@code L-k} (spaces removed), or the single item {@code none}
 * @param mode one-shot or iterative
 */
public record DepthSettings(DepthCriterion criterion, int numBlocks, List<String> protect, DepthMode mode) {
  private static final Pattern ITEM = Pattern.compile("-?\\d+|L-\\d+");

  public DepthSettings {
    protect = List.copyOf(protect);
  }

  public static DepthSettings of(Config c) {
    DepthCriterion criterion = DepthCriterion.parse(c.required(ConfigKey.DEPTH_CRITERION), ConfigKey.DEPTH_CRITERION.key());
    DepthMode mode = DepthMode.parse(c.string(ConfigKey.DEPTH_MODE), ConfigKey.DEPTH_MODE.key());
    int numBlocks = Values.atLeast(c, ConfigKey.DEPTH_NUM_BLOCKS, 1, "");
    List<String> protect = new ArrayList<>();
    List<String> items = c.list(ConfigKey.DEPTH_PROTECT);
    boolean none = items.size() == 1 && items.get(0).equals(DepthPlanner.NO_PROTECTION);
    for (String item : items) {
      String compact = item.replaceAll("\\s+", "");
      if (!none && !ITEM.matcher(compact).matches()) {
        throw new SparkslimException("'" + ConfigKey.DEPTH_PROTECT.key() + "' lists '" + item + "': expected block indices or L-k items "
            + "(e.g. 0,1,2,3,L-2,L-1), or " + DepthPlanner.NO_PROTECTION + " alone");
      }
      protect.add(compact);
    }
    return new DepthSettings(criterion, numBlocks, protect, mode);
  }

  /** The protected blocks of a model of {@code numLayers} blocks; {@code source} names its config.json for messages. */
  public SortedSet<Integer> protectedBlocks(int numLayers, String source) {
    return DepthPlanner.parseProtected(protect, numLayers, source);
  }

  /** Every protected index in [0, L−1], and {@code num-blocks} below the number of unprotected blocks. */
  public void check(ModelSpec spec, String source) {
    DepthPlanner.checkNumBlocks(numBlocks, spec.numLayers(), protectedBlocks(spec.numLayers(), source), source);
  }
}
