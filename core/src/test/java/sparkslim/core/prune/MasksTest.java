package sparkslim.core.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class MasksTest {
  @Test
  void kthSmallestEqualsSortedElement() {
    Random rnd = new Random(11);
    for (int trial = 0; trial < 200; trial++) {
      int n = 1 + rnd.nextInt(500);
      float[] v = new float[n];
      for (int i = 0; i < n; i++) {
        v[i] = trial % 3 == 0 ? rnd.nextInt(5) : (float) rnd.nextGaussian(); // many ties in every third trial
      }
      float[] sorted = v.clone();
      Arrays.sort(sorted);
      int k = rnd.nextInt(n);
      float[] before = v.clone();
      assertEquals(sorted[k], Masks.kthSmallest(v, k), "n=" + n + " k=" + k);
      assertEquals(Arrays.toString(before), Arrays.toString(v));
    }
  }

  @Test
  void markSmallestCountMarksExactlyKWithTiesByLowestIndex() {
    Random rnd = new Random(12);
    for (int trial = 0; trial < 200; trial++) {
      int n = 1 + rnd.nextInt(300);
      float[] v = new float[n];
      for (int i = 0; i < n; i++) {
        v[i] = trial % 2 == 0 ? rnd.nextInt(4) : (float) rnd.nextGaussian();
      }
      int k = rnd.nextInt(n + 1);
      // the definition: a stable sort of the indices by value, the first k marked
      Integer[] order = new Integer[n];
      for (int i = 0; i < n; i++) {
        order[i] = i;
      }
      Arrays.sort(order, (a, b) -> Float.compare(v[a], v[b]));
      boolean[] expected = new boolean[n];
      for (int i = 0; i < k; i++) {
        expected[order[i]] = true;
      }
      boolean[] marked = new boolean[n];
      Arrays.fill(marked, true);
      Masks.markSmallestCount(v, k, marked);
      assertEquals(Arrays.toString(expected), Arrays.toString(marked), "n=" + n + " k=" + k);
    }
  }
}
