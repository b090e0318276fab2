package sparkslim.core.grad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
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
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.model.Tensor;

/**
 * Finite-difference check of {@link CausalLmBackward}'s hand-written gradients on small random LLaMA and OPT models, and
 * its fp64 forward against the fp32 {@link CausalLm} on random and on the example models.
 *
 * <p>Per checked entry w of a block tensor (all in fp64, on the live parameter array):
 * <ol>
 *   <li>step h = {@value #STEP}·max(1, |w|); w₊ = w + h, w₋ = w − h (the step actually taken is w₊ − w₋);
 *   <li>L₊ = loss(w₊), L₋ = loss(w₋), then w is restored;
 *   <li>fd = (L₊ − L₋) / (w₊ − w₋) (central difference, truncation error O(h²));
 *   <li>relative error = |g − fd| / max(|g|, |fd|), where g is the backward's gradient; when both |g| and |fd| are below
 *       {@value #ZERO} the entry counts as a match (error 0). The test fails if any error exceeds {@value #MAX_REL_ERROR}.
 * </ol>
 * h = 1e-5 balances the central difference's truncation error (~h²·|L‴|) against rounding (~1e-16·|L|/h ≈ 1e-9 here).
 *
 * <p>ReLU kinks (OPT): L is not differentiable where an fc1 pre-activation is 0, and a step moving one across 0 would
 * spoil the difference quotient. OPT models are therefore drawn (from a seeded stream, so deterministically) until every
 * fc1 pre-activation of the window, computed from the fp32 forward, is at least {@value #KINK_MARGIN} away from 0: a step
 * of h = 1e-5 would then need |dz/dw| ≥ 100 to cross.
 *
 * <p>{@value #ENTRIES} distinct random entries of every tensor of every non-skipped block are checked. To make sure the check
 * can fail, at least {@value #MIN_SIGNIFICANT} of them must have |g| ≥ {@value #SIGNIFICANT} (some exact zeros are genuine:
 * an fc1 unit that ReLU zeroes at every position of the window has a zero fc1 row and fc2 column gradient). The one exception is OPT's self_attn.k_proj.bias, whose gradient is exactly 0
 * (it adds q_i·b to every score of row i, and softmax is shift-invariant; LLaMA's RoPE rotates the bias by position, so
 * there it is not 0): there every checked entry must have |g| ≤ {@value #ZERO} and |fd| ≤ {@value #FD_NOISE} (the rounding
 * noise of the difference quotient).
 */
class CausalLmBackwardTest {
  private static final double STEP = 1e-5;
  private static final double ZERO = 1e-12;
  private static final double MAX_REL_ERROR = 1e-4;
  private static final double KINK_MARGIN = 1e-3;
  private static final double FD_NOISE = 1e-8;
  private static final int ENTRIES = 24;
  private static final int MIN_SIGNIFICANT = 20;
  private static final double SIGNIFICANT = 1e-6;
  private static final int SEQ_LEN = 12;

  private static ModelSpec llama(int layers, boolean biases, boolean tied) {
    // hidden 24, 4 heads with head_dim 12 (q width 48 != hidden), 2 KV heads (k/v width 24), ffn 40, vocab 61, rope theta 500
    return new ModelSpec(Architecture.LLAMA, 61, 24, layers, 4, 2, 12, 40, 64, 1e-5, 500.0, tied, biases, biases, true, true, 24, "float32");
  }

  private static ModelSpec opt(boolean before, int wordEmbedProjDim) {
    // hidden 24, 4 heads (head_dim 6), ffn 40, vocab 61, biases on, tied head; post-LN models have no final layer norm
    return new ModelSpec(Architecture.OPT, 61, 24, 2, 4, 4, 6, 40, 32, 1e-5, 0, true, true, true, before, before, wordEmbedProjDim, "float32");
  }

  @Test
  void llamaGqaUntiedNoBiases() {
    check("LLaMA GQA, untied head, no biases", llama(2, false, false), 11L, Set.of());
  }

  @Test
  void llamaGqaWithAttentionAndMlpBiasesTiedHead() {
    check("LLaMA GQA, attention_bias + mlp_bias, tied head", llama(2, true, true), 12L, Set.of());
  }

  @Test
  void optPreLayerNorm() {
    check("OPT pre-LN, biases, tied head, final layer norm", opt(true, 24), 13L, Set.of());
  }

  @Test
  void optPostLayerNorm() {
    check("OPT post-LN, biases, tied head", opt(false, 24), 14L, Set.of());
  }

  @Test
  void optProjectInOut() {
    check("OPT pre-LN with project_in/out (word_embed_proj_dim 20)", opt(true, 20), 15L, Set.of());
  }

  @Test
  void skippedBlockHasNoGradient() {
    check("LLaMA 3 blocks with biases, skip {1}", llama(3, true, false), 16L, Set.of(1));
  }

  /** Builds a random model, compares its fp64 loss with the fp32 forward, and runs the FD check on every non-skipped block. */
  private static void check(String label, ModelSpec spec, long seed, Set<Integer> skip) {
    Random rnd = new Random(seed);
    CausalLm lm;
    int[] tokens = new int[SEQ_LEN];
    int draws = 0;
    do {
      lm = randomModel(spec, rnd);
      for (int p = 0; p < SEQ_LEN; p++) {
        tokens[p] = rnd.nextInt(spec.vocabSize());
      }
      assertTrue(++draws <= 100, label + ": no random OPT model with fc1 pre-activations away from 0 in 100 draws");
    } while (spec.architecture() == Architecture.OPT && minAbsFc1(lm, tokens, skip) < KINK_MARGIN);
    CausalLmBackward bw = new CausalLmBackward(lm);
    double fp32 = lm.windowNll(tokens, skip) * (SEQ_LEN - 1);
    double l0 = bw.loss(tokens, skip);
    assertEquals(fp32, l0, 1e-5 * Math.abs(fp32), label + ": fp64 loss vs fp32 windowNll·(n−1)");
    CausalLmBackward.Result r = bw.backward(tokens, skip);
    assertEquals(l0, r.loss(), 1e-12 * Math.abs(l0), label + ": backward().loss() vs loss()");

    List<Integer> expectedBlocks = new ArrayList<>();
    for (int i = 0; i < spec.numLayers(); i++) {
      if (!skip.contains(i)) {
        expectedBlocks.add(i);
      }
    }
    assertEquals(expectedBlocks, new ArrayList<>(r.gradients().keySet()), label + ": gradient blocks");
    double maxErr = 0;
    int checked = 0;
    for (int b : expectedBlocks) {
      Map<String, double[]> grads = r.gradients().get(b);
      assertEquals(new ArrayList<>(spec.blockTensorShapes().keySet()), new ArrayList<>(grads.keySet()), label + ": tensor names of block " + b);
      for (String name : spec.blockTensorShapes().keySet()) {
        double[] g = grads.get(name);
        double[] p = bw.parameter(b, name);
        assertEquals(p.length, g.length, label + ": gradient size of " + name);
        assertTrue(p.length >= ENTRIES, label + ": " + name + " has fewer than " + ENTRIES + " entries");
        boolean zeroGradient = spec.architecture() == Architecture.OPT && name.equals("self_attn.k_proj.bias");
        int significant = 0;
        int[] entries = Arrays.copyOf(shuffledIndices(p.length, rnd), ENTRIES);
        for (int idx : entries) {
          double w = p[idx];
          double h = STEP * Math.max(1.0, Math.abs(w));
          double wp = w + h;
          double wm = w - h;
          p[idx] = wp;
          double lossPlus = bw.loss(tokens, skip);
          p[idx] = wm;
          double lossMinus = bw.loss(tokens, skip);
          p[idx] = w;
          double fd = (lossPlus - lossMinus) / (wp - wm);
          checked++;
          if (zeroGradient) {
            assertTrue(Math.abs(g[idx]) <= ZERO && Math.abs(fd) <= FD_NOISE, String.format(
                "%s: block %d %s[%d] must have a zero gradient: gradient %.3g, finite difference %.3g", label, b, name, idx, g[idx], fd));
            continue;
          }
          double scale = Math.max(Math.abs(g[idx]), Math.abs(fd));
          double err = scale < ZERO ? 0.0 : Math.abs(g[idx] - fd) / scale;
          assertTrue(err <= MAX_REL_ERROR, String.format("%s: block %d %s[%d]: gradient %.10g vs finite difference %.10g (relative error %.3g)",
              label, b, name, idx, g[idx], fd, err));
          maxErr = Math.max(maxErr, err);
          significant += Math.abs(g[idx]) >= SIGNIFICANT ? 1 : 0;
        }
        assertTrue(zeroGradient || significant >= MIN_SIGNIFICANT, label + ": block " + b + " " + name + ": only " + significant + " of "
            + ENTRIES + " checked entries have |gradient| >= " + SIGNIFICANT);
      }
    }
    assertEquals(l0, bw.loss(tokens, skip), 0.0, label + ": parameters restored");
    String margin = spec.architecture() == Architecture.OPT ? String.format(", min |fc1 pre-activation| %.3g", minAbsFc1(lm, tokens, skip)) : "";
    System.out.printf("%s: loss %.6f (fp32 %.6f); %d entries over %d block(s) x %d tensors, max relative FD error %.3g%s%n",
        label, l0, fp32, checked, expectedBlocks.size(), spec.blockTensorShapes().size(), maxErr, margin);
  }

  /** min |fc1 pre-activation| over the window and the non-skipped blocks of an OPT model, from the fp32 forward. */
  private static double minAbsFc1(CausalLm lm, int[] tokens, Set<Integer> skip) {
    int n = tokens.length;
    double[] min = {Double.POSITIVE_INFINITY};
    float[] h = lm.embed(tokens);
    for (int i = 0; i < lm.numBlocks(); i++) {
      if (skip.contains(i)) {
        continue;
      }
      DecoderBlock block = lm.blocks().get(i);
      Tensor w = block.tensors().get("fc1.weight"); // (ffn, hidden)
      Tensor bias = block.tensors().get("fc1.bias");
      h = block.forward(h, n, (group, x, rows) -> {
        if (group.equals("mlp_in")) {
          int in = w.cols();
          for (int r = 0; r < rows; r++) {
            for (int o = 0; o < w.rows(); o++) {
              double z = bias == null ? 0 : bias.data()[o];
              for (int c = 0; c < in; c++) {
                z += (double) x[r * in + c] * w.data()[o * in + c];
              }
              min[0] = Math.min(min[0], Math.abs(z));
            }
          }
        }
      });
    }
    return min[0];
  }

  private static int[] shuffledIndices(int n, Random rnd) {
    int[] idx = new int[n];
    for (int i = 0; i < n; i++) {
      idx[i] = i;
    }
    for (int i = n - 1; i > 0; i--) {
      int j = rnd.nextInt(i + 1);
      int t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
    }
    return idx;
  }

  /**
   * Random fp32 model: linear weights N(0, 1/in), biases N(0, 0.1²), norm weights 1 + N(0, 0.2²), norm biases N(0, 0.1²),
   * token embeddings N(0, 1), OPT positions N(0, 0.5²).
   */
  static CausalLm randomModel(ModelSpec spec, Random rnd) {
    List<DecoderBlock> blocks = new ArrayList<>();
    for (int i = 0; i < spec.numLayers(); i++) {
      Map<String, Tensor> tensors = new LinkedHashMap<>();
      for (Map.Entry<String, long[]> e : spec.blockTensorShapes().entrySet()) {
        tensors.put(e.getKey(), randomTensor(e.getKey(), e.getValue(), rnd));
      }
      blocks.add(DecoderBlock.of(spec, tensors));
    }
    Map<String, Tensor> globals = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> e : spec.globalTensorShapes().entrySet()) {
      globals.put(e.getKey(), randomTensor(e.getKey(), e.getValue(), rnd));
    }
    return new CausalLm(spec, globals, blocks);
  }

  private static Tensor randomTensor(String name, long[] shape, Random rnd) {
    int n = 1;
    for (long s : shape) {
      n *= (int) s;
    }
    boolean norm = name.contains("norm");
    double std;
    double mean = 0;
    if (name.endsWith(".bias")) {
      std = 0.1;
    } else if (norm) {
      mean = 1;
      std = 0.2;
    } else if (name.contains("embed_tokens")) {
      std = 1;
    } else if (name.contains("embed_positions")) {
      std = 0.5;
    } else {
      std = 1 / Math.sqrt(shape[1]);
    }
    float[] data = new float[n];
    for (int i = 0; i < n; i++) {
      data[i] = (float) (mean + std * rnd.nextGaussian());
    }
    return new Tensor(shape, data);
  }

  /** fp64 loss vs the fp32 forward on the example models, for the full model and with one block skipped. */
  @ParameterizedTest
  @ValueSource(strings = {"tiny-llama-imdb", "tiny-opt-imdb"})
  void lossMatchesFp32ForwardOnExampleModels(String model) {
    Configuration conf = new Configuration();
    CausalLm lm = ModelDirectory.open(Examples.model(model).toString(), conf).loadModel();
    List<int[]> windows = CalibrationWindows.read(Examples.golden(model + ".calib.safetensors").toString(), lm.spec().vocabSize(), conf);
    CausalLmBackward bw = new CausalLmBackward(lm);
    for (Set<Integer> skip : List.of(Set.<Integer>of(), Set.of(3))) {
      for (int w = 0; w < 2; w++) {
        int[] tokens = Arrays.copyOf(windows.get(w), 128);
        double fp32 = lm.windowNll(tokens, skip) * (tokens.length - 1);
        double fp64 = bw.loss(tokens, skip);
        double rel = Math.abs(fp64 - fp32) / Math.abs(fp32);
        System.out.printf("%s window %d skip %s: fp64 loss %.8f, fp32 windowNll*(n-1) %.8f, relative difference %.3g%n",
            model, w, skip, fp64, fp32, rel);
        assertTrue(rel <= 1e-4, model + ": fp64 loss " + fp64 + " vs fp32 " + fp32);
      }
    }
    assertEquals(lm.spec(), bw.spec());
  }
}
