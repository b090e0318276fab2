package sparkslim.core.model;

import java.io.Serializable;
import java.util.List;
import java.util.Map;
import sparkslim.core.SparkslimException;
import sparkslim.core.compress.CompressedLinear;

/**
 * One transformer decoder block, computed in fp32. {@link #forward} maps a window's hidden states (seqLen, hiddenSize)
 * to the next block's input; the pruning drivers call it one block at a time over calibration activations. Linear
 * weights may be held in their stored 16-bit dtype ({@link HalfTensor}, from {@link ModelDirectory#block}) and are then
 * widened one linear at a time where used, which gives the same results as an fp32 block.
 */
public abstract class DecoderBlock implements Serializable {
  private static final long serialVersionUID = 1L;

  protected final ModelSpec spec;
  protected final Map<String, Tensor> tensors; // fp32; names relative to ModelSpec.blockPrefix(i)
  protected final Map<String, HalfTensor> halves; // held 16-bit; names relative to ModelSpec.blockPrefix(i)
  protected final Map<String, CompressedLinear.Quantized> quantized; // linear weights held as codes; names as above

  protected DecoderBlock(ModelSpec spec, Map<String, Tensor> tensors, Map<String, HalfTensor> halves,
                         Map<String, CompressedLinear.Quantized> quantized) {
    this.spec = spec;
    this.tensors = tensors;
    this.halves = halves;
    this.quantized = quantized;
    for (String name : halves.keySet()) {
      if (tensors.containsKey(name)) {
        throw new IllegalArgumentException("Block tensor '" + name + "' given both in fp32 and 16-bit");
      }
    }
    for (String name : quantized.keySet()) {
      if (tensors.containsKey(name) || halves.containsKey(name)) {
        throw new IllegalArgumentException("Block tensor '" + name + "' given both quantized and unquantized");
      }
    }
  }

  /** A block whose tensors are all fp32. */
  public static DecoderBlock of(ModelSpec spec, Map<String, Tensor> tensors) {
    return of(spec, tensors, Map.of());
  }

  /** A block with fp32 {@code tensors} and 16-bit {@code halves} (disjoint names), widened where used. */
  public static DecoderBlock of(ModelSpec spec, Map<String, Tensor> tensors, Map<String, HalfTensor> halves) {
    return of(spec, tensors, halves, Map.of());
  }

  /**
   * A block with fp32 {@code tensors}, 16-bit {@code halves} and {@code quantized} linear weights (disjoint names): a
   * quantized weight stays as its codes and scales (one byte per weight) and is dequantized, exactly, where used.
   */
  public static DecoderBlock of(ModelSpec spec, Map<String, Tensor> tensors, Map<String, HalfTensor> halves,
                                Map<String, CompressedLinear.Quantized> quantized) {
    switch (spec.architecture()) {
      case LLAMA: return new LlamaBlock(spec, tensors, halves, quantized);
      case OPT: return new OptBlock(spec, tensors, halves, quantized);
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

  /**
   * The block's tensors in fp32, by name relative to the block prefix. A block holding 16-bit weights widens them all
   * into a new map (a whole fp32 copy of the block): use {@link #tensor} for one tensor.
   */
  public Map<String, Tensor> tensors() {
    if (halves.isEmpty() && quantized.isEmpty()) {
      return tensors;
    }
    Map<String, Tensor> all = new java.util.LinkedHashMap<>(tensors);
    halves.forEach((name, h) -> all.put(name, h.toTensor()));
    quantized.forEach((name, q) -> all.put(name, Tensor.dequantized(q)));
    return all;
  }

  /** One tensor in fp32, by name relative to the block prefix (widened into a new array when held 16-bit). */
  public Tensor tensor(String name) {
    Tensor t = tensors.get(name);
    if (t != null) {
      return t;
    }
    HalfTensor h = halves.get(name);
    if (h != null) {
      return h.toTensor();
    }
    CompressedLinear.Quantized q = quantized.get(name);
    if (q == null) {
      throw new IllegalStateException("Block tensor '" + name + "' missing");
    }
    return Tensor.dequantized(q);
  }

  /** Whether the block has a tensor of this name (relative to the block prefix). */
  public boolean has(String name) {
    return tensors.containsKey(name) || halves.containsKey(name) || quantized.containsKey(name);
  }

  /** Bytes the block's tensors take on the heap as held (4 per fp32 value, 2 per 16-bit value, 1 per code + scales). */
  public long heapBytes() {
    long bytes = 0;
    for (Tensor t : tensors.values()) {
      bytes += 4L * t.data().length;
    }
    for (HalfTensor h : halves.values()) {
      bytes += 2L * h.bits().length;
    }
    for (CompressedLinear.Quantized q : quantized.values()) {
      bytes += q.codes().length + 4L * q.scales().length + (q.zeroPoints() == null ? 0 : q.zeroPoints().length)
          + (q.gIdx() == null ? 0 : 4L * q.gIdx().length);
    }
    return bytes;
  }

  protected Linear linear(String name) {
    CompressedLinear.Quantized q = quantized.get(name + ".weight");
    if (q != null) {
      return new Linear(q, tensors.get(name + ".bias"));
    }
    HalfTensor h = halves.get(name + ".weight");
    return Linear.of(h == null ? tensor(name + ".weight") : null, h, tensors.get(name + ".bias"));
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

  /**
   * The rows of {@code hidden} (windows·seqLen, hiddenSize): one window, or several stacked for an inference forward,
   * whose linears then run as one product over all their rows (each window attends only to itself, at positions
   * 0 … seqLen − 1). A forward with a tape takes one window.
   */
  protected final int stackedRows(float[] hidden, int seqLen, Tape tape) {
    int d = spec.hiddenSize();
    if (seqLen <= 0 || hidden.length % ((long) seqLen * d) != 0) {
      throw new IllegalArgumentException("Hidden states of " + hidden.length + " values are not whole windows of " + seqLen + " × " + d);
    }
    int rows = hidden.length / d;
    if (tape != null && rows != seqLen) {
      throw new IllegalArgumentException("A forward with a tape takes one window of " + seqLen + " rows, found " + rows);
    }
    return rows;
  }

  /** hidden: (seqLen, hiddenSize) row-major, or several windows stacked ({@link #stackedRows}); returns the block output of the same shape. */
  public float[] forward(float[] hidden, int seqLen) {
    return forward(hidden, seqLen, null);
  }

  /** As {@link #forward(float[], int)}, reporting each linear group's input to {@code observer} (may be null). */
  public float[] forward(float[] hidden, int seqLen, InputObserver observer) {
    return forward(hidden, seqLen, observer, null);
  }

  /**
   * The block's one definition: the forward pass, which with a {@code tape} also keeps the activations that
   * {@link #backward} reads (without one it computes exactly the same values and keeps nothing).
   */
  public abstract float[] forward(float[] hidden, int seqLen, InputObserver observer, Tape tape);

  /**
   * Backward of {@link #forward(float[], int, InputObserver, Tape)} through the activations on {@code tape}: dOut
   * (seqLen, hiddenSize) is d(loss)/d(block output); returns d(loss)/d(block input). For each tensor name (relative to
   * the block prefix) that {@code gradients} maps to an array, d(loss)/d(tensor) is added into it, in the tensor's
   * layout; tensors without an entry get no gradient, and a linear whose weight has none costs no weight product.
   */
  public abstract float[] backward(Tape tape, float[] dOut, int seqLen, Map<String, float[]> gradients);

  /**
   * The activations of one block's forward pass on one window, kept for its backward pass. A tape made with a dropout
   * seed makes the forward a training forward (LoRA dropout on); one without runs it as inference.
   */
  public static final class Tape {
    private final Map<String, float[]> saved = new java.util.HashMap<>();
    private final Map<String, java.util.BitSet> masks = new java.util.HashMap<>();
    private final Long dropoutSeed;
    private final boolean keeps;

    public Tape() {
      this(null);
    }

    public Tape(Long dropoutSeed) {
      this(dropoutSeed, true);
    }

    /**
     * @param keeps false for a training forward that keeps nothing (the first pass of activation checkpointing, whose
     *     dropout masks the recomputed forward draws again)
     */
    public Tape(Long dropoutSeed, boolean keeps) {
      this.dropoutSeed = dropoutSeed;
      this.keeps = keeps;
    }

    Long dropoutSeed() {
      return dropoutSeed;
    }

    void putMask(String name, java.util.BitSet mask) {
      if (keeps) {
        masks.put(name, mask);
      }
    }

    java.util.BitSet mask(String name) {
      return masks.get(name);
    }

    void put(String name, float[] x) {
      if (keeps) {
        saved.put(name, x);
      }
    }

    float[] get(String name) {
      float[] x = saved.get(name);
      if (x == null) {
        throw new IllegalStateException("The tape holds no '" + name + "': run forward with this tape first");
      }
      return x;
    }

    /** Bytes held (4 per fp32 value). */
    public long bytes() {
      long n = 0;
      for (float[] x : saved.values()) {
        n += 4L * x.length;
      }
      return n;
    }
  }

  protected static void keep(Tape tape, String name, float[] x) {
    if (tape != null) {
      tape.put(name, x);
    }
  }

  /** The linear {@code name}'s product x·Wᵀ + b, plus its LoRA adapter's when it has one. */
  protected float[] apply(Linear linear, String name, float[] x, int rows, Tape tape) {
    if (fakeQuant != null) { // QAT: the forward sees W̃, the backward passes its gradient to W
      float[] wq = fakeQuant.apply(linear.weight().data(), linear.outFeatures(), linear.inFeatures(),
          tape == null ? null : tape.dropoutSeed(), name);
      if (tape != null) {
        tape.put(name + ".qat.w", wq);
      }
      linear = linear.withWeight(wq);
    }
    float[] y = linear.apply(x, rows);
    LoraAdapter adapter = adapters.get(name);
    if (adapter != null) {
      adapter.forward(x, rows, y, tape, name);
    }
    return y;
  }

  /**
   * Backward of {@link #apply}: the weight and bias gradients, and the adapter's ({@code name.lora_A.weight},
   * {@code name.lora_B.weight}), taken from {@code gradients}; dx accumulated.
   */
  protected void linearBackward(Linear linear, String name, float[] dy, float[] x, int rows, float[] dx, Map<String, float[]> gradients,
      Tape tape) {
    if (fakeQuant != null) {
      linear = linear.withWeight(tape.get(name + ".qat.w"));
    }
    linear.backward(dy, x, rows, dx, gradients.get(name + ".weight"), gradients.get(name + ".bias"));
    LoraAdapter adapter = adapters.get(name);
    if (adapter != null) {
      adapter.backward(dy, rows, tape, name, dx, gradients.get(name + ".lora_A.weight"), gradients.get(name + ".lora_B.weight"));
    }
  }

  private Map<String, LoraAdapter> adapters = Map.of(); // by linear name (relative to the block prefix)
  private sparkslim.core.quant.FakeQuant fakeQuant; // QAT: every linear fake-quantized, or null

  /**
   * The same block with every linear fake-quantized in its forward ({@link sparkslim.core.quant.FakeQuant}: the grids
   * recomputed from the current weights at each forward, straight-through gradients; Quant-Noise in a training
   * forward, drawn from the tape's seed). The weights are shared; adapters are kept.
   */
  public DecoderBlock withFakeQuant(sparkslim.core.quant.FakeQuant fakeQuant) {
    DecoderBlock copy = of(spec, tensors, halves, quantized);
    copy.adapters = adapters;
    copy.fakeQuant = fakeQuant;
    return copy;
  }

  /** The same block with LoRA adapters on some of its linears (names as {@link #linearNames}); the weights are shared. */
  public DecoderBlock withAdapters(Map<String, LoraAdapter> adapters) {
    for (String name : adapters.keySet()) {
      if (!linearNames().contains(name)) {
        throw new IllegalArgumentException("No linear '" + name + "' in a block of " + spec.architecture() + ": " + linearNames());
      }
    }
    DecoderBlock copy = of(spec, tensors, halves, quantized);
    copy.adapters = Map.copyOf(adapters);
    copy.fakeQuant = fakeQuant;
    return copy;
  }

  /** The LoRA adapters, by linear name (empty without). */
  public Map<String, LoraAdapter> adapters() {
    return adapters;
  }

  /** A block of the same architecture with some tensors replaced (e.g. pruned weights); names relative to the block prefix. */
  public DecoderBlock withTensors(Map<String, Tensor> replaced) {
    Map<String, Tensor> merged = new java.util.LinkedHashMap<>(tensors);
    merged.putAll(replaced);
    Map<String, HalfTensor> kept = new java.util.LinkedHashMap<>(halves);
    kept.keySet().removeAll(replaced.keySet());
    Map<String, CompressedLinear.Quantized> keptCodes = new java.util.LinkedHashMap<>(quantized);
    keptCodes.keySet().removeAll(replaced.keySet());
    return of(spec, merged, kept, keptCodes);
  }

  protected static void observe(InputObserver observer, String group, float[] x, int rows) {
    if (observer != null) {
      observer.observe(group, x, rows);
    }
  }

  /** Floating-point operations of one {@link #forward} call on {@code seqLen} tokens (matrix products only). */
  public abstract long flops(int seqLen);
}
