package sparkslim.core.grad;

import java.util.Map;
import sparkslim.core.model.ModelSpec;

/**
 * fp64 forward and backward passes of one decoder block, for {@link CausalLmBackward}. The forward passes are the math of
 * {@link sparkslim.core.model.LlamaBlock} and {@link sparkslim.core.model.OptBlock}; t maps tensor names (relative to the
 * block prefix) to values, gr the same names to gradient accumulators; absent biases are null in both.
 */
final class BlockPasses {
  private BlockPasses() {}

  /** RMSNorm → attention (RoPE, GQA) → residual; RMSNorm → SwiGLU MLP → residual. hin: (n, hiddenSize); acts may be null. */
  static double[] llamaForward(CausalLmBackward lm, Map<String, double[]> t, double[] hin, int n, CausalLmBackward.Acts acts) {
    ModelSpec s = lm.spec();
    int d = s.hiddenSize();
    int qd = s.numHeads() * s.headDim();
    int kvd = s.numKvHeads() * s.headDim();
    int f = s.intermediateSize();
    Fp64Ops.NormCache[] c1 = new Fp64Ops.NormCache[1];
    Fp64Ops.NormCache[] c2 = new Fp64Ops.NormCache[1];
    double[] x = Fp64Ops.norm(hin, n, d, t.get("input_layernorm.weight"), null, s.normEps(), false, c1); // (n, d)
    double[] q = Fp64Ops.linear(x, n, t.get("self_attn.q_proj.weight"), qd, d, t.get("self_attn.q_proj.bias")); // (n, qd)
    double[] k = Fp64Ops.linear(x, n, t.get("self_attn.k_proj.weight"), kvd, d, t.get("self_attn.k_proj.bias")); // (n, kvd)
    double[] v = Fp64Ops.linear(x, n, t.get("self_attn.v_proj.weight"), kvd, d, t.get("self_attn.v_proj.bias")); // (n, kvd)
    double[][] tables = lm.rope(n);
    Fp64Ops.rope(q, n, s.numHeads(), s.headDim(), tables, false);
    Fp64Ops.rope(k, n, s.numKvHeads(), s.headDim(), tables, false);
    double[] attn = Fp64Ops.attention(q, k, v, n, s.numHeads(), s.numKvHeads(), s.headDim(), scale(s)); // (n, qd)
    double[] h = Fp64Ops.linear(attn, n, t.get("self_attn.o_proj.weight"), d, qd, t.get("self_attn.o_proj.bias")); // (n, d)
    Fp64Ops.addInPlace(h, hin);
    double[] y = Fp64Ops.norm(h, n, d, t.get("post_attention_layernorm.weight"), null, s.normEps(), false, c2); // (n, d)
    double[] gate = Fp64Ops.linear(y, n, t.get("mlp.gate_proj.weight"), f, d, t.get("mlp.gate_proj.bias")); // (n, f)
    double[] up = Fp64Ops.linear(y, n, t.get("mlp.up_proj.weight"), f, d, t.get("mlp.up_proj.bias")); // (n, f)
    double[] act = Fp64Ops.siluMul(gate, up); // (n, f)
    double[] out = Fp64Ops.linear(act, n, t.get("mlp.down_proj.weight"), d, f, t.get("mlp.down_proj.bias")); // (n, d)
    Fp64Ops.addInPlace(out, h);
    if (acts != null) {
      acts.keep(c1[0], c2[0], x, q, k, v, attn, y, act);
      acts.gate = gate;
      acts.up = up;
    }
    return out;
  }

  /** Backward of {@link #llamaForward}: accumulates the block's parameter gradients into gr; dOut: (n, hiddenSize); returns d(block input). */
  static double[] llamaBackward(CausalLmBackward lm, Map<String, double[]> t, CausalLmBackward.Acts a, double[] dOut, int n,
                                Map<String, double[]> gr) {
    ModelSpec s = lm.spec();
    int d = s.hiddenSize();
    int qd = s.numHeads() * s.headDim();
    int kvd = s.numKvHeads() * s.headDim();
    int f = s.intermediateSize();
    // out = down(act) + h
    double[] dAct = new double[n * f];
    Fp64Ops.linearBackward(dOut, a.act, n, t.get("mlp.down_proj.weight"), d, f, gr.get("mlp.down_proj.weight"), gr.get("mlp.down_proj.bias"), dAct);
    double[][] dGateUp = Fp64Ops.siluMulBackward(dAct, a.gate, a.up); // {dGate, dUp}, each (n, f)
    double[] dy = new double[n * d];
    Fp64Ops.linearBackward(dGateUp[0], a.y, n, t.get("mlp.gate_proj.weight"), f, d, gr.get("mlp.gate_proj.weight"), gr.get("mlp.gate_proj.bias"), dy);
    Fp64Ops.linearBackward(dGateUp[1], a.y, n, t.get("mlp.up_proj.weight"), f, d, gr.get("mlp.up_proj.weight"), gr.get("mlp.up_proj.bias"), dy);
    double[] dh = Fp64Ops.normBackward(dy, a.norm2, t.get("post_attention_layernorm.weight"), gr.get("post_attention_layernorm.weight"), null, false);
    Fp64Ops.addInPlace(dh, dOut); // residual
    // h = o(attn) + hin
    double[] dAttn = new double[n * qd];
    Fp64Ops.linearBackward(dh, a.attn, n, t.get("self_attn.o_proj.weight"), d, qd, gr.get("self_attn.o_proj.weight"), gr.get("self_attn.o_proj.bias"), dAttn);
    double[][] dqkv = Fp64Ops.attentionBackward(dAttn, a.q, a.k, a.v, n, s.numHeads(), s.numKvHeads(), s.headDim(), scale(s));
    double[][] tables = lm.rope(n);
    Fp64Ops.rope(dqkv[0], n, s.numHeads(), s.headDim(), tables, true);
    Fp64Ops.rope(dqkv[1], n, s.numKvHeads(), s.headDim(), tables, true);
    double[] dx = new double[n * d];
    Fp64Ops.linearBackward(dqkv[0], a.x, n, t.get("self_attn.q_proj.weight"), qd, d, gr.get("self_attn.q_proj.weight"), gr.get("self_attn.q_proj.bias"), dx);
    Fp64Ops.linearBackward(dqkv[1], a.x, n, t.get("self_attn.k_proj.weight"), kvd, d, gr.get("self_attn.k_proj.weight"), gr.get("self_attn.k_proj.bias"), dx);
    Fp64Ops.linearBackward(dqkv[2], a.x, n, t.get("self_attn.v_proj.weight"), kvd, d, gr.get("self_attn.v_proj.weight"), gr.get("self_attn.v_proj.bias"), dx);
    double[] dIn = Fp64Ops.normBackward(dx, a.norm1, t.get("input_layernorm.weight"), gr.get("input_layernorm.weight"), null, false);
    Fp64Ops.addInPlace(dIn, dh); // residual
    return dIn;
  }

  /**
   * OPT block, pre-LN (layerNormBefore) or post-LN: LayerNorm → attention with biases → residual (→ LayerNorm when post);
   * LayerNorm (pre) → fc1 → ReLU → fc2 → residual (→ LayerNorm when post). hin: (n, hiddenSize); acts may be null.
   */
  static double[] optForward(CausalLmBackward lm, Map<String, double[]> t, double[] hin, int n, CausalLmBackward.Acts acts) {
    ModelSpec s = lm.spec();
    boolean before = s.layerNormBefore();
    int d = s.hiddenSize();
    int f = s.intermediateSize();
    Fp64Ops.NormCache[] c1 = new Fp64Ops.NormCache[1];
    Fp64Ops.NormCache[] c2 = new Fp64Ops.NormCache[1];
    double[] x = before ? layerNorm(s, t, "self_attn_layer_norm", hin, n, c1) : hin; // (n, d)
    double[] q = Fp64Ops.linear(x, n, t.get("self_attn.q_proj.weight"), d, d, t.get("self_attn.q_proj.bias"));
    double[] k = Fp64Ops.linear(x, n, t.get("self_attn.k_proj.weight"), d, d, t.get("self_attn.k_proj.bias"));
    double[] v = Fp64Ops.linear(x, n, t.get("self_attn.v_proj.weight"), d, d, t.get("self_attn.v_proj.bias"));
    double[] attn = Fp64Ops.attention(q, k, v, n, s.numHeads(), s.numKvHeads(), s.headDim(), scale(s)); // (n, d)
    double[] h = Fp64Ops.linear(attn, n, t.get("self_attn.out_proj.weight"), d, d, t.get("self_attn.out_proj.bias"));
    Fp64Ops.addInPlace(h, hin);
    if (!before) {
      h = layerNorm(s, t, "self_attn_layer_norm", h, n, c1);
    }
    double[] y = before ? layerNorm(s, t, "final_layer_norm", h, n, c2) : h; // (n, d)
    double[] act = Fp64Ops.relu(Fp64Ops.linear(y, n, t.get("fc1.weight"), f, d, t.get("fc1.bias"))); // (n, f)
    double[] out = Fp64Ops.linear(act, n, t.get("fc2.weight"), d, f, t.get("fc2.bias")); // (n, d)
    Fp64Ops.addInPlace(out, h);
    if (!before) {
      out = layerNorm(s, t, "final_layer_norm", out, n, c2);
    }
    if (acts != null) {
      acts.keep(c1[0], c2[0], x, q, k, v, attn, y, act);
    }
    return out;
  }

  /** Backward of {@link #optForward}: accumulates the block's parameter gradients into gr; dOut: (n, hiddenSize); returns d(block input). */
  static double[] optBackward(CausalLmBackward lm, Map<String, double[]> t, CausalLmBackward.Acts a, double[] dOut, int n,
                              Map<String, double[]> gr) {
    ModelSpec s = lm.spec();
    boolean before = s.layerNormBefore();
    int d = s.hiddenSize();
    int f = s.intermediateSize();
    // d(fc2(act) + h), before the post-LN final_layer_norm if any
    double[] dr = before ? dOut : layerNormBackward(t, gr, "final_layer_norm", dOut, a.norm2);
    double[] dAct = new double[n * f];
    Fp64Ops.linearBackward(dr, a.act, n, t.get("fc2.weight"), d, f, gr.get("fc2.weight"), gr.get("fc2.bias"), dAct);
    double[] dFc1 = Fp64Ops.reluBackward(dAct, a.act); // (n, f)
    double[] dy = new double[n * d];
    Fp64Ops.linearBackward(dFc1, a.y, n, t.get("fc1.weight"), f, d, gr.get("fc1.weight"), gr.get("fc1.bias"), dy);
    double[] dh = before ? layerNormBackward(t, gr, "final_layer_norm", dy, a.norm2) : dy; // d(h) through the MLP input
    Fp64Ops.addInPlace(dh, dr); // residual
    // d(out_proj(attn) + hin), before the post-LN self_attn_layer_norm if any
    double[] dSum = before ? dh : layerNormBackward(t, gr, "self_attn_layer_norm", dh, a.norm1);
    double[] dAttn = new double[n * d];
    Fp64Ops.linearBackward(dSum, a.attn, n, t.get("self_attn.out_proj.weight"), d, d, gr.get("self_attn.out_proj.weight"),
        gr.get("self_attn.out_proj.bias"), dAttn);
    double[][] dqkv = Fp64Ops.attentionBackward(dAttn, a.q, a.k, a.v, n, s.numHeads(), s.numKvHeads(), s.headDim(), scale(s));
    double[] dx = new double[n * d];
    String[] names = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"};
    for (int j = 0; j < 3; j++) {
      Fp64Ops.linearBackward(dqkv[j], a.x, n, t.get(names[j] + ".weight"), d, d, gr.get(names[j] + ".weight"), gr.get(names[j] + ".bias"), dx);
    }
    double[] dIn = before ? layerNormBackward(t, gr, "self_attn_layer_norm", dx, a.norm1) : dx;
    Fp64Ops.addInPlace(dIn, dSum); // residual
    return dIn;
  }

  private static double[] layerNorm(ModelSpec s, Map<String, double[]> t, String name, double[] x, int n, Fp64Ops.NormCache[] cache) {
    return Fp64Ops.norm(x, n, s.hiddenSize(), t.get(name + ".weight"), t.get(name + ".bias"), s.normEps(), true, cache);
  }

  private static double[] layerNormBackward(Map<String, double[]> t, Map<String, double[]> gr, String name, double[] dy, Fp64Ops.NormCache c) {
    return Fp64Ops.normBackward(dy, c, t.get(name + ".weight"), gr.get(name + ".weight"), gr.get(name + ".bias"), true);
  }

  /** Attention score scale headDim^-1/2, in fp64. */
  private static double scale(ModelSpec s) {
    return Math.pow(s.headDim(), -0.5);
  }
}
