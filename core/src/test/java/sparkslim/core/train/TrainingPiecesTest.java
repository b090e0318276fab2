package sparkslim.core.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import sparkslim.core.SparkslimException;
import sparkslim.core.calib.PythonRandom;

/**
 * The optimizer, schedule, clipping and data order of recovery training against the values their references print:
 * torch 2.13 {@code AdamW} on a 4-value parameter, CPython 3.11 {@code random.Random(seed).shuffle}, and the schedule
 * of the protocol.
 */
class TrainingPiecesTest {
  /**
   * torch: {@code p = Parameter([0.5, -1, 2, 0]); AdamW([p], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)},
   * three steps with the gradients below; p printed after each step.
   */
  @Test
  void adamWMatchesTorch() {
    float[] p = {0.5f, -1f, 2f, 0f};
    float[][] g = {{0.1f, -0.2f, 0.3f, 0f}, {1f, 0.5f, -0.5f, 1e-3f}, {-0.3f, 0f, 0.2f, 2f}};
    float[][] torch = {{4.990000129e-01f, -9.990000129e-01f, 1.998999953e+00f, 0f},
        {4.981929362e-01f, -9.994422197e-01f, 1.999293566e+00f, -7.441262132e-04f},
        {4.977779686e-01f, -9.997840524e-01f, 1.999300838e+00f, -1.383227180e-03f}};
    AdamW adam = new AdamW(4, 0);
    for (int s = 0; s < 3; s++) {
      adam.update(p, g[s], 1e-3);
      for (int i = 0; i < 4; i++) {
        assertEquals(torch[s][i], p[i], 2e-7f * Math.max(1f, Math.abs(p[i])), "step " + s + " value " + i);
      }
    }
    assertEquals(3, adam.steps());
  }

  @Test
  void scheduleOfTheProtocol() {
    LearningRateSchedule s = LearningRateSchedule.of(156, 0.1, 1e-3);
    assertEquals(16, s.warmupSteps());
    assertEquals(0.0, s.at(0));
    for (int k = 0; k < 156; k++) {
      double expected = k < 16 ? 1e-3 * k / 16 : 1e-3 * (156 - k) / 140;
      assertEquals(expected, s.at(k), 0.0, "k = " + k);
    }
    assertEquals(1e-3, s.at(16), 0.0);
    assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.of(10, 0.1, Double.NaN));
  }

  @Test
  void clippingScalesToTheGlobalNorm() {
    float[] a = {3f, 4f};
    float[] b = {12f};
    double norm = GradientClipping.clip(List.of(a, b), 1.0);
    assertEquals(13.0, norm, 0.0);
    float c = (float) (1.0 / (13.0 + 1e-6));
    assertArrayEquals(new float[] {3f * c, 4f * c}, a);
    assertArrayEquals(new float[] {12f * c}, b);
    float[] small = {0.3f, 0.4f};
    assertEquals(0.5, GradientClipping.clip(List.of(small), 1.0), 1e-7);
    assertArrayEquals(new float[] {0.3f, 0.4f}, small, "under the limit: unchanged");
  }

  /** CPython 3.11: {@code x = list(range(12)); random.Random(s).shuffle(x)}. */
  @Test
  void shuffleMatchesCPython() {
    int[][] expected = {{1, 9, 8, 5, 10, 2, 3, 7, 4, 0, 11, 6}, {7, 11, 0, 8, 5, 6, 3, 10, 4, 1, 9, 2},
        {11, 10, 8, 1, 7, 9, 2, 3, 5, 4, 0, 6}};
    long[] seeds = {0, 1, 12345};
    for (int i = 0; i < seeds.length; i++) {
      int[] x = new int[12];
      Arrays.setAll(x, k -> k);
      new PythonRandom(seeds[i]).shuffle(x);
      assertArrayEquals(expected[i], x, "seed " + seeds[i]);
    }
  }

  /** 1250 windows of 512 (the protocol's imdb.calib.txt), batches of 8: 156 steps, CPython's order for seed 0. */
  @Test
  void windowsAndBatches() {
    int[] tokens = new int[1250 * 512 + 100];
    Arrays.setAll(tokens, i -> i % 8192);
    TrainingWindows w = new TrainingWindows(tokens, 512, 8, 0, "t.txt", "finetune.batch-size");
    assertEquals(1250, w.count());
    assertEquals(156, w.stepsPerEpoch());
    assertArrayEquals(new int[] {437, 543, 337, 472, 928, 1233, 140, 319}, w.batch(0));
    assertArrayEquals(Arrays.copyOfRange(w.order(1), 0, 8), w.batch(156), "the second epoch reshuffles with seed + 1");
    SparkslimException e = assertThrows(SparkslimException.class,
        () -> new TrainingWindows(new int[7 * 512], 512, 8, 0, "short.txt", "finetune.batch-size"));
    assertEquals("Training text short.txt has 3584 tokens, 7 windows of 512, fewer than one batch: expected at least"
        + " 'finetune.batch-size' = 8 windows (4096 tokens)", e.getMessage());
  }
}
