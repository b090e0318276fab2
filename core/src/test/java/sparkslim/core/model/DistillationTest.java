package sparkslim.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import sparkslim.core.grad.CausalLmBackwardTestAccess;

/**
 * The distillation loss of {@link CausalLm#backward}: per position τ²·KL(p_t^τ ‖ p_s^τ) + w·NLL. Its gradient with
 * respect to the student's logits passes central differences in fp64 of the formula; a student distilled from itself
 * has zero KL (and, with w = 1, exactly the plain NLL and its gradients).
 */
class DistillationTest {
  private static final ModelSpec SPEC =
      new ModelSpec(Architecture.LLAMA, 61, 24, 2, 4, 2, 12, 40, 200, 1e-5, 500.0, false, false, false, true, true, 24, "float32");

  @Test
  void logitGradientPassesCentralDifferences() {
    Random rnd = new Random(51);
    int vocab = 37;
    for (double temperature : new double[] {1, 2.5}) {
      for (double ce : new double[] {0, 0.7}) {
        double[] zs = new double[vocab];
        double[] zt = new double[vocab];
        for (int j = 0; j < vocab; j++) {
          zs[j] = rnd.nextGaussian() * 2;
          zt[j] = rnd.nextGaussian() * 2;
        }
        int target = rnd.nextInt(vocab);
        CausalLm.Distillation kd = new CausalLm.Distillation(null, temperature, ce);
        float[] s = new float[vocab];
        float[] t = new float[vocab];
        for (int j = 0; j < vocab; j++) {
          s[j] = (float) zs[j];
          t[j] = (float) zt[j];
          zs[j] = s[j];
          zt[j] = t[j];
        }
        double loss = kd.lossRow(s, t, 0, vocab, target);
        assertEquals(reference(zs, zt, target, temperature, ce), loss, 1e-7 * Math.abs(loss) + 1e-12); // the CE term shifts by a float maximum
        for (int j = 0; j < vocab; j++) {
          double h = 1e-5;
          double[] plus = zs.clone();
          double[] minus = zs.clone();
          plus[j] += h;
          minus[j] -= h;
          double fd = (reference(plus, zt, target, temperature, ce) - reference(minus, zt, target, temperature, ce)) / (2 * h);
          assertEquals(fd, s[j], 1e-6 + 1e-4 * Math.abs(fd), "τ " + temperature + ", w " + ce + ", logit " + j);
        }
      }
    }
  }

  /** τ²·Σ p_t (log p_t − log p_s) + w·(log Z_s − z_s[target]), in fp64. */
  private static double reference(double[] zs, double[] zt, int target, double t, double w) {
    double[] ls = logSoftmax(zs, t);
    double[] lt = logSoftmax(zt, t);
    double kl = 0;
    for (int j = 0; j < zs.length; j++) {
      kl += Math.exp(lt[j]) * (lt[j] - ls[j]);
    }
    return t * t * kl - w * logSoftmax(zs, 1)[target];
  }

  private static double[] logSoftmax(double[] z, double t) {
    double max = Double.NEGATIVE_INFINITY;
    for (double v : z) {
      max = Math.max(max, v / t);
    }
    double sum = 0;
    for (double v : z) {
      sum += Math.exp(v / t - max);
    }
    double[] out = new double[z.length];
    for (int j = 0; j < z.length; j++) {
      out[j] = z[j] / t - max - Math.log(sum);
    }
    return out;
  }

  @Test
  void aStudentDistilledFromItselfHasNoKl() {
    CausalLm lm = CausalLmBackwardTestAccess.randomModel(SPEC, new Random(52));
    int[] tokens = new int[150]; // more than one chunk of positions
    Random rnd = new Random(53);
    for (int p = 0; p < tokens.length; p++) {
      tokens[p] = rnd.nextInt(SPEC.vocabSize());
    }
    Map<String, float[]> kdOnly = gradients(lm);
    double klLoss = lm.backward(tokens, kdOnly, false, null, new CausalLm.Distillation(lm, 1.0, 0));
    assertEquals(0.0, klLoss, 1e-6);
    Map<String, float[]> plain = gradients(lm);
    double nll = lm.backward(tokens, plain, false, null);
    Map<String, float[]> withCe = gradients(lm);
    double both = lm.backward(tokens, withCe, false, null, new CausalLm.Distillation(lm, 2.0, 1.0));
    assertEquals(nll, both, 1e-6 * nll);
    for (String name : plain.keySet()) {
      double diff = 0;
      double norm = 0;
      double kd = 0;
      for (int i = 0; i < plain.get(name).length; i++) {
        diff += Math.pow(plain.get(name)[i] - withCe.get(name)[i], 2);
        norm += Math.pow(plain.get(name)[i], 2);
        kd += Math.pow(kdOnly.get(name)[i], 2);
      }
      assertTrue(Math.sqrt(diff) <= 1e-5 * Math.sqrt(norm), name + ": KL of a model against itself adds no gradient");
      assertTrue(Math.sqrt(kd) <= 1e-5 * Math.sqrt(norm), name + ": its KL gradient is 0");
    }
  }

  private static Map<String, float[]> gradients(CausalLm lm) {
    Map<String, float[]> g = new LinkedHashMap<>();
    lm.globals().forEach((name, t) -> g.put(name, new float[t.data().length]));
    for (int i = 0; i < lm.numBlocks(); i++) {
      for (Map.Entry<String, Tensor> e : lm.blocks().get(i).tensors().entrySet()) {
        g.put(lm.spec().blockPrefix(i) + e.getKey(), new float[e.getValue().data().length]);
      }
    }
    return g;
  }
}
