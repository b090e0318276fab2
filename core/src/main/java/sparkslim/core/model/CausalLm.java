package sparkslim.core.model;

import java.io.Serializable;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A causal language model in fp32: embed → block 0 … block L−1 → final norm → head. Exposed block by block so that
 * the drivers can run one block over calibration activations, skip blocks, or swap a compressed block in.
 */
public final class CausalLm implements Serializable {
  private static final long serialVersionUID = 1L;
  private final ModelSpec spec;
  private final Map<String, Tensor> globals; // fp32; full tensor names
  private final Map<String, HalfTensor> halves; // held 16-bit (embedding table, head, OPT projections); full tensor names
  private final List<DecoderBlock> blocks;
  private final Linear head; // (vocabSize, wordEmbedProjDim)
  private final Linear projectIn; // OPT only, or null
  private final Linear projectOut; // OPT only, or null
  private transient volatile Linear trainingHead; // the head widened once for training passes, when held 16-bit

  public CausalLm(ModelSpec spec, Map<String, Tensor> globals, List<DecoderBlock> blocks) {
    this(spec, globals, Map.of(), blocks);
  }

  private CausalLm(ModelSpec spec, Map<String, Tensor> globals, Map<String, HalfTensor> halves, List<DecoderBlock> blocks) {
    this.spec = spec;
    this.globals = globals;
    this.halves = halves;
    this.blocks = List.copyOf(blocks);
    this.head = linear(spec.tieWordEmbeddings() ? spec.embedTokensName() : "lm_head.weight");
    boolean projected = spec.architecture() == Architecture.OPT && spec.wordEmbedProjDim() != spec.hiddenSize();
    this.projectIn = projected ? linear("model.decoder.project_in.weight") : null;
    this.projectOut = projected ? linear("model.decoder.project_out.weight") : null;
  }

  private Linear linear(String weightName) {
    return Linear.of(globals.get(weightName), halves.get(weightName), null);
  }

  /**
   * The model without its blocks: embeddings, final norm, head (and OPT's project_in/out). {@link #embed} and
   * {@link #nllFromLastHidden} work on it exactly as on the full model, so a layer-sequential ("streamed") pass can
   * run the blocks elsewhere, one at a time, and give bitwise the same window NLLs; {@link #numBlocks} is 0.
   */
  public static CausalLm globalsOnly(ModelSpec spec, Map<String, Tensor> globals) {
    return new CausalLm(spec, globals, Map.of(), List.of());
  }

  /**
   * As {@link #globalsOnly(ModelSpec, Map)}, with some globals held in their stored 16-bit dtype ({@code halves}: the
   * embedding table, head or OPT projections), widened where used: the same results as fp32 globals.
   */
  public static CausalLm globalsOnly(ModelSpec spec, Map<String, Tensor> globals, Map<String, HalfTensor> halves) {
    for (String name : halves.keySet()) {
      if (globals.containsKey(name) || name.equals("model.decoder.embed_positions.weight")) {
        throw new IllegalArgumentException("Global tensor '" + name + "' cannot be held 16-bit here");
      }
    }
    return new CausalLm(spec, globals, halves, List.of());
  }

  public ModelSpec spec() {
    return spec;
  }

  public List<DecoderBlock> blocks() {
    return blocks;
  }

  /** The globals in fp32 (16-bit ones widened into new arrays). */
  public Map<String, Tensor> globals() {
    if (halves.isEmpty()) {
      return globals;
    }
    Map<String, Tensor> all = new java.util.LinkedHashMap<>(globals);
    halves.forEach((name, h) -> all.put(name, h.toTensor()));
    return all;
  }

  public int numBlocks() {
    return blocks.size();
  }

  /** The same globals (16-bit ones kept 16-bit) with other blocks: a LoRA-adapted or fake-quantized copy. */
  public CausalLm withBlocks(List<DecoderBlock> blocks) {
    return new CausalLm(spec, globals, halves, blocks);
  }

  /** Embedding output (seqLen, hiddenSize); for OPT, with learned positions (offset 2) added. */
  public float[] embed(int[] tokens) {
    int seqLen = tokens.length;
    Tensor table = globals.get(spec.embedTokensName()); // (vocabSize, width), or null when held 16-bit
    HalfTensor halfTable = table == null ? halves.get(spec.embedTokensName()) : null;
    int width = table != null ? table.cols() : halfTable.cols();
    float[] e = new float[seqLen * width];
    for (int p = 0; p < seqLen; p++) {
      int id = tokens[p];
      if (id < 0 || id >= spec.vocabSize()) {
        throw new IllegalArgumentException("Token id " + id + " at position " + p + " is outside the vocabulary [0, " + spec.vocabSize() + ")");
      }
      if (table != null) {
        System.arraycopy(table.data(), id * width, e, p * width, width);
      } else {
        halfTable.widen(id * width, e, p * width, width);
      }
    }
    if (spec.architecture() == Architecture.LLAMA) {
      return e;
    }
    float[] h = projectIn != null ? projectIn.apply(e, seqLen) : e;
    if (seqLen > spec.maxPositionEmbeddings()) {
      throw new IllegalArgumentException("Window of " + seqLen + " tokens exceeds max_position_embeddings " + spec.maxPositionEmbeddings());
    }
    float[] pos = globals.get("model.decoder.embed_positions.weight").data();
    int d = spec.hiddenSize();
    for (int p = 0; p < seqLen; p++) {
      int row = (p + ModelSpec.OPT_POSITION_OFFSET) * d;
      for (int c = 0; c < d; c++) {
        h[p * d + c] += pos[row + c];
      }
    }
    return h;
  }

  /** Runs block {@code i} on hidden states (seqLen, hiddenSize). */
  public float[] block(int i, float[] hidden, int seqLen) {
    return blocks.get(i).forward(hidden, seqLen);
  }

  /** The final norm (and OPT's project_out): the last hidden state as transformers returns it. */
  public float[] finalHidden(float[] hidden, int seqLen) {
    int d = spec.hiddenSize();
    if (spec.architecture() == Architecture.LLAMA) {
      return Ops.rmsNorm(hidden, seqLen, d, globals.get("model.norm.weight").data(), spec.normEps());
    }
    float[] h = hidden;
    if (spec.finalLayerNorm()) {
      h = Ops.layerNorm(h, seqLen, d, globals.get("model.decoder.final_layer_norm.weight").data(),
          globals.get("model.decoder.final_layer_norm.bias").data(), spec.normEps());
    }
    return projectOut != null ? projectOut.apply(h, seqLen) : h;
  }

  /** Logits (seqLen, vocabSize) from the final hidden state. */
  public float[] logits(float[] finalHidden, int seqLen) {
    return head.apply(finalHidden, seqLen);
  }

  /** Logits of a window with the blocks in {@code skip} left out (depth-pruning candidates); pass an empty set for the full model. */
  public float[] logits(int[] tokens, Set<Integer> skip) {
    int seqLen = tokens.length;
    float[] h = embed(tokens);
    for (int i = 0; i < blocks.size(); i++) {
      if (!skip.contains(i)) {
        h = block(i, h, seqLen);
      }
    }
    return logits(finalHidden(h, seqLen), seqLen);
  }

  /** Window NLL: mean cross-entropy of the logits at positions 0..n−2 against the tokens at 1..n−1. */
  public double windowNll(int[] tokens) {
    return windowNll(tokens, Set.of());
  }

  public double windowNll(int[] tokens, Set<Integer> skip) {
    int seqLen = tokens.length;
    float[] h = embed(tokens);
    for (int i = 0; i < blocks.size(); i++) {
      if (!skip.contains(i)) {
        h = block(i, h, seqLen);
      }
    }
    return nllFromLastHidden(h, tokens);
  }

  /** Activation floats a stacked product may reach in {@link #windowNlls} (2^24: 64 MB). */
  static final long STACK_BUDGET_FLOATS = 1L << 24;
  /** At most this many windows are stacked into one product in {@link #windowNlls}. */
  static final int MAX_STACKED_WINDOWS = 8;

  /**
   * Windows of {@code seqLen} tokens that {@link #windowNlls} stacks into one product: up to
   * {@value #MAX_STACKED_WINDOWS}, while the widest activation (rows × max(hidden, intermediate)) stays within
   * {@value #STACK_BUDGET_FLOATS} floats: 8 for the examples, 2 at LLaMA-7B shapes with 512-token windows. A function
   * of the model's shape only, so a caller that groups windows by it groups them the same way on any cluster.
   */
  public static int windowsPerProduct(ModelSpec spec, int seqLen) {
    long widest = (long) seqLen * Math.max(spec.hiddenSize(), spec.intermediateSize());
    return (int) Math.max(1, Math.min(MAX_STACKED_WINDOWS, STACK_BUDGET_FLOATS / Math.max(1, widest)));
  }

  /**
   * The NLLs of several windows of the same length, their blocks run stacked (one product per linear over all their
   * rows, {@link DecoderBlock#stackedRows}); the head and loss a window at a time. Each window attends only to
   * itself, so each NLL is that of {@link #windowNll} up to the products' summation order.
   */
  public double[] windowNlls(List<int[]> windows) {
    float[] h = embedStacked(windows);
    for (int i = 0; i < blocks.size(); i++) {
      h = block(i, h, windows.get(0).length);
    }
    return nllsFromStackedHidden(h, windows);
  }

  /** The embeddings of windows of the same length, stacked: (windows·n, hiddenSize), as {@link #windowNlls} runs them. */
  public float[] embedStacked(List<int[]> windows) {
    int n = windows.get(0).length;
    int d = spec.hiddenSize();
    float[] h = new float[windows.size() * n * d]; // (windows·n, hiddenSize)
    for (int w = 0; w < windows.size(); w++) {
      if (windows.get(w).length != n) {
        throw new IllegalArgumentException("Stacked windows must have the same length: window " + w + " has " + windows.get(w).length
            + " tokens, window 0 has " + n);
      }
      System.arraycopy(embed(windows.get(w)), 0, h, w * n * d, n * d);
    }
    return h;
  }

  /** {@link #nllFromLastHidden} of each window of a stack's last-block output (windows·n, hiddenSize). */
  public double[] nllsFromStackedHidden(float[] h, List<int[]> windows) {
    int n = windows.get(0).length;
    int d = spec.hiddenSize();
    double[] nlls = new double[windows.size()];
    for (int w = 0; w < windows.size(); w++) {
      nlls[w] = nllFromLastHidden(java.util.Arrays.copyOfRange(h, w * n * d, (w + 1) * n * d), windows.get(w));
    }
    return nlls;
  }

  /**
   * Window NLL from the output of the last block (seqLen, hiddenSize): final norm (+ OPT project_out), head, then
   * {@link #meanNextTokenNll}. {@link #windowNll} ends with exactly this call; it needs only the globals.
   */
  public double nllFromLastHidden(float[] lastBlockOutput, int[] tokens) {
    int seqLen = tokens.length;
    return meanNextTokenNll(logits(finalHidden(lastBlockOutput, seqLen), seqLen), tokens, spec.vocabSize());
  }

  /**
   * Mean over positions 0..n−2 of −log softmax(logits[p])[tokens[p+1]]: per row, the maximum, one fp32
   * {@link Ops#exp} per logit in 8 lanes summed in fp64, and the log in fp64. The rows of {@code logits} are
   * overwritten with e^(z − max).
   */
  public static double meanNextTokenNll(float[] logits, int[] tokens, int vocab) {
    double total = 0;
    int n = tokens.length;
    for (int p = 0; p < n - 1; p++) {
      int base = p * vocab;
      float max = Ops.max(logits, base, vocab);
      double shiftedTarget = logits[base + tokens[p + 1]] - max;
      total += Math.log(Ops.expShiftedInPlace(logits, base, vocab, max)) - shiftedTarget;
    }
    return total / (n - 1);
  }

  /**
   * The training pass of one window: the summed next-token NLL over positions 0..n−2 (log-sum-exp in fp64) and, for
   * every full tensor name that {@code gradients} maps to an array, d(NLL)/d(tensor) added into it in the tensor's
   * layout: block tensors, the final norm, the head, the token embeddings (rows of the window's tokens; a tied head
   * adds into the same array) and OPT's positions and projections. Tensors without an entry get no gradient.
   * Each block's forward keeps its activations on a tape for its backward; with {@code recompute} only the block
   * inputs are kept and each block's forward is run again just before its backward (activation checkpointing:
   * seqLen·hiddenSize floats per block instead of the whole tape).
   */
  public double backward(int[] tokens, Map<String, float[]> gradients, boolean recompute) {
    return backward(tokens, gradients, recompute, null);
  }

  /**
   * As {@link #backward(int[], Map, boolean)}, as a training forward when {@code dropoutSeed} is given (LoRA dropout on,
   * its masks drawn from the seed and the block index). A LoRA adapter's gradients go to
   * {@code <block prefix><linear>.lora_A.weight} and {@code .lora_B.weight}.
   */
  public double backward(int[] tokens, Map<String, float[]> gradients, boolean recompute, Long dropoutSeed) {
    return backward(tokens, gradients, recompute, dropoutSeed, null);
  }

  /** Positions per chunk of the head and its loss in {@link #backward}. */
  static final int LOSS_CHUNK = 128;

  /**
   * As {@link #backward(int[], Map, boolean, Long)} with the loss of {@code distillation} instead of the plain NLL when
   * given: per position τ²·KL(p_t^τ ‖ p_s^τ) + w_ce·NLL, the teacher's logits computed a chunk of positions at a time.
   */
  public double backward(int[] tokens, Map<String, float[]> gradients, boolean recompute, Long dropoutSeed, Distillation distillation) {
    int n = tokens.length;
    if (n < 2) {
      throw new IllegalArgumentException("A window needs at least 2 tokens for a next-token loss, found " + n);
    }
    boolean llama = spec.architecture() == Architecture.LLAMA;
    int d = spec.hiddenSize();
    int vocab = spec.vocabSize();
    float[][] inputs = new float[blocks.size()][]; // each (n, hiddenSize)
    DecoderBlock.Tape[] tapes = new DecoderBlock.Tape[blocks.size()];
    float[] h = embed(tokens); // (n, hiddenSize)
    for (int i = 0; i < blocks.size(); i++) {
      inputs[i] = h;
      tapes[i] = recompute ? null : new DecoderBlock.Tape(blockSeed(dropoutSeed, i));
      h = blocks.get(i).forward(h, n, null, recompute ? new DecoderBlock.Tape(blockSeed(dropoutSeed, i), false) : tapes[i]);
    }
    float[] normed = h; // the final norm's output (n, hiddenSize)
    if (llama) {
      normed = Ops.rmsNorm(h, n, d, globals.get("model.norm.weight").data(), spec.normEps());
    } else if (spec.finalLayerNorm()) {
      normed = Ops.layerNorm(h, n, d, globals.get("model.decoder.final_layer_norm.weight").data(),
          globals.get("model.decoder.final_layer_norm.bias").data(), spec.normEps());
    }
    float[] last = projectOut != null ? projectOut.apply(normed, n) : normed; // (n, wordEmbedProjDim)
    String headName = spec.tieWordEmbeddings() ? spec.embedTokensName() : "lm_head.weight";
    Linear trainingHead = trainingHead();
    float[] dLast = new float[last.length]; // (n, wordEmbedProjDim); the last position predicts nothing
    float[] teacherLast = distillation == null ? null : distillation.teacher().lastHidden(tokens); // (n, teacher's width)
    int width = spec.wordEmbedProjDim();
    int teacherWidth = distillation == null ? 0 : distillation.teacher().spec().wordEmbedProjDim();
    double loss = 0;
    for (int p0 = 0; p0 < n - 1; p0 += LOSS_CHUNK) { // the head and its loss a chunk of positions at a time: LOSS_CHUNK × vocab floats
      int rows = Math.min(LOSS_CHUNK, n - 1 - p0);
      float[] x = java.util.Arrays.copyOfRange(last, p0 * width, (p0 + rows) * width); // (rows, wordEmbedProjDim)
      float[] logits = trainingHead.apply(x, rows); // (rows, vocabSize), then d(loss)/d(logits)
      float[] teacherLogits = distillation == null ? null
          : distillation.teacher().logits(java.util.Arrays.copyOfRange(teacherLast, p0 * teacherWidth, (p0 + rows) * teacherWidth), rows);
      for (int r = 0; r < rows; r++) {
        loss += distillation == null ? crossEntropyRow(logits, r * vocab, vocab, tokens[p0 + r + 1], 1.0)
            : distillation.lossRow(logits, teacherLogits, r * vocab, vocab, tokens[p0 + r + 1]);
      }
      float[] dx = new float[rows * width];
      trainingHead.backward(logits, x, rows, dx, gradients.get(headName), null);
      System.arraycopy(dx, 0, dLast, p0 * width, rows * width);
    }
    float[] dh = dLast;
    if (projectOut != null) {
      dh = new float[n * d];
      projectOut.backward(dLast, normed, n, dh, gradients.get("model.decoder.project_out.weight"), null);
    }
    if (llama) {
      dh = Ops.rmsNormBackward(dh, h, n, d, globals.get("model.norm.weight").data(), spec.normEps(), gradients.get("model.norm.weight"));
    } else if (spec.finalLayerNorm()) {
      dh = Ops.layerNormBackward(dh, h, n, d, globals.get("model.decoder.final_layer_norm.weight").data(), spec.normEps(),
          gradients.get("model.decoder.final_layer_norm.weight"), gradients.get("model.decoder.final_layer_norm.bias"));
    }
    for (int i = blocks.size() - 1; i >= 0; i--) {
      DecoderBlock block = blocks.get(i);
      DecoderBlock.Tape tape = tapes[i];
      if (tape == null) {
        tape = new DecoderBlock.Tape(blockSeed(dropoutSeed, i));
        block.forward(inputs[i], n, null, tape);
      }
      Map<String, float[]> blockGradients = new java.util.HashMap<>();
      String prefix = spec.blockPrefix(i);
      List<String> names = new java.util.ArrayList<>(spec.blockTensorShapes().keySet());
      for (String linear : block.adapters().keySet()) {
        names.add(linear + ".lora_A.weight");
        names.add(linear + ".lora_B.weight");
      }
      for (String name : names) {
        float[] g = gradients.get(prefix + name);
        if (g != null) {
          blockGradients.put(name, g);
        }
      }
      dh = block.backward(tape, dh, n, blockGradients);
      tapes[i] = null;
      inputs[i] = null;
    }
    embedBackward(tokens, dh, gradients);
    return loss;
  }

  /**
   * The head for the training pass: itself when held in fp32 (trained in place), else widened once and kept (a frozen
   * 16-bit head is used twice per chunk of every window; LLaMA-7B's is 0.5 GB in fp32, and widening it at each use left
   * G1 unable to find room for it in a 5 GB executor).
   */
  private Linear trainingHead() {
    if (head.heldInFp32()) {
      return head;
    }
    Linear h = trainingHead;
    if (h == null) {
      synchronized (this) {
        h = trainingHead;
        if (h == null) {
          h = head.withWeight(head.weight().data());
          trainingHead = h;
        }
      }
    }
    return h;
  }

  /**
   * −log softmax(z)[target] of one row of logits (weighted by {@code weight}), and the row overwritten with
   * weight·(softmax(z) − onehot(target)), its gradient: one fp32 {@link Ops#exp} per logit in 8 lanes, the sum and the
   * log in fp64.
   */
  static double crossEntropyRow(float[] logits, int base, int vocab, int target, double weight) {
    float max = Ops.max(logits, base, vocab);
    double nll = -(logits[base + target] - max);
    double sum = Ops.expShiftedInPlace(logits, base, vocab, max); // row ← e^(z − max) in fp32, summed in fp64
    nll += Math.log(sum);
    Ops.scaleInPlace(logits, base, vocab, (float) (weight / sum));
    logits[base + target] -= (float) weight;
    return weight * nll;
  }

  /**
   * Knowledge distillation (Hinton et al. 2015; docs/depth_quant.md §4): per position, the forward KL from the
   * teacher's to the student's next-token distribution at temperature τ, scaled by τ² so its gradient keeps the CE
   * scale, plus {@code ceWeight} times the NLL of the true next token. The teacher shares the student's vocabulary.
   */
  public record Distillation(CausalLm teacher, double temperature, double ceWeight) {
    /** One position: its loss, and the student's logits row overwritten with d(loss)/d(logits). */
    double lossRow(float[] student, float[] teacher, int base, int vocab, int target) {
      double t = temperature;
      double maxS = Double.NEGATIVE_INFINITY;
      double maxT = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < vocab; j++) {
        maxS = Math.max(maxS, student[base + j] / t);
        maxT = Math.max(maxT, teacher[base + j] / t);
      }
      double sumS = 0;
      double sumT = 0;
      for (int j = 0; j < vocab; j++) {
        sumS += Math.exp(student[base + j] / t - maxS);
        sumT += Math.exp(teacher[base + j] / t - maxT);
      }
      double logZs = maxS + Math.log(sumS);
      double logZt = maxT + Math.log(sumT);
      double kl = 0;
      double[] grad = new double[vocab];
      for (int j = 0; j < vocab; j++) {
        double logPt = teacher[base + j] / t - logZt;
        double logPs = student[base + j] / t - logZs;
        double pt = Math.exp(logPt);
        kl += pt * (logPt - logPs);
        grad[j] = t * (Math.exp(logPs) - pt); // d(τ²·KL)/dz_s
      }
      double ce = 0;
      if (ceWeight > 0) {
        ce = crossEntropyRow(student, base, vocab, target, ceWeight); // the row now holds the CE gradient
      } else {
        java.util.Arrays.fill(student, base, base + vocab, 0f);
      }
      for (int j = 0; j < vocab; j++) {
        student[base + j] += (float) grad[j];
      }
      return t * t * kl + ce;
    }
  }

  /** The last hidden state (seqLen, wordEmbedProjDim) of a window: embed, every block, final norm (and project_out). */
  public float[] lastHidden(int[] tokens) {
    float[] h = embed(tokens);
    for (int i = 0; i < blocks.size(); i++) {
      h = block(i, h, tokens.length);
    }
    return finalHidden(h, tokens.length);
  }

  private static Long blockSeed(Long seed, int block) {
    return seed == null ? null : seed * 31 + block;
  }

  /** Backward of {@link #embed}: dh (n, hiddenSize) into the token rows (and OPT's position rows and project_in). */
  private void embedBackward(int[] tokens, float[] dh, Map<String, float[]> gradients) {
    int n = tokens.length;
    float[] de = dh; // (n, wordEmbedProjDim)
    if (spec.architecture() == Architecture.OPT) {
      int d = spec.hiddenSize();
      float[] dPos = gradients.get("model.decoder.embed_positions.weight");
      for (int p = 0; dPos != null && p < n; p++) {
        int row = (p + ModelSpec.OPT_POSITION_OFFSET) * d;
        for (int c = 0; c < d; c++) {
          dPos[row + c] += dh[p * d + c];
        }
      }
      if (projectIn != null) {
        de = new float[n * spec.wordEmbedProjDim()];
        float[] e = embedTokensOnly(tokens);
        projectIn.backward(dh, e, n, de, gradients.get("model.decoder.project_in.weight"), null);
      }
    }
    float[] dTable = gradients.get(spec.embedTokensName());
    int width = spec.wordEmbedProjDim();
    for (int p = 0; dTable != null && p < n; p++) {
      int row = tokens[p] * width;
      for (int c = 0; c < width; c++) {
        dTable[row + c] += de[p * width + c];
      }
    }
  }

  /** The token embeddings alone (n, wordEmbedProjDim): OPT's project_in input. */
  private float[] embedTokensOnly(int[] tokens) {
    Tensor table = globals.get(spec.embedTokensName());
    HalfTensor halfTable = table == null ? halves.get(spec.embedTokensName()) : null;
    int width = spec.wordEmbedProjDim();
    float[] e = new float[tokens.length * width];
    for (int p = 0; p < tokens.length; p++) {
      if (table != null) {
        System.arraycopy(table.data(), tokens[p] * width, e, p * width, width);
      } else {
        halfTable.widen(tokens[p] * width, e, p * width, width);
      }
    }
    return e;
  }

  /** FLOPs of one full forward pass over {@code seqLen} tokens (matrix products only). */
  public long flops(int seqLen) {
    long f = head.flops(seqLen);
    for (DecoderBlock b : blocks) {
      f += b.flops(seqLen);
    }
    if (projectIn != null) {
      f += projectIn.flops(seqLen) + projectOut.flops(seqLen);
    }
    return f;
  }
}
