package sparkslim.core.grad;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.LoraAdapter;
import sparkslim.core.model.ModelSpec;

/**
 * LoRA gradients. The merged weight is W' = W + s·B·A (s = α/r), so by the chain rule dA = s·Bᵀ·dW' and dB = s·dW'·Aᵀ
 * with dW' the exact fp64 gradient of {@link CausalLmBackward} at W'. These fp64 values pass a central finite-difference
 * check in fp64 (A and B perturbed, W' recomputed in fp64), and the fp32 adapter backward of the blocks' one definition
 * agrees with them within 1e-4 relative error per tensor. Dropout: a recomputed forward draws the same masks.
 */
class LoraBackwardTest {
  private static final int RANK = 3;
  private static final double ALPHA = 6;

  private static ModelSpec llama() {
    return CausalLmBackwardTestAccess.smallLlama();
  }

  private static ModelSpec opt() {
    return CausalLmBackwardTestAccess.smallOpt();
  }

  @Test
  void llamaAdaptersAgainstTheFp64ChainRuleAndFiniteDifferences() {
    check(llama(), 31);
  }

  @Test
  void optAdaptersAgainstTheFp64ChainRuleAndFiniteDifferences() {
    check(opt(), 32);
  }

  private static void check(ModelSpec spec, long seed) {
    Random rnd = new Random(seed);
    CausalLm base = CausalLmBackwardTest.randomModel(spec, rnd);
    CausalLm adapted = adapt(base, rnd, 0.0);
    int[] tokens = new int[16];
    for (int p = 0; p < tokens.length; p++) {
      tokens[p] = rnd.nextInt(spec.vocabSize());
    }
    Map<String, float[]> g = loraGradients(adapted);
    adapted.backward(tokens, g, false, null);

    // fp64: W' = W + s·B·A in every adapted linear, then dW' exactly, then the chain rule
    CausalLmBackward exact = new CausalLmBackward(base);
    for (int i = 0; i < adapted.numBlocks(); i++) {
      for (Map.Entry<String, LoraAdapter> e : adapted.blocks().get(i).adapters().entrySet()) {
        setMerged(exact, base, i, e.getKey(), e.getValue(), null, 0, 0);
      }
    }
    CausalLmBackward.Result r = exact.backward(tokens, Set.of());
    for (int i = 0; i < adapted.numBlocks(); i++) {
      for (Map.Entry<String, LoraAdapter> e : adapted.blocks().get(i).adapters().entrySet()) {
        String name = e.getKey();
        LoraAdapter ad = e.getValue();
        double[] dW = r.gradients().get(i).get(name + ".weight"); // (out, in)
        int in = ad.a().length / RANK;
        int out = ad.b().length / RANK;
        double s = ad.scale();
        double[] dA = new double[RANK * in];
        double[] dB = new double[out * RANK];
        for (int o = 0; o < out; o++) {
          for (int k = 0; k < RANK; k++) {
            for (int c = 0; c < in; c++) {
              dA[k * in + c] += s * ad.b()[o * RANK + k] * dW[o * in + c];
              dB[o * RANK + k] += s * dW[o * in + c] * ad.a()[k * in + c];
            }
          }
        }
        String prefix = spec.blockPrefix(i) + name;
        assertClose(prefix + ".lora_A.weight", dA, g.get(prefix + ".lora_A.weight"));
        assertClose(prefix + ".lora_B.weight", dB, g.get(prefix + ".lora_B.weight"));
        if (i == 0) { // central differences in fp64 on a few entries of A and B
          for (int t = 0; t < 4; t++) {
            int ka = rnd.nextInt(dA.length);
            assertFiniteDifference(exact, base, tokens, i, name, ad, 'A', ka, dA[ka]);
            int kb = rnd.nextInt(dB.length);
            assertFiniteDifference(exact, base, tokens, i, name, ad, 'B', kb, dB[kb]);
          }
        }
      }
    }
  }

  @Test
  void dropoutMasksAreRedrawnIdenticallyWhenTheForwardIsRecomputed() {
    ModelSpec spec = llama();
    Random rnd = new Random(33);
    CausalLm adapted = adapt(CausalLmBackwardTest.randomModel(spec, rnd), rnd, 0.3);
    int[] tokens = new int[16];
    for (int p = 0; p < tokens.length; p++) {
      tokens[p] = rnd.nextInt(spec.vocabSize());
    }
    Map<String, float[]> kept = loraGradients(adapted);
    Map<String, float[]> recomputed = loraGradients(adapted);
    Map<String, float[]> noDropout = loraGradients(adapted);
    double l1 = adapted.backward(tokens, kept, false, 7L);
    double l2 = adapted.backward(tokens, recomputed, true, 7L);
    double l0 = adapted.backward(tokens, noDropout, false, null);
    assertEquals(l1, l2, 0.0);
    for (String name : kept.keySet()) {
      assertArrayEquals(kept.get(name), recomputed.get(name), name);
    }
    assertFalse(l0 == l1, "dropout changes the training loss");
    assertEquals(adapted.windowNll(tokens) * (tokens.length - 1), l0, 1e-5 * l0, "inference with adapters has no dropout");
  }

  /** Adapters on every linear of every block: A from the PEFT initialisation, B random (so that dA is not 0). */
  private static CausalLm adapt(CausalLm lm, Random rnd, double dropout) {
    ModelSpec spec = lm.spec();
    List<DecoderBlock> blocks = new ArrayList<>();
    for (int i = 0; i < lm.numBlocks(); i++) {
      DecoderBlock b = lm.blocks().get(i);
      Map<String, LoraAdapter> adapters = new LinkedHashMap<>();
      for (String name : b.linearNames()) {
        long[] shape = spec.blockTensorShapes().get(name + ".weight");
        int out = (int) shape[0];
        int in = (int) shape[1];
        LoraAdapter init = LoraAdapter.initial(RANK, in, out, ALPHA, dropout, rnd.nextLong());
        float[] bRandom = new float[out * RANK];
        for (int k = 0; k < bRandom.length; k++) {
          bRandom[k] = (float) (rnd.nextGaussian() * 0.2);
        }
        adapters.put(name, new LoraAdapter(RANK, in, out, ALPHA, dropout, init.a(), bRandom));
      }
      blocks.add(b.withAdapters(adapters));
    }
    return new CausalLm(spec, lm.globals(), blocks);
  }

  private static Map<String, float[]> loraGradients(CausalLm lm) {
    Map<String, float[]> g = new LinkedHashMap<>();
    for (int i = 0; i < lm.numBlocks(); i++) {
      for (Map.Entry<String, LoraAdapter> e : lm.blocks().get(i).adapters().entrySet()) {
        String prefix = lm.spec().blockPrefix(i) + e.getKey();
        g.put(prefix + ".lora_A.weight", new float[e.getValue().a().length]);
        g.put(prefix + ".lora_B.weight", new float[e.getValue().b().length]);
      }
    }
    return g;
  }

  /** Sets W' = W + s·B·A in fp64 into the exact model, with A[k] (which = 'A') or B[k] shifted by {@code delta}. */
  private static void setMerged(CausalLmBackward exact, CausalLm base, int block, String name, LoraAdapter ad, Character which, int k,
      double delta) {
    float[] w = base.blocks().get(block).tensor(name + ".weight").data();
    double[] target = exact.parameter(block, name + ".weight");
    int in = ad.a().length / RANK;
    int out = ad.b().length / RANK;
    for (int o = 0; o < out; o++) {
      for (int c = 0; c < in; c++) {
        double sum = 0;
        for (int r = 0; r < RANK; r++) {
          double bv = ad.b()[o * RANK + r] + (which != null && which == 'B' && k == o * RANK + r ? delta : 0);
          double av = ad.a()[r * in + c] + (which != null && which == 'A' && k == r * in + c ? delta : 0);
          sum += bv * av;
        }
        target[o * in + c] = w[o * in + c] + ad.scale() * sum;
      }
    }
  }

  private static void assertFiniteDifference(CausalLmBackward exact, CausalLm base, int[] tokens, int block, String name, LoraAdapter ad,
      char which, int k, double analytic) {
    double h = 1e-5;
    setMerged(exact, base, block, name, ad, which, k, h);
    double plus = exact.loss(tokens, Set.of());
    setMerged(exact, base, block, name, ad, which, k, -h);
    double minus = exact.loss(tokens, Set.of());
    setMerged(exact, base, block, name, ad, null, 0, 0);
    double fd = (plus - minus) / (2 * h);
    double err = Math.abs(fd - analytic) / Math.max(Math.max(Math.abs(fd), Math.abs(analytic)), 1e-6);
    assertTrue(err <= 1e-4, name + " lora_" + which + "[" + k + "]: chain rule " + analytic + ", central difference " + fd);
  }

  private static void assertClose(String name, double[] reference, float[] got) {
    double diff = 0;
    double norm = 0;
    for (int i = 0; i < reference.length; i++) {
      diff += (got[i] - reference[i]) * (got[i] - reference[i]);
      norm += reference[i] * reference[i];
    }
    assertTrue(norm > 0, name + ": a zero reference gradient");
    assertTrue(Math.sqrt(diff) <= 1e-4 * Math.sqrt(norm), name + ": relative error " + Math.sqrt(diff / norm));
  }
}
