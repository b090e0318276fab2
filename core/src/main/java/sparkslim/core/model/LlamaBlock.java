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
  public float[] forward(float[] hidden, int seqLen, InputObserver observer) {
    int d = spec.hiddenSize();
    float[] x = Ops.rmsNorm(hidden, seqLen, d, tensor("input_layernorm.weight").data(), spec.normEps());
    observe(observer, "attn_in", x, seqLen);
    float[] qs = q.apply(x, seqLen); // (seqLen, numHeads·headDim)
    float[] ks = k.apply(x, seqLen); // (seqLen, numKvHeads·headDim)
    float[] vs = v.apply(x, seqLen);
    float[][] tables = rope(seqLen);
    Ops.applyRope(qs, seqLen, spec.numHeads(), spec.headDim(), tables);
    Ops.applyRope(ks, seqLen, spec.numKvHeads(), spec.headDim(), tables);
    float scale = (float) Math.pow(spec.headDim(), -0.5);
    float[] attn = Ops.causalAttention(qs, ks, vs, seqLen, spec.numHeads(), spec.numKvHeads(), spec.headDim(), scale);
    observe(observer, "attn_out", attn, seqLen);
    float[] h = o.apply(attn, seqLen);
    Ops.addInPlace(h, hidden);
    float[] y = Ops.rmsNorm(h, seqLen, d, tensor("post_attention_layernorm.weight").data(), spec.normEps());
    observe(observer, "mlp_in", y, seqLen);
    float[] g = gate.apply(y, seqLen); // (seqLen, intermediateSize)
    float[] u = up.apply(y, seqLen);
    Ops.siluMulInPlace(g, u);
    observe(observer, "mlp_act", g, seqLen);
    float[] out = down.apply(g, seqLen);
    Ops.addInPlace(out, h);
    return out;
  }

  @Override
  public long flops(int seqLen) {
    return q.flops(seqLen) + k.flops(seqLen) + v.flops(seqLen) + o.flops(seqLen) + gate.flops(seqLen) + up.flops(seqLen)
        + down.flops(seqLen) + Ops.attentionFlops(seqLen, spec.numHeads(), spec.headDim());
  }
}
