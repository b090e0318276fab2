package sparkslim.core.grad;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import sparkslim.core.io.DType;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.quant.FakeQuant;
import sparkslim.core.quant.QuantScheme;
import sparkslim.core.quant.RtnSolver;

/**
 * QAT gradients. With the straight-through estimator the gradient of W is that of the fake-quantized W̃ at W̃: the
 * fp32 QAT backward agrees with the exact fp64 gradient of the model whose linears hold W̃ (1e-4 relative per tensor),
 * and that fp64 gradient passes a central finite-difference check in fp64 at W̃. Quant-Noise: a training forward
 * quantizes a random subset of weight blocks (the others exactly W), the same subset when recomputed; inference
 * quantizes every weight.
 */
class QatBackwardTest {
  private static final QuantScheme SCHEME = QuantScheme.group(3, 8, false, DType.F32);

  private static ModelSpec llama() {
    return CausalLmBackwardTestAccess.smallLlama();
  }

  private static ModelSpec opt() {
    return CausalLmBackwardTestAccess.smallOpt();
  }

  @Test
  void llamaStraightThroughGradients() {
    check(llama(), 41);
  }

  @Test
  void optStraightThroughGradients() {
    check(opt(), 42);
  }

  private static void check(ModelSpec spec, long seed) {
    Random rnd = new Random(seed);
    CausalLm base = CausalLmBackwardTest.randomModel(spec, rnd);
    CausalLm qat = fakeQuantized(base, new FakeQuant(SCHEME, DType.F32, 1.0, 8));
    int[] tokens = new int[16];
    for (int p = 0; p < tokens.length; p++) {
      tokens[p] = rnd.nextInt(spec.vocabSize());
    }
    Map<String, float[]> g = new LinkedHashMap<>();
    for (int i = 0; i < base.numBlocks(); i++) {
      for (String name : base.blocks().get(i).linearNames()) {
        g.put(spec.blockPrefix(i) + name + ".weight", new float[base.blocks().get(i).tensor(name + ".weight").data().length]);
      }
    }
    double loss = qat.backward(tokens, g, false, 5L);
    assertEquals(qat.windowNll(tokens) * (tokens.length - 1), loss, 1e-5 * loss, "p = 1: training and inference see the same W̃");

    CausalLmBackward exact = new CausalLmBackward(base);
    for (int i = 0; i < base.numBlocks(); i++) {
      for (String name : base.blocks().get(i).linearNames()) {
        float[] w = base.blocks().get(i).tensor(name + ".weight").data();
        long[] shape = spec.blockTensorShapes().get(name + ".weight");
        float[] wq = RtnSolver.quantize(w, (int) shape[0], (int) shape[1], SCHEME, DType.F32).weights();
        double[] target = exact.parameter(i, name + ".weight");
        for (int k = 0; k < wq.length; k++) {
          target[k] = wq[k];
        }
      }
    }
    CausalLmBackward.Result r = exact.backward(tokens, Set.of());
    for (int i = 0; i < base.numBlocks(); i++) {
      for (String name : base.blocks().get(i).linearNames()) {
        double[] ref = r.gradients().get(i).get(name + ".weight");
        float[] got = g.get(spec.blockPrefix(i) + name + ".weight");
        double diff = 0;
        double norm = 0;
        for (int k = 0; k < ref.length; k++) {
          diff += (got[k] - ref[k]) * (got[k] - ref[k]);
          norm += ref[k] * ref[k];
        }
        assertTrue(norm > 0 && Math.sqrt(diff) <= 1e-4 * Math.sqrt(norm), name + " block " + i + ": relative error " + Math.sqrt(diff / norm));
        if (i == 0) {
          double[] p = exact.parameter(i, name + ".weight");
          for (int t = 0; t < 4; t++) {
            int k = rnd.nextInt(p.length);
            double w0 = p[k];
            double h = 1e-5 * Math.max(1, Math.abs(w0));
            p[k] = w0 + h;
            double plus = exact.loss(tokens, Set.of());
            p[k] = w0 - h;
            double minus = exact.loss(tokens, Set.of());
            p[k] = w0;
            double fd = (plus - minus) / (2 * h);
            double err = Math.abs(fd - ref[k]) / Math.max(Math.max(Math.abs(fd), Math.abs(ref[k])), 1e-6);
            assertTrue(err <= 1e-4, name + "[" + k + "]: gradient at W̃ " + ref[k] + ", central difference " + fd);
          }
        }
      }
    }
  }

  @Test
  void quantNoiseQuantizesARandomSubsetOfBlocks() {
    float[] w = new float[4 * 32]; // (4, 32)
    Random rnd = new Random(43);
    for (int k = 0; k < w.length; k++) {
      w[k] = (float) rnd.nextGaussian();
    }
    FakeQuant noise = new FakeQuant(SCHEME, DType.F32, 0.5, 8);
    float[] full = RtnSolver.quantize(w, 4, 32, SCHEME, DType.F32).weights();
    assertArrayEquals(full, noise.apply(w, 4, 32, null, "fc1"), "inference quantizes every weight");
    float[] train = noise.apply(w, 4, 32, 9L, "fc1");
    assertArrayEquals(train, noise.apply(w, 4, 32, 9L, "fc1"), "the same seed draws the same blocks");
    int quantized = 0;
    for (int b = 0; b < 16; b++) {
      boolean isQuantized = true;
      boolean isFull = true;
      for (int c = 0; c < 8; c++) {
        int k = b / 4 * 32 + b % 4 * 8 + c;
        isQuantized &= train[k] == full[k];
        isFull &= train[k] == w[k];
      }
      assertTrue(isQuantized || isFull, "block " + b + " is either quantized or untouched");
      quantized += isQuantized && !isFull ? 1 : 0;
    }
    assertTrue(quantized > 0 && quantized < 16, quantized + " of 16 blocks quantized at p = 0.5");
  }

  private static CausalLm fakeQuantized(CausalLm lm, FakeQuant fq) {
    List<DecoderBlock> blocks = new ArrayList<>();
    for (DecoderBlock b : lm.blocks()) {
      blocks.add(b.withFakeQuant(fq));
    }
    return new CausalLm(lm.spec(), lm.globals(), blocks);
  }
}
