package sparkslim.core.grad;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import sparkslim.core.Examples;
import sparkslim.core.calib.CalibrationWindows;
import sparkslim.core.model.Architecture;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelSpec;

/**
 * The fp32 training pass ({@link CausalLm#backward}: each block's forward with a tape and its backward) against the
 * exact fp64 {@link CausalLmBackward}, whose gradients the finite-difference test checks: every tensor of the model
 * (blocks, final norm, head, token embeddings, OPT positions and projections) within {@value #MAX_REL_ERROR} relative
 * error, ‖g32 − g64‖ / ‖g64‖ per tensor, on random models of both architectures and on both examples; activation
 * checkpointing gives the same bits as the kept tape.
 */
class TrainingBackwardTest {
  private static final double MAX_REL_ERROR = 1e-4;

  private static ModelSpec llama(boolean biases, boolean tied) {
    return new ModelSpec(Architecture.LLAMA, 61, 24, 2, 4, 2, 12, 40, 64, 1e-5, 500.0, tied, biases, biases, true, true, 24, "float32");
  }

  private static ModelSpec opt(boolean before, int wordEmbedProjDim) {
    return new ModelSpec(Architecture.OPT, 61, 24, 2, 4, 4, 6, 40, 32, 1e-5, 0, true, true, true, before, before, wordEmbedProjDim, "float32");
  }

  @Test
  void randomModelsOfBothArchitectures() {
    Object[][] cases = {{"LLaMA GQA, untied, no biases", llama(false, false)}, {"LLaMA with biases, tied", llama(true, true)},
        {"OPT pre-LN", opt(true, 24)}, {"OPT post-LN, project_in/out", opt(false, 16)}};
    for (Object[] c : cases) {
      ModelSpec spec = (ModelSpec) c[1];
      Random rnd = new Random(21);
      CausalLm lm = CausalLmBackwardTest.randomModel(spec, rnd);
      int[] tokens = new int[20];
      for (int p = 0; p < tokens.length; p++) {
        tokens[p] = rnd.nextInt(spec.vocabSize());
      }
      compare((String) c[0], lm, tokens);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-llama-imdb", "tiny-opt-imdb"})
  void examples(String model) {
    Configuration conf = new Configuration();
    CausalLm lm = ModelDirectory.open(Examples.model(model).toString(), conf).loadModel();
    List<int[]> windows = CalibrationWindows.read(Examples.golden(model + ".calib.safetensors").toString(), lm.spec().vocabSize(), conf);
    compare(model, lm, Arrays.copyOf(windows.get(0), 160));
  }

  private static void compare(String label, CausalLm lm, int[] tokens) {
    Map<String, float[]> kept = zeroGradients(lm);
    double loss = lm.backward(tokens, kept, false);
    Map<String, float[]> recomputed = zeroGradients(lm);
    double loss2 = lm.backward(tokens, recomputed, true);
    assertEquals(loss, loss2, 0.0, label + ": the same loss with activation checkpointing");
    for (String name : kept.keySet()) {
      assertArrayEquals(kept.get(name), recomputed.get(name), label + ": " + name + " with activation checkpointing");
    }
    assertEquals(lm.windowNll(tokens) * (tokens.length - 1), loss, 1e-5 * loss, label + ": loss against the inference forward");

    CausalLmBackward.Result exact = new CausalLmBackward(lm).backward(tokens, Set.of());
    assertEquals(exact.loss(), loss, 1e-5 * loss, label + ": fp32 against fp64 loss");
    Map<String, double[]> reference = new LinkedHashMap<>(exact.globalGradients());
    ModelSpec spec = lm.spec();
    exact.gradients().forEach((block, grads) -> grads.forEach((name, g) -> reference.put(spec.blockPrefix(block) + name, g)));
    assertEquals(reference.keySet(), kept.keySet(), label + ": gradients of every tensor");
    int significant = 0;
    Map<String, Double> worst = new java.util.TreeMap<>();
    for (Map.Entry<String, double[]> e : reference.entrySet()) {
      float[] g = kept.get(e.getKey());
      double[] r = e.getValue();
      double diff = 0;
      double norm = 0;
      for (int i = 0; i < r.length; i++) {
        diff += (g[i] - r[i]) * (g[i] - r[i]);
        norm += r[i] * r[i];
      }
      diff = Math.sqrt(diff);
      norm = Math.sqrt(norm);
      if (norm < 1e-9) { // OPT's k_proj bias: exactly 0 (softmax is shift-invariant); fp32 leaves rounding, small against the weight's
        double weightNorm = Math.sqrt(Arrays.stream(reference.get(e.getKey().replace(".bias", ".weight"))).map(x -> x * x).sum());
        assertTrue(diff <= MAX_REL_ERROR * weightNorm, label + ": " + e.getKey() + " should be 0, differs by " + diff
            + " against the weight gradient's norm " + weightNorm);
        continue;
      }
      significant++;
      assertTrue(diff <= MAX_REL_ERROR * norm, label + ": " + e.getKey() + " relative error " + diff / norm);
      worst.merge(e.getKey().replaceFirst("^.*layers\\.\\d+\\.", ""), diff / norm, Math::max);
    }
    System.out.printf("%s: fp32 against fp64 gradients, largest relative error per parameter kind %s%n", label, worst);
    assertTrue(significant >= reference.size() - spec.numLayers(), label + ": too few non-zero gradients");
  }

  /** A zero gradient array for every tensor of the model (full names; a tied head shares the embedding's). */
  private static Map<String, float[]> zeroGradients(CausalLm lm) {
    ModelSpec spec = lm.spec();
    Map<String, float[]> g = new LinkedHashMap<>();
    lm.globals().forEach((name, t) -> g.put(name, new float[t.data().length]));
    for (int i = 0; i < lm.numBlocks(); i++) {
      for (Map.Entry<String, long[]> e : spec.blockTensorShapes().entrySet()) {
        long n = 1;
        for (long s : e.getValue()) {
          n *= s;
        }
        g.put(spec.blockPrefix(i) + e.getKey(), new float[(int) n]);
      }
    }
    return g;
  }
}
