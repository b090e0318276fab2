package sparkslim.core.depth;

import java.util.List;

/**
 * One scoring round of depth pruning.
 *
 * @param scores score of every original block, indexed by block; NaN for blocks removed in earlier rounds
 * @param order the scored blocks, least important first (ties by index)
 * @param removed the blocks this round removes, in removal order
 * @param modelScore PPL criterion: calibration PPL of the round's model; Taylor: its mean calibration loss; else NaN
 */
public record DepthRound(int round, double[] scores, List<Integer> order, List<Integer> removed, double modelScore, double seconds) {}
