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
  public float[] forward(float[] hidden, int seqLen, InputObserver observer, Tape tape) {
    boolean before = spec.layerNormBefore();
    int rows = stackedRows(hidden, seqLen, tape); // windows·seqLen
    keep(tape, "hidden", hidden);
    float[] x = before ? norm("self_attn_layer_norm", hidden, rows) : hidden;
    observe(observer, "attn_in", x, rows);
    keep(tape, "x", x);
    float[] qs = apply(q, "self_attn.q_proj", x, rows, tape);
    float[] ks = apply(k, "self_attn.k_proj", x, rows, tape);
    float[] vs = apply(v, "self_attn.v_proj", x, rows, tape);
    keep(tape, "q", qs);
    keep(tape, "k", ks);
    keep(tape, "v", vs);
    float scale = (float) Math.pow(spec.headDim(), -0.5);
    float[] attn = Ops.causalAttention(qs, ks, vs, seqLen, spec.numHeads(), spec.numKvHeads(), spec.headDim(), scale);
    observe(observer, "attn_out", attn, rows);
    keep(tape, "attn", attn);
    float[] h = apply(out, "self_attn.out_proj", attn, rows, tape);
    Ops.addInPlace(h, hidden);
    if (!before) {
      keep(tape, "attnSum", h); // the post-LN input
      h = norm("self_attn_layer_norm", h, rows);
    }
    keep(tape, "h", h);
    float[] y = before ? norm("final_layer_norm", h, rows) : h;
    observe(observer, "mlp_in", y, rows);
    keep(tape, "y", y);
    float[] f = apply(fc1, "fc1", y, rows, tape); // (rows, ffnDim)
    Ops.reluInPlace(f);
    observe(observer, "mlp_act", f, rows);
    keep(tape, "act", f);
    float[] result = apply(fc2, "fc2", f, rows, tape);
    Ops.addInPlace(result, h);
    if (!before) {
      keep(tape, "mlpSum", result);
      result = norm("final_layer_norm", result, rows);
    }
    return result;
  }

  @Override
  public float[] backward(Tape tape, float[] dOut, int seqLen, Map<String, float[]> gradients) {
    boolean before = spec.layerNormBefore();
    int d = spec.hiddenSize();
    int ffn = spec.intermediateSize();
    // d(fc2(act) + h), before the post-LN final_layer_norm if any
    float[] dr = before ? dOut : normBackward("final_layer_norm", dOut, tape.get("mlpSum"), seqLen, gradients);
    float[] act = tape.get("act");
    float[] dAct = new float[seqLen * ffn]; // (seqLen, ffnDim)
    linearBackward(fc2, "fc2", dr, act, seqLen, dAct, gradients, tape);
    Ops.reluBackwardInPlace(dAct, act);
    float[] dy = new float[seqLen * d];
    linearBackward(fc1, "fc1", dAct, tape.get("y"), seqLen, dy, gradients, tape);
    float[] dh = before ? normBackward("final_layer_norm", dy, tape.get("h"), seqLen, gradients) : dy; // through the MLP input
    Ops.addInPlace(dh, dr); // residual
    // d(out_proj(attn) + hidden), before the post-LN self_attn_layer_norm if any
    float[] dSum = before ? dh : normBackward("self_attn_layer_norm", dh, tape.get("attnSum"), seqLen, gradients);
    float[] dAttn = new float[seqLen * d];
    linearBackward(out, "self_attn.out_proj", dSum, tape.get("attn"), seqLen, dAttn, gradients, tape);
    float scale = (float) Math.pow(spec.headDim(), -0.5);
    float[][] dqkv = Ops.causalAttentionBackward(dAttn, tape.get("q"), tape.get("k"), tape.get("v"), seqLen, spec.numHeads(),
        spec.numKvHeads(), spec.headDim(), scale);
    float[] x = tape.get("x");
    float[] dx = new float[seqLen * d];
    linearBackward(q, "self_attn.q_proj", dqkv[0], x, seqLen, dx, gradients, tape);
    linearBackward(k, "self_attn.k_proj", dqkv[1], x, seqLen, dx, gradients, tape);
    linearBackward(v, "self_attn.v_proj", dqkv[2], x, seqLen, dx, gradients, tape);
    float[] dIn = before ? normBackward("self_attn_layer_norm", dx, tape.get("hidden"), seqLen, gradients) : dx;
    Ops.addInPlace(dIn, dSum); // residual
    return dIn;
  }

  private float[] normBackward(String name, float[] dy, float[] input, int seqLen, Map<String, float[]> gradients) {
    return Ops.layerNormBackward(dy, input, seqLen, spec.hiddenSize(), tensor(name + ".weight").data(), spec.normEps(),
        gradients.get(name + ".weight"), gradients.get(name + ".bias"));
  }

  @Override
  public long flops(int seqLen) {
    return q.flops(seqLen) + k.flops(seqLen) + v.flops(seqLen) + out.flops(seqLen) + fc1.flops(seqLen) + fc2.flops(seqLen)
        + Ops.attentionFlops(seqLen, spec.numHeads(), spec.headDim());
  }
}
