package sparkslim.core.prune.sparsellm;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.Tensor;

/**
 * The weights of one FFN, as SparseLLM sees them (docs/sparsellm.md §1.2, §1.3). Broadcast to executors once per
 * alternation.
 *
 * @param in (ffn, hidden) fc1 (OPT) or up_proj (LLaMA)
 * @param inBias (ffn) fc1 bias b1, or null
 * @param gate (ffn, hidden) gate_proj (LLaMA), or null
 * @param out (hidden, ffn) fc2 (OPT) or down_proj (LLaMA)
 * @param outBias (hidden) fc2 bias b2, or null
 */
public record FfnWeights(FfnKind kind, int hidden, int ffn, float[] in, float[] inBias, float[] gate, float[] out, float[] outBias)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  public FfnWeights {
    if (in.length != (long) ffn * hidden || out.length != (long) hidden * ffn || (gate == null) != (kind == FfnKind.OPT_RELU)
        || (gate != null && gate.length != in.length) || (inBias != null && inBias.length != ffn)
        || (outBias != null && outBias.length != hidden)) {
      throw new IllegalArgumentException("Inconsistent " + kind + " FFN weights for hidden " + hidden + ", ffn " + ffn);
    }
  }

  /** The FFN of a block, from its tensors (names relative to the block prefix). */
  public static FfnWeights of(FfnKind kind, Map<String, Tensor> tensors) {
    Tensor in = tensors.get(kind.inName() + ".weight");
    Tensor out = tensors.get(kind.outName() + ".weight");
    Tensor inBias = tensors.get(kind.inName() + ".bias");
    Tensor outBias = tensors.get(kind.outName() + ".bias");
    Tensor gate = kind.gateName() == null ? null : tensors.get(kind.gateName() + ".weight");
    return new FfnWeights(kind, in.cols(), in.rows(), in.data(), inBias == null ? null : inBias.data(),
        gate == null ? null : gate.data(), out.data(), outBias == null ? null : outBias.data());
  }

  /**
   * The FFN of a block held by an executor: only its own matrices are widened to fp32 (the block may hold its weights
   * 16-bit, {@link DecoderBlock#tensor(String)}).
   */
  public static FfnWeights of(FfnKind kind, DecoderBlock block) {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    for (String linear : new String[] {kind.inName(), kind.gateName(), kind.outName()}) {
      if (linear != null) {
        for (String name : new String[] {linear + ".weight", linear + ".bias"}) {
          if (block.has(name)) {
            tensors.put(name, block.tensor(name));
          }
        }
      }
    }
    return of(kind, tensors);
  }

  /** The same FFN with other weight matrices (biases kept). */
  public FfnWeights withMatrices(float[] newIn, float[] newGate, float[] newOut) {
    return new FfnWeights(kind, hidden, ffn, newIn, inBias, newGate, newOut, outBias);
  }

  @Override
  public String toString() {
    return "FfnWeights[" + kind + ", hidden " + hidden + ", ffn " + ffn + "]";
  }
}
