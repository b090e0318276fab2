package sparkslim.core.model;

import java.util.List;
import java.util.Map;

/** OPT decoder block: LayerNorm (pre or post) → attention with biases → residual; LayerNorm → fc1 → ReLU → fc2 → residual. */
public final class OptBlock extends DecoderBlock {
  private static final long serialVersionUID = 1L;
  private final Linear q;
  private final Linear k;
  private final Linear v;
  private final Linear out;
  private final Linear fc1;
  private final Linear fc2;

  OptBlock(ModelSpec spec, Map<String, Tensor> tensors, Map<String, HalfTensor> halves,
      Map<String, sparkslim.core.compress.CompressedLinear.Quantized> quantized) {
    super(spec, tensors, halves, quantized);
    this.q = linear("self_attn.q_proj");
    this.k = linear("self_attn.k_proj");
    this.v = linear("self_attn.v_proj");
    this.out = linear("self_attn.out_proj");
    this.fc1 = linear("fc1");
    this.fc2 = linear("fc2");
  }

  private float[] norm(String name, float[] x, int seqLen) {
    return Ops.layerNorm(x, seqLen, spec.hiddenSize(), tensor(name + ".weight").data(), tensor(name + ".bias").data(), spec.normEps());
  }

  static final List<String> LINEARS = List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
      "fc1", "fc2");

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
      case "self_attn.out_proj": return "attn_out";
      case "fc1": return "mlp_in";
      case "fc2": return "mlp_act";
      default: throw new IllegalArgumentException("Not a linear of an OPT block: " + linear);
    }
  }

  @Override
  public float[] forward(float[] hidden, int seqLen, InputObserver observer) {
    boolean before = spec.layerNormBefore();
    float[] x = before ? norm("self_attn_layer_norm", hidden, seqLen) : hidden;
    observe(observer, "attn_in", x, seqLen);
    float[] qs = q.apply(x, seqLen);
    float[] ks = k.apply(x, seqLen);
    float[] vs = v.apply(x, seqLen);
    float scale = (float) Math.pow(spec.headDim(), -0.5);
    float[] attn = Ops.causalAttention(qs, ks, vs, seqLen, spec.numHeads(), spec.numKvHeads(), spec.headDim(), scale);
    observe(observer, "attn_out", attn, seqLen);
    float[] h = out.apply(attn, seqLen);
    Ops.addInPlace(h, hidden);
    if (!before) {
      h = norm("self_attn_layer_norm", h, seqLen);
    }
    float[] y = before ? norm("final_layer_norm", h, seqLen) : h;
    observe(observer, "mlp_in", y, seqLen);
    float[] f = fc1.apply(y, seqLen); // (seqLen, ffnDim)
    Ops.reluInPlace(f);
    observe(observer, "mlp_act", f, seqLen);
    float[] result = fc2.apply(f, seqLen);
    Ops.addInPlace(result, h);
    if (!before) {
      result = norm("final_layer_norm", result, seqLen);
    }
    return result;
  }

  @Override
  public long flops(int seqLen) {
    return q.flops(seqLen) + k.flops(seqLen) + v.flops(seqLen) + out.flops(seqLen) + fc1.flops(seqLen) + fc2.flops(seqLen)
        + Ops.attentionFlops(seqLen, spec.numHeads(), spec.headDim());
  }
}
