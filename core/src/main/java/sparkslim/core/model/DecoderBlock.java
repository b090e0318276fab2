package sparkslim.core.model;

import java.io.Serializable;
import java.util.List;
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

  /** The linears of a block of {@code spec}'s architecture, in pruning order, without loading one ({@link #linearNames()}). */
  public static List<String> linearNames(ModelSpec spec) {
    switch (spec.architecture()) {
      case LLAMA: return LlamaBlock.LINEARS;
      case OPT: return OptBlock.LINEARS;
      default: throw new SparkslimException("Unsupported architecture " + spec.architecture());
    }
  }

  /** The input group of a linear of {@code spec}'s architecture, without loading a block ({@link #inputGroup(String)}). */
  public static String inputGroup(ModelSpec spec, String linear) {
    switch (spec.architecture()) {
      case LLAMA: return LlamaBlock.groupOf(linear);
      case OPT: return OptBlock.groupOf(linear);
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

  /** Receives the input of each group of linear layers during {@link #forward(float[], int, InputObserver)}. */
  @FunctionalInterface
  public interface InputObserver {
    /** x: (rows, inFeatures) row-major, the input shared by the linears of {@code group}. */
    void observe(String group, float[] x, int rows);
  }

  /** Linear layers of the block (names relative to the block prefix, without ".weight"), in pruning order. */
  public abstract List<String> linearNames();

  /** The input group a linear reads ("attn_in", "attn_out", "mlp_in", "mlp_act"); linears of a group share statistics. */
  public abstract String inputGroup(String linear);

  /** hidden: (seqLen, hiddenSize) row-major; returns the block output of the same shape. */
  public float[] forward(float[] hidden, int seqLen) {
    return forward(hidden, seqLen, null);
  }

  /** As {@link #forward(float[], int)}, reporting each linear group's input to {@code observer} (may be null). */
  public abstract float[] forward(float[] hidden, int seqLen, InputObserver observer);

  /** A block of the same architecture with some tensors replaced (e.g. pruned weights); names relative to the block prefix. */
  public DecoderBlock withTensors(Map<String, Tensor> replaced) {
    Map<String, Tensor> merged = new java.util.LinkedHashMap<>(tensors);
    merged.putAll(replaced);
    return of(spec, merged);
  }

  protected static void observe(InputObserver observer, String group, float[] x, int rows) {
    if (observer != null) {
      observer.observe(group, x, rows);
    }
  }

  /** Floating-point operations of one {@link #forward} call on {@code seqLen} tokens (matrix products only). */
  public abstract long flops(int seqLen);
}
