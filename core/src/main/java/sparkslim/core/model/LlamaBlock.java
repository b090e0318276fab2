package sparkslim.core.model;

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

  LlamaBlock(ModelSpec spec, Map<String, Tensor> tensors) {
    super(spec, tensors);
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

  @Override
  public float[] forward(float[] hidden, int seqLen) {
    int d = spec.hiddenSize();
    float[] x = Ops.rmsNorm(hidden, seqLen, d, tensor("input_layernorm.weight").data(), spec.normEps());
    float[] qs = q.apply(x, seqLen); // (seqLen, numHeads·headDim)
    float[] ks = k.apply(x, seqLen); // (seqLen, numKvHeads·headDim)
    float[] vs = v.apply(x, seqLen);
    float[][] tables = rope(seqLen);
    Ops.applyRope(qs, seqLen, spec.numHeads(), spec.headDim(), tables);
    Ops.applyRope(ks, seqLen, spec.numKvHeads(), spec.headDim(), tables);
    float scale = (float) Math.pow(spec.headDim(), -0.5);
    float[] attn = Ops.causalAttention(qs, ks, vs, seqLen, spec.numHeads(), spec.numKvHeads(), spec.headDim(), scale);
    float[] h = o.apply(attn, seqLen);
    Ops.addInPlace(h, hidden);
    float[] y = Ops.rmsNorm(h, seqLen, d, tensor("post_attention_layernorm.weight").data(), spec.normEps());
    float[] g = gate.apply(y, seqLen); // (seqLen, intermediateSize)
    float[] u = up.apply(y, seqLen);
    Ops.siluMulInPlace(g, u);
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
