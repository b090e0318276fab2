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
}
