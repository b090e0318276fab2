package sparkslim.core.depth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import sparkslim.core.linalg.ExactSums;

/** Slices of windows' gradient sums, merged by key in any grouping and order, give the same bits as one accumulator. */
class GradientAccumulatorTest {
  private static Map<Integer, Map<String, double[]>> gradient(Random rnd) {
    Map<Integer, Map<String, double[]>> g = new LinkedHashMap<>();
    for (int b : new int[] {0, 2}) {
      Map<String, double[]> t = new LinkedHashMap<>();
      t.put("mlp.down_proj.weight", rnd.doubles(7).map(x -> (x - 0.5) * 1e-3).toArray());
      t.put("input_layernorm.weight", rnd.doubles(3).map(x -> x - 0.5).toArray());
      t.put("fc1.bias", rnd.doubles(4).toArray()); // not a weight: not kept
      g.put(b, t);
    }
    return g;
  }

  private static Map<GradientAccumulator.Key, ExactSums> reduce(List<GradientAccumulator> parts, int sliceSize) {
    Map<GradientAccumulator.Key, ExactSums> merged = new TreeMap<>();
    for (GradientAccumulator a : parts) {
      for (Iterator<GradientAccumulator.Slice> it = a.slices(sliceSize); it.hasNext(); ) {
        GradientAccumulator.Slice s = it.next();
        merged.merge(s.key(), s.sums(), ExactSums::merge);
      }
    }
    return merged;
  }

  @Test
  void anyPartitioningGivesTheSameSlices() {
    Random rnd = new Random(7);
    List<Map<Integer, Map<String, double[]>>> windows = new ArrayList<>();
    double[] losses = new double[6];
    for (int w = 0; w < 6; w++) {
      windows.add(gradient(rnd));
      losses[w] = 100 * rnd.nextDouble();
    }
    GradientAccumulator all = new GradientAccumulator();
    for (int w = 0; w < 6; w++) {
      all.add(losses[w], windows.get(w));
    }
    List<GradientAccumulator> split = new ArrayList<>();
    for (int[] part : new int[][] {{5, 1}, {3}, {0, 4, 2}}) {
      GradientAccumulator a = new GradientAccumulator();
      for (int w : part) {
        a.add(losses[w], windows.get(w));
      }
      split.add(a);
    }
    Map<GradientAccumulator.Key, ExactSums> one = reduce(List.of(all), 3);
    Map<GradientAccumulator.Key, ExactSums> many = reduce(split, 3);
    assertEquals(one.keySet(), many.keySet());
    // 2 blocks x (7 entries in slices of 3: offsets 0, 3, 6; 3 entries: offset 0) + the loss; biases are not kept
    assertEquals(2 * 4 + 1, one.size());
    for (GradientAccumulator.Key k : one.keySet()) {
      assertArrayEquals(one.get(k).toDoubles(), many.get(k).toDoubles(), k.toString());
    }
    double direct = 0;
    for (int w = 0; w < 6; w++) {
      direct += windows.get(w).get(2).get("mlp.down_proj.weight")[4];
    }
    assertEquals(direct, one.get(new GradientAccumulator.Key(2, "mlp.down_proj.weight", 3)).toDouble(1), 1e-15);
  }

  @Test
  void taylorIsAbsoluteValueAfterTheSum() {
    float[] w = {2f, -1f, 0.5f};
    // gradient sums over all windows: signs already combined; abs of W * (sum / predictions)
    assertEquals((2 * 3 + 1 * 4 + 0.5 * 0) / 10.0, BlockImportance.taylor(w, 0, new double[] {3, 4, 0}, 10), 1e-15);
    assertEquals(0.5 * 2 / 4.0, BlockImportance.taylor(w, 2, new double[] {-2}, 4), 1e-15);
  }
}
