package sparkslim.core.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.SparkslimException;
import sparkslim.core.model.CausalLm;

/**
 * {@link TrainingCheckpoint} and {@link TrainingMetrics}: a trainer restored from a checkpoint continues bit for bit as
 * the one that wrote it; a checkpoint of other settings is refused; metric segments join up to the whole curve.
 */
class TrainingCheckpointTest {
  @TempDir
  Path tmp;

  private static CausalLm model() {
    return sparkslim.core.grad.CausalLmBackwardTestAccess.randomModel(sparkslim.core.grad.CausalLmBackwardTestAccess.smallLlama(), new Random(3));
  }

  private static List<int[]> windows() {
    Random rnd = new Random(4);
    List<int[]> ws = new ArrayList<>();
    for (int w = 0; w < 2; w++) {
      int[] t = new int[16];
      for (int p = 0; p < t.length; p++) {
        t[p] = rnd.nextInt(61);
      }
      ws.add(t);
    }
    return ws;
  }

  private static Trainer trainer() {
    return Trainer.lora(model(), Set.of("self_attn.q_proj", "mlp.down_proj"), 4, 8, 0.1, LearningRateSchedule.of(6, 0.2, 1e-2), 1.0, false, 5);
  }

  @Test
  void aRestoredTrainerContinuesBitForBit() {
    Configuration conf = new Configuration();
    org.apache.hadoop.fs.Path file = TrainingCheckpoint.file(new org.apache.hadoop.fs.Path(tmp.toString()), 3);
    assertEquals(3, TrainingCheckpoint.stepsOf(file.getName()));
    List<int[]> ws = windows();
    int[] ids = {0, 1};
    Trainer a = trainer();
    for (int k = 0; k < 3; k++) {
      a.step(k, a.gradientSums(k, ws, ids));
    }
    TrainingCheckpoint.write(file, "run", "fp", 3, a, conf);
    TrainingCheckpoint c = TrainingCheckpoint.read(file, "fp", conf);
    assertEquals(3, c.stepsDone());
    Trainer b = trainer();
    b.restore(c.values(), c.optimizers());
    for (int k = 3; k < 6; k++) {
      assertEquals(a.step(k, a.gradientSums(k, ws, ids)), b.step(k, b.gradientSums(k, ws, ids)), "step " + k);
    }
    for (Map.Entry<String, float[]> e : a.parameters().entrySet()) {
      assertArrayEquals(e.getValue(), b.parameters().get(e.getKey()), e.getKey());
    }
    SparkslimException other = assertThrows(SparkslimException.class, () -> TrainingCheckpoint.read(file, "other", conf));
    assertTrue(other.getMessage().contains("different settings"), other.getMessage());
  }

  @Test
  void metricSegmentsJoinUp() {
    Configuration conf = new Configuration();
    org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(tmp.resolve("metrics").toString());
    TrainingMetrics.write(TrainingMetrics.file(dir, 0), List.of(step(0), step(1)), conf);
    TrainingMetrics.write(TrainingMetrics.file(dir, 2), List.of(step(2), step(3), step(4)), conf);
    List<TrainingMetrics.Step> all = TrainingMetrics.readAll(dir, 4, conf);
    assertEquals(List.of(step(0), step(1), step(2), step(3)), all);
    assertEquals(2048.0, all.get(0).tokensPerSecond(), 1e-9);
  }

  private static TrainingMetrics.Step step(int k) {
    return new TrainingMetrics.Step("run", k, 0, 4.0 - k * 0.1, 0.5, 1e-3, 4096, 2.0);
  }
}
