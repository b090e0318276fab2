package sparkslim.core.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import sparkslim.core.linalg.ExactSums;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.LoraAdapter;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.model.Tensor;
import sparkslim.core.quant.FakeQuant;

/**
 * Recovery training of a {@link CausalLm}, split the way a data-parallel run needs it: {@link #gradientSums} is what one
 * task computes over its windows (exact sums, so the total never depends on how the windows are split), and
 * {@link #step} is what the driver does with the total (mean over every prediction of the batch, global-norm clipping,
 * AdamW at the scheduled learning rate). The loss is the next-token NLL, or a distillation loss
 * ({@link #distilledFrom}). The trainable parameters are live arrays of the model, updated in place:
 * <ul>
 *   <li>LoRA: the adapters' A and B of the target linears (the base frozen: its weight products are skipped);</li>
 *   <li>full: every tensor of the model; with {@code keepZeros} every weight that is exactly 0 stays 0 (masked
 *       updates), so a pruned model keeps its sparsity;</li>
 *   <li>QAT: every tensor, the linears inside the blocks fake-quantized in the forward ({@link FakeQuant}).</li>
 * </ul>
 */
public final class Trainer {
  private final CausalLm model;
  private final Map<String, float[]> parameters; // full name → live array, in a fixed order
  private final Map<String, AdamW> optimizers = new LinkedHashMap<>();
  private final Map<String, boolean[]> zeroMasks = new LinkedHashMap<>(); // keepZeros: true = held at 0
  private final LearningRateSchedule schedule;
  private final double maxGradNorm;
  private final boolean recompute;
  private final long seed;
  private FakeQuant fakeQuant; // QAT, or null

  private Trainer(CausalLm model, Map<String, float[]> parameters, LearningRateSchedule schedule, double maxGradNorm, boolean recompute,
      long seed) {
    this.model = model;
    this.parameters = parameters;
    this.schedule = schedule;
    this.maxGradNorm = maxGradNorm;
    this.recompute = recompute;
    this.seed = seed;
    parameters.forEach((name, p) -> optimizers.put(name, new AdamW(p.length, 0)));
  }

  /** LoRA adapters of {@code rank} on the linears named in {@code targets} (relative names, e.g. "mlp.down_proj"). */
  public static Trainer lora(CausalLm base, Set<String> targets, int rank, double alpha, double dropout, LearningRateSchedule schedule,
      double maxGradNorm, boolean recompute, long seed) {
    ModelSpec spec = base.spec();
    List<DecoderBlock> blocks = new ArrayList<>();
    Map<String, float[]> params = new LinkedHashMap<>();
    for (int i = 0; i < base.numBlocks(); i++) {
      DecoderBlock b = base.blocks().get(i);
      Map<String, LoraAdapter> adapters = new LinkedHashMap<>();
      for (String name : b.linearNames()) {
        if (targets.contains(name)) {
          long[] shape = spec.blockTensorShapes().get(name + ".weight");
          LoraAdapter a = LoraAdapter.initial(rank, (int) shape[1], (int) shape[0], alpha, dropout, seed * 1_000_003L + i * 101L + name.hashCode());
          adapters.put(name, a);
          params.put(spec.blockPrefix(i) + name + ".lora_A.weight", a.a());
          params.put(spec.blockPrefix(i) + name + ".lora_B.weight", a.b());
        }
      }
      blocks.add(b.withAdapters(adapters));
    }
    return new Trainer(base.withBlocks(blocks), params, schedule, maxGradNorm, recompute, seed);
  }

  /** Every tensor of {@code model} trained; {@code fakeQuant} non-null for QAT; {@code keepZeros}: in every tensor. */
  public static Trainer full(CausalLm model, FakeQuant fakeQuant, boolean keepZeros, LearningRateSchedule schedule, double maxGradNorm,
      boolean recompute, long seed) {
    return full(model, fakeQuant, name -> keepZeros, schedule, maxGradNorm, recompute, seed);
  }

  /**
   * Every tensor of {@code model} trained; {@code fakeQuant} non-null for QAT; the exact zeros of the tensors (full
   * names) that {@code keepZeros} accepts stay 0 (masked updates).
   */
  public static Trainer full(CausalLm model, FakeQuant fakeQuant, java.util.function.Predicate<String> keepZeros, LearningRateSchedule schedule,
      double maxGradNorm, boolean recompute, long seed) {
    CausalLm trained = model;
    if (fakeQuant != null) {
      List<DecoderBlock> blocks = new ArrayList<>();
      for (DecoderBlock b : model.blocks()) {
        blocks.add(b.withFakeQuant(fakeQuant));
      }
      trained = model.withBlocks(blocks);
    }
    Trainer t = new Trainer(trained, allTensors(trained), schedule, maxGradNorm, recompute, seed);
    t.fakeQuant = fakeQuant;
    t.parameters.forEach((name, p) -> {
      if (keepZeros.test(name)) {
        boolean[] zero = new boolean[p.length];
        boolean any = false;
        for (int i = 0; i < p.length; i++) {
          zero[i] = p[i] == 0f;
          any |= zero[i];
        }
        if (any) {
          t.zeroMasks.put(name, zero);
        }
      }
    });
    return t;
  }

  private static Map<String, float[]> allTensors(CausalLm lm) {
    Map<String, float[]> params = new LinkedHashMap<>();
    for (Map.Entry<String, Tensor> e : lm.globals().entrySet()) {
      params.put(e.getKey(), e.getValue().data());
    }
    for (int i = 0; i < lm.numBlocks(); i++) {
      for (Map.Entry<String, Tensor> e : lm.blocks().get(i).tensors().entrySet()) {
        params.put(lm.spec().blockPrefix(i) + e.getKey(), e.getValue().data());
      }
    }
    return params;
  }

  private CausalLm.Distillation distillation; // or null: the plain next-token NLL

  /**
   * Trains on the distillation loss from {@code teacher} instead (τ²·KL at {@code temperature} + {@code ceWeight}·NLL
   * per position; {@link CausalLm.Distillation}). The teacher is only run forward.
   */
  public Trainer distilledFrom(CausalLm teacher, double temperature, double ceWeight) {
    this.distillation = new CausalLm.Distillation(teacher, temperature, ceWeight);
    return this;
  }

  public CausalLm model() {
    return model;
  }

  /** The trainable parameters: full name → live array. */
  public Map<String, float[]> parameters() {
    return parameters;
  }

  /** The summed gradients and loss of some windows of one step. */
  public record GradientSums(Map<String, ExactSums> gradients, ExactSums loss, long predictions) implements java.io.Serializable {
    public GradientSums merge(GradientSums other) {
      Map<String, ExactSums> merged = new LinkedHashMap<>();
      gradients.forEach((name, g) -> merged.put(name, g.merge(other.gradients.get(name))));
      return new GradientSums(merged, loss.merge(other.loss), predictions + other.predictions);
    }
  }

  /**
   * Σ over {@code windows} of d(summed NLL)/d(parameter) and of the NLL, exactly. Window {@code ids[w]} (its index in
   * the training data) seeds its dropout and Quant-Noise masks with the step, so the result does not depend on which
   * task computes it.
   */
  public GradientSums gradientSums(int step, List<int[]> windows, int[] ids) {
    return gradientSums(step, windows, ids, 1);
  }

  /**
   * As {@link #gradientSums(int, List, int[])} with the windows taken in micro-batches of {@code microBatchSize}
   * consecutive windows: a micro-batch's gradients are summed in fp32, window after window in its order, and that sum is
   * added to the exact sums once (one conversion per micro-batch instead of per window). The total depends on the
   * micro-batches, never on how whole micro-batches are split over tasks.
   */
  public GradientSums gradientSums(int step, List<int[]> windows, int[] ids, int microBatchSize) {
    if (microBatchSize < 1 || windows.size() % microBatchSize != 0) {
      throw new IllegalArgumentException(windows.size() + " windows are not whole micro-batches of " + microBatchSize);
    }
    Map<String, ExactSums> sums = new LinkedHashMap<>();
    parameters.forEach((name, p) -> sums.put(name, new ExactSums(p.length)));
    ExactSums loss = new ExactSums(1);
    long predictions = 0;
    Map<String, float[]> g = new LinkedHashMap<>(); // the micro-batch's fp32 sums, in the parameters' layouts
    parameters.forEach((name, p) -> g.put(name, new float[p.length]));
    for (int m = 0; m < windows.size(); m += microBatchSize) {
      if (m > 0) {
        g.values().forEach(v -> java.util.Arrays.fill(v, 0f));
      }
      for (int w = m; w < m + microBatchSize; w++) {
        int[] tokens = windows.get(w);
        double l = model.backward(tokens, g, recompute, seed * 1_000_000_007L + step * 65_537L + ids[w], distillation);
        loss.add(0, l);
        predictions += tokens.length - 1;
      }
      for (Map.Entry<String, float[]> e : g.entrySet()) {
        ExactSums s = sums.get(e.getKey());
        float[] v = e.getValue();
        for (int i = 0; i < v.length; i++) {
          if (v[i] != 0f) {
            s.add(i, v[i]);
          }
        }
      }
    }
    return new GradientSums(sums, loss, predictions);
  }

  /** What {@link #step} did: the mean NLL of the batch, the gradient norm before clipping, the learning rate used. */
  public record StepResult(int step, double loss, double gradNorm, double learningRate) {}

  /** Step {@code k} (0-based) from the batch's total: mean over its predictions, clip, AdamW at schedule(k). */
  public StepResult step(int k, GradientSums total) {
    List<float[]> grads = new ArrayList<>();
    Map<String, float[]> byName = new LinkedHashMap<>();
    double scale = 1.0 / total.predictions();
    for (String name : parameters.keySet()) {
      ExactSums s = total.gradients().get(name);
      float[] g = new float[s.size()];
      for (int i = 0; i < g.length; i++) {
        g[i] = (float) (s.toDouble(i) * scale);
      }
      boolean[] zero = zeroMasks.get(name);
      for (int i = 0; zero != null && i < g.length; i++) {
        if (zero[i]) {
          g[i] = 0f;
        }
      }
      grads.add(g);
      byName.put(name, g);
    }
    double norm = GradientClipping.clip(grads, maxGradNorm);
    double lr = schedule.at(k);
    for (Map.Entry<String, float[]> e : parameters.entrySet()) {
      float[] p = e.getValue();
      optimizers.get(e.getKey()).update(p, byName.get(e.getKey()), lr);
      boolean[] zero = zeroMasks.get(e.getKey());
      for (int i = 0; zero != null && i < p.length; i++) {
        if (zero[i]) {
          p[i] = 0f;
        }
      }
    }
    if (fakeQuant != null) {
      fakeQuant.weightsChanged();
    }
    return new StepResult(k, total.loss().toDouble(0) / total.predictions(), norm, lr);
  }

  /** The tensors (full names) whose exact zeros stay 0. */
  public Set<String> keptZeros() {
    return java.util.Collections.unmodifiableSet(zeroMasks.keySet());
  }

  /**
   * Copies {@code values} (full name → array, every trainable parameter) into the live parameters: an executor takes
   * the driver's parameters of a step this way.
   */
  public void load(Map<String, float[]> values) {
    for (Map.Entry<String, float[]> e : parameters.entrySet()) {
      float[] v = values.get(e.getKey());
      if (v == null || v.length != e.getValue().length) {
        throw new IllegalArgumentException("No " + e.getValue().length + " values for parameter '" + e.getKey() + "'");
      }
      if (v != e.getValue()) { // the driver's own arrays when a local-mode task shares its model
        System.arraycopy(v, 0, e.getValue(), 0, v.length);
      }
    }
    if (fakeQuant != null) {
      fakeQuant.weightsChanged();
    }
  }

  /** The optimizer state of each parameter (live objects): what a checkpoint saves. */
  public Map<String, AdamW> optimizerStates() {
    return java.util.Collections.unmodifiableMap(optimizers);
  }

  /** Restores a checkpoint: the parameters' values and each one's optimizer state. */
  public void restore(Map<String, float[]> values, Map<String, AdamW> states) {
    load(values);
    for (String name : parameters.keySet()) {
      AdamW s = states.get(name);
      if (s == null || s.firstMoment().length != parameters.get(name).length) {
        throw new IllegalArgumentException("No optimizer state of " + parameters.get(name).length + " values for parameter '" + name + "'");
      }
      optimizers.put(name, s);
    }
  }
}
