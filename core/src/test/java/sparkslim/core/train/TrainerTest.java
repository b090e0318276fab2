package sparkslim.core.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import sparkslim.core.io.DType;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.quant.FakeQuant;
import sparkslim.core.quant.QuantScheme;

/**
 * {@link Trainer}: the same parameters bit for bit however a step's windows are split into tasks, a falling loss for
 * LoRA, full and QAT training, a frozen base under LoRA and kept zeros under masked full fine-tuning.
 */
class TrainerTest {
  private static final ModelSpec SPEC =
      sparkslim.core.grad.CausalLmBackwardTestAccess.smallLlama();

  private static CausalLm model(long seed) {
    return sparkslim.core.grad.CausalLmBackwardTestAccess.randomModel(SPEC, new Random(seed));
  }

  private static List<int[]> windows(int count, long seed) {
    Random rnd = new Random(seed);
    List<int[]> ws = new ArrayList<>();
    for (int w = 0; w < count; w++) {
      int[] t = new int[24];
      for (int p = 0; p < t.length; p++) {
        t[p] = rnd.nextInt(12) * 5 % 61; // a small repetitive vocabulary: learnable
      }
      ws.add(t);
    }
    return ws;
  }

  @Test
  void aStepDoesNotDependOnHowWholeMicroBatchesAreSplit() {
    List<int[]> ws = windows(4, 2);
    int[] ids = {0, 1, 2, 3};
    LearningRateSchedule s = LearningRateSchedule.of(10, 0.1, 1e-2);
    Trainer one = Trainer.full(model(2), null, false, s, 1.0, false, 3);
    Trainer two = Trainer.full(model(2), null, false, s, 1.0, false, 3);
    for (int k = 0; k < 3; k++) {
      Trainer.StepResult a = one.step(k, one.gradientSums(k, ws, ids, 2));
      Trainer.GradientSums left = two.gradientSums(k, ws.subList(2, 4), new int[] {2, 3}, 2);
      Trainer.GradientSums right = two.gradientSums(k, ws.subList(0, 2), new int[] {0, 1}, 2);
      Trainer.StepResult b = two.step(k, right.merge(left));
      assertEquals(a, b, "step " + k);
    }
    for (Map.Entry<String, float[]> e : one.parameters().entrySet()) {
      assertArrayEquals(e.getValue(), two.parameters().get(e.getKey()), e.getKey());
    }
    assertThrows(IllegalArgumentException.class, () -> one.gradientSums(0, ws.subList(0, 3), new int[] {0, 1, 2}, 2));
  }

  @Test
  void aStepDoesNotDependOnHowItsWindowsAreSplit() {
    List<int[]> ws = windows(4, 1);
    int[] ids = {0, 1, 2, 3};
    LearningRateSchedule s = LearningRateSchedule.of(10, 0.1, 1e-2);
    Trainer one = Trainer.lora(model(2), Set.of("self_attn.q_proj", "mlp.down_proj"), 4, 8, 0.1, s, 1.0, false, 3);
    Trainer two = Trainer.lora(model(2), Set.of("self_attn.q_proj", "mlp.down_proj"), 4, 8, 0.1, s, 1.0, true, 3);
    for (int k = 0; k < 3; k++) {
      Trainer.StepResult a = one.step(k, one.gradientSums(k, ws, ids));
      Trainer.GradientSums left = two.gradientSums(k, ws.subList(2, 4), new int[] {2, 3});
      Trainer.GradientSums right = two.gradientSums(k, ws.subList(0, 2), new int[] {0, 1});
      Trainer.StepResult b = two.step(k, left.merge(right));
      assertEquals(a, b, "step " + k);
    }
    for (Map.Entry<String, float[]> e : one.parameters().entrySet()) {
      assertArrayEquals(e.getValue(), two.parameters().get(e.getKey()), e.getKey());
    }
  }

  @Test
  void loraFullAndQatLowerTheLoss() {
    List<int[]> ws = windows(4, 4);
    int[] ids = {0, 1, 2, 3};
    LearningRateSchedule s = new LearningRateSchedule(30, 0, 1e-2);
    CausalLm loraBase = model(5);
    float[] baseWeight = loraBase.blocks().get(0).tensor("mlp.down_proj.weight").data().clone();
    Trainer[] trainers = {Trainer.lora(loraBase, Set.copyOf(loraBase.blocks().get(0).linearNames()), 4, 8, 0, s, 1.0, false, 6),
        Trainer.full(model(5), null, false, s, 1.0, false, 6),
        Trainer.full(model(5), new FakeQuant(QuantScheme.group(4, 8, false, DType.F32), DType.F32, 1.0, 8), false, s, 1.0, false, 6)};
    for (Trainer t : trainers) {
      double first = t.step(0, t.gradientSums(0, ws, ids)).loss();
      double last = first;
      for (int k = 1; k < 30; k++) {
        last = t.step(k, t.gradientSums(k, ws, ids)).loss();
      }
      assertTrue(last < 0.8 * first, "loss " + first + " -> " + last);
    }
    assertArrayEquals(baseWeight, loraBase.blocks().get(0).tensor("mlp.down_proj.weight").data(), "LoRA leaves the base frozen");
  }

  @Test
  void distillationTowardsAnotherModelLowersTheKl() {
    List<int[]> ws = windows(4, 10);
    int[] ids = {0, 1, 2, 3};
    CausalLm teacher = model(11);
    Trainer t = Trainer.lora(model(12), Set.copyOf(teacher.blocks().get(0).linearNames()), 4, 8, 0, new LearningRateSchedule(30, 0, 1e-2),
        1.0, false, 13).distilledFrom(teacher, 2.0, 0);
    double first = t.step(0, t.gradientSums(0, ws, ids)).loss();
    double last = first;
    for (int k = 1; k < 30; k++) {
      last = t.step(k, t.gradientSums(k, ws, ids)).loss();
    }
    assertTrue(last < 0.8 * first, "KL " + first + " -> " + last);
  }

  @Test
  void maskedFullFineTuningKeepsThePrunedZeros() {
    CausalLm m = model(7);
    float[] w = m.blocks().get(1).tensor("mlp.up_proj.weight").data();
    for (int i = 0; i < w.length; i += 2) {
      w[i] = 0f;
    }
    Trainer t = Trainer.full(m, null, true, new LearningRateSchedule(5, 0, 1e-2), 1.0, false, 8);
    List<int[]> ws = windows(2, 9);
    for (int k = 0; k < 5; k++) {
      t.step(k, t.gradientSums(k, ws, new int[] {0, 1}));
    }
    for (int i = 0; i < w.length; i++) {
      assertEquals(i % 2 == 0, w[i] == 0f, "entry " + i);
    }
  }
}
