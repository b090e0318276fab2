package sparkslim.core.model;

import java.util.List;
import java.util.Map;

/** LLaMA decoder block: RMSNorm → attention (RoPE, GQA) → residual; RMSNorm → SwiGLU MLP → residual. */
public final class LlamaBlock extends DecoderBlock {
  private static final long serialVersionUID = 1L;
  private final Linear q;
  private final Linear k;
  private final Linear v;
  private final Linear o;
  private final Linear gate;
  private final Linear up;
  private final Linear down;
  private transient volatile float[][] rope; // {cos, sin}, each (positions, headDim)

  LlamaBlock(ModelSpec spec, Map<String, Tensor> tensors, Map<String, HalfTensor> halves,
      Map<String, sparkslim.core.compress.CompressedLinear.Quantized> quantized) {
    super(spec, tensors, halves, quantized);
    this.q = linear("self_attn.q_proj");
    this.k = linear("self_attn.k_proj");
    this.v = linear("self_attn.v_proj");
    this.o = linear("self_attn.o_proj");
    this.gate = linear("mlp.gate_proj");
    this.up = linear("mlp.up_proj");
    this.down = linear("mlp.down_proj");
  }

  private float[][] rope(int seqLen) {
    float[][] r = rope;
    if (r == null || r[0].length < seqLen * spec.headDim()) {
      r = Ops.ropeTables(Math.max(seqLen, 1), spec.headDim(), spec.ropeTheta());
      rope = r;
    }
    return r;
  }

  static final List<String> LINEARS = List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
      "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj");

  @Override
  public List<String> linearNames() {
    return LINEARS;
  }

  @Override
  public String inputGroup(String linear) {
    return groupOf(linear);
  }

  static String groupOf(String linear) {
    switch (linear) {
      case "self_attn.q_proj": case "self_attn.k_proj": case "self_attn.v_proj": return "attn_in";
      case "self_attn.o_proj": return "attn_out";
      case "mlp.gate_proj": case "mlp.up_proj": return "mlp_in";
      case "mlp.down_proj": return "mlp_act";
      default: throw new IllegalArgumentException("Not a linear of a LLaMA block: " + linear);
    }
  }

  @Override
  public float[] forward(float[] hidden, int seqLen, InputObserver observer, Tape tape) {
    int d = spec.hiddenSize();
    int rows = stackedRows(hidden, seqLen, tape); // windows·seqLen
    keep(tape, "hidden", hidden);
    float[] x = Ops.rmsNorm(hidden, rows, d, tensor("input_layernorm.weight").data(), spec.normEps());
    observe(observer, "attn_in", x, rows);
    keep(tape, "x", x);
    float[] qs = apply(q, "self_attn.q_proj", x, rows, tape); // (rows, numHeads·headDim)
    float[] ks = apply(k, "self_attn.k_proj", x, rows, tape); // (rows, numKvHeads·headDim)
    float[] vs = apply(v, "self_attn.v_proj", x, rows, tape);
    float[][] tables = rope(seqLen);
    Ops.applyRope(qs, seqLen, spec.numHeads(), spec.headDim(), tables);
    Ops.applyRope(ks, seqLen, spec.numKvHeads(), spec.headDim(), tables);
    keep(tape, "q", qs);
    keep(tape, "k", ks);
    keep(tape, "v", vs);
    float scale = (float) Math.pow(spec.headDim(), -0.5);
    float[] attn = Ops.causalAttention(qs, ks, vs, seqLen, spec.numHeads(), spec.numKvHeads(), spec.headDim(), scale);
    observe(observer, "attn_out", attn, rows);
    keep(tape, "attn", attn);
    float[] h = apply(o, "self_attn.o_proj", attn, rows, tape);
    Ops.addInPlace(h, hidden);
    keep(tape, "h", h);
    float[] y = Ops.rmsNorm(h, rows, d, tensor("post_attention_layernorm.weight").data(), spec.normEps());
    observe(observer, "mlp_in", y, rows);
    keep(tape, "y", y);
    float[] g = apply(gate, "mlp.gate_proj", y, rows, tape); // (rows, intermediateSize)
    float[] u = apply(up, "mlp.up_proj", y, rows, tape);
    if (tape != null) {
      tape.put("gate", g.clone()); // the product overwrites g
      tape.put("up", u);
    }
    Ops.siluMulInPlace(g, u);
    observe(observer, "mlp_act", g, rows);
    keep(tape, "act", g);
    float[] out = apply(down, "mlp.down_proj", g, rows, tape);
    Ops.addInPlace(out, h);
    return out;
  }

  @Override
  public float[] backward(Tape tape, float[] dOut, int seqLen, Map<String, float[]> gradients) {
    int d = spec.hiddenSize();
    int f = spec.intermediateSize();
    // out = down(act) + h
    float[] dAct = new float[seqLen * f]; // (seqLen, intermediateSize)
    linearBackward(down, "mlp.down_proj", dOut, tape.get("act"), seqLen, dAct, gradients, tape);
    float[][] dGateUp = Ops.siluMulBackward(dAct, tape.get("gate"), tape.get("up"));
    float[] y = tape.get("y");
    float[] dy = new float[seqLen * d]; // (seqLen, hiddenSize)
    linearBackward(gate, "mlp.gate_proj", dGateUp[0], y, seqLen, dy, gradients, tape);
    linearBackward(up, "mlp.up_proj", dGateUp[1], y, seqLen, dy, gradients, tape);
    float[] dh = Ops.rmsNormBackward(dy, tape.get("h"), seqLen, d, tensor("post_attention_layernorm.weight").data(), spec.normEps(),
        gradients.get("post_attention_layernorm.weight"));
    Ops.addInPlace(dh, dOut); // residual
    // h = o(attn) + hidden
    float[] dAttn = new float[seqLen * spec.numHeads() * spec.headDim()];
    linearBackward(o, "self_attn.o_proj", dh, tape.get("attn"), seqLen, dAttn, gradients, tape);
    float scale = (float) Math.pow(spec.headDim(), -0.5);
    float[][] dqkv = Ops.causalAttentionBackward(dAttn, tape.get("q"), tape.get("k"), tape.get("v"), seqLen, spec.numHeads(),
        spec.numKvHeads(), spec.headDim(), scale);
    float[][] tables = rope(seqLen);
    Ops.applyRopeBackward(dqkv[0], seqLen, spec.numHeads(), spec.headDim(), tables);
    Ops.applyRopeBackward(dqkv[1], seqLen, spec.numKvHeads(), spec.headDim(), tables);
    float[] x = tape.get("x");
    float[] dx = new float[seqLen * d];
    linearBackward(q, "self_attn.q_proj", dqkv[0], x, seqLen, dx, gradients, tape);
    linearBackward(k, "self_attn.k_proj", dqkv[1], x, seqLen, dx, gradients, tape);
    linearBackward(v, "self_attn.v_proj", dqkv[2], x, seqLen, dx, gradients, tape);
    float[] dIn = Ops.rmsNormBackward(dx, tape.get("hidden"), seqLen, d, tensor("input_layernorm.weight").data(), spec.normEps(),
        gradients.get("input_layernorm.weight"));
    Ops.addInPlace(dIn, dh); // residual
    return dIn;
  }

  @Override
  public long flops(int seqLen) {
    return q.flops(seqLen) + k.flops(seqLen) + v.flops(seqLen) + o.flops(seqLen) + gate.flops(seqLen) + up.flops(seqLen)
        + down.flops(seqLen) + Ops.attentionFlops(seqLen, spec.numHeads(), spec.headDim());
  }
}
