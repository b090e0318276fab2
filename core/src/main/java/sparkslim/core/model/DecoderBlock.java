package sparkslim.core.model;

import java.io.Serializable;
import java.util.Map;
import sparkslim.core.SparkslimException;

/**
 * One transformer decoder block, fp32. {@link #forward} maps a window's hidden states (seqLen, hiddenSize)
 * to the next block's input; the pruning drivers call it one block at a time over calibration activations.
 */
public abstract class DecoderBlock implements Serializable {
  private static final long serialVersionUID = 1L;

  protected final ModelSpec spec;
  protected final Map<String, Tensor> tensors; // names relative to ModelSpec.blockPrefix(i)

  protected DecoderBlock(ModelSpec spec, Map<String, Tensor> tensors) {
    this.spec = spec;
    this.tensors = tensors;
  }

  public static DecoderBlock of(ModelSpec spec, Map<String, Tensor> tensors) {
    switch (spec.architecture()) {
      case LLAMA: return new LlamaBlock(spec, tensors);
      case OPT: return new OptBlock(spec, tensors);
      default: throw new SparkslimException("Unsupported architecture " + spec.architecture());
    }
  }

  /** The block's tensors, by name relative to the block prefix. */
  public Map<String, Tensor> tensors() {
    return tensors;
  }

  protected Tensor tensor(String name) {
    Tensor t = tensors.get(name);
    if (t == null) {
      throw new IllegalStateException("Block tensor '" + name + "' missing");
    }
    return t;
  }

  protected Linear linear(String name) {
    return new Linear(tensor(name + ".weight"), tensors.get(name + ".bias"));
  }

  /** hidden: (seqLen, hiddenSize) row-major; returns the block output of the same shape. */
  public abstract float[] forward(float[] hidden, int seqLen);

  /** Floating-point operations of one {@link #forward} call on {@code seqLen} tokens (matrix products only). */
  public abstract long flops(int seqLen);
}
