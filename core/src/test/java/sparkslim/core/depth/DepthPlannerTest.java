package sparkslim.core.depth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import sparkslim.core.SparkslimException;

class DepthPlannerTest {
  private static final String SOURCE = "/m/config.json";

  @Test
  void defaultProtectionIsFirstFourAndLastTwo() {
    assertEquals(Set.of(0, 1, 2, 3, 6, 7), DepthPlanner.parseProtected(List.of("0", "1", "2", "3", "L-2", "L-1"), 8, SOURCE));
    assertEquals(Set.of(0, 1, 2, 3, 30, 31), DepthPlanner.parseProtected(List.of("0", "1", "2", "3", "L-2", "L-1"), 32, SOURCE));
    assertEquals(Set.of(), DepthPlanner.parseProtected(List.of("none"), 8, SOURCE));
    assertEquals(Set.of(5), DepthPlanner.parseProtected(List.of("L - 3"), 8, SOURCE));
  }

  @Test
  void protectedIndexOutOfRange() {
    SparkslimException e = assertThrows(SparkslimException.class, () -> DepthPlanner.parseProtected(List.of("0", "9"), 8, SOURCE));
    assertEquals("'depth.protect' lists '9' = block 9, but /m/config.json has num_hidden_layers=8: expected blocks in [0, 7]"
        + " (L-k with 1 <= k <= 8)", e.getMessage());
    e = assertThrows(SparkslimException.class, () -> DepthPlanner.parseProtected(List.of("L-9"), 8, SOURCE));
    assertEquals("'depth.protect' lists 'L-9' = block -1, but /m/config.json has num_hidden_layers=8: expected blocks in [0, 7]"
        + " (L-k with 1 <= k <= 8)", e.getMessage());
    e = assertThrows(SparkslimException.class, () -> DepthPlanner.parseProtected(List.of("first"), 8, SOURCE));
    assertEquals("'depth.protect' lists 'first': expected block indices or L-k items (e.g. 0,1,2,3,L-2,L-1), or none", e.getMessage());
  }

  @Test
  void numBlocksMustLeaveAnUnprotectedBlock() {
    DepthPlanner.checkNumBlocks(1, 8, Set.of(0, 1, 2, 3, 6, 7), SOURCE);
    DepthPlanner.checkNumBlocks(7, 8, Set.of(), SOURCE);
    SparkslimException e = assertThrows(SparkslimException.class, () -> DepthPlanner.checkNumBlocks(2, 8, Set.of(0, 1, 2, 3, 6, 7), SOURCE));
    assertEquals("'depth.num-blocks' is set to 2 but must be less than the number of unprotected blocks, 2 (/m/config.json has"
        + " num_hidden_layers=8; 'depth.protect' protects [0, 1, 2, 3, 6, 7]; pass --depth.protect=none to protect nothing)", e.getMessage());
    e = assertThrows(SparkslimException.class, () -> DepthPlanner.checkNumBlocks(0, 8, Set.of(), SOURCE));
    assertEquals("'depth.num-blocks' is set to 0 but must be >= 1", e.getMessage());
  }

  @Test
  void orderIsAscendingWithTiesByIndexAndPlusDropsProtected() {
    // the Taylor scores of tiny-llama-imdb (examples/golden/depth_taylor.json)
    double[] scores = {22.08, 10.33, 12.29, 11.68, 13.73, 13.81, 14.57, 15.34};
    List<Integer> order = DepthPlanner.order(scores, List.of(0, 1, 2, 3, 4, 5, 6, 7));
    assertEquals(List.of(1, 3, 2, 4, 5, 6, 7, 0), order);
    assertEquals(List.of(4, 5), DepthPlanner.withoutProtected(order, Set.of(0, 1, 2, 3, 6, 7)));
    assertEquals(List.of(2, 0, 1), DepthPlanner.order(new double[] {1, 1, 0.5}, List.of(2, 1, 0)));
    assertEquals(List.of(3, 5), DepthPlanner.order(scores, List.of(5, 3)));
  }
}
