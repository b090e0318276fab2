package sparkslim.core.grad;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import sparkslim.core.linalg.Blas;
import sparkslim.core.model.Architecture;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.model.Tensor;

/**
 * fp64 copy of a CausalLm's parameters, with a forward pass and a hand-written backward pass. Not thread-safe; Serializable not needed.
 *
 * <p>The forward pass is the math of {@link CausalLm#logits(int[], Set)} (LlamaBlock, OptBlock, Ops) in fp64. The backward pass
 * keeps the activations of one window (O(seqLen·width) per block; attention probabilities are recomputed per head) and
 * backpropagates the summed next-token NLL from the head through the final norm (and OPT's project_out) down to block 0's input.
 */
public final class CausalLmBackward {
  private final ModelSpec spec;
  private final List<Map<String, double[]>> blocks; // per block: name relative to the block prefix -> values, in blockTensorShapes order
  private final double[] embedTokens; // (vocabSize, wordEmbedProjDim)
  private final double[] embedPositions; // OPT: (maxPositionEmbeddings + 2, hiddenSize); LLaMA: null
  private final double[] projectIn; // OPT with wordEmbedProjDim != hiddenSize: (hiddenSize, wordEmbedProjDim); else null
  private final double[] projectOut; // likewise (wordEmbedProjDim, hiddenSize), or null
  private final double[] finalNormWeight; // (hiddenSize), or null (OPT without final layer norm)
  private final double[] finalNormBias; // OPT: (hiddenSize), or null
  private final double[] head; // (vocabSize, wordEmbedProjDim); the embedTokens array itself when tied
  private double[][] rope; // LLaMA {cos, sin}, each (positions, headDim), grown on demand

  public CausalLmBackward(CausalLm lm) {
    this.spec = lm.spec();
    this.blocks = new ArrayList<>(lm.numBlocks());
    for (int i = 0; i < lm.numBlocks(); i++) {
      Map<String, Tensor> tensors = lm.blocks().get(i).tensors();
      Map<String, double[]> copy = new LinkedHashMap<>();
      for (String name : spec.blockTensorShapes().keySet()) {
        copy.put(name, toDouble(tensors.get(name), "block " + i + " tensor " + name));
      }
      blocks.add(copy);
    }
    Map<String, Tensor> g = lm.globals();
    boolean llama = spec.architecture() == Architecture.LLAMA;
    this.embedTokens = toDouble(g.get(spec.embedTokensName()), spec.embedTokensName());
    this.embedPositions = llama ? null : toDouble(g.get("model.decoder.embed_positions.weight"), "model.decoder.embed_positions.weight");
    boolean projected = !llama && spec.wordEmbedProjDim() != spec.hiddenSize();
    this.projectIn = projected ? toDouble(g.get("model.decoder.project_in.weight"), "model.decoder.project_in.weight") : null;
    this.projectOut = projected ? toDouble(g.get("model.decoder.project_out.weight"), "model.decoder.project_out.weight") : null;
    String normW = llama ? "model.norm.weight" : "model.decoder.final_layer_norm.weight";
    boolean finalNorm = llama || spec.finalLayerNorm();
    this.finalNormWeight = finalNorm ? toDouble(g.get(normW), normW) : null;
    this.finalNormBias = finalNorm && !llama ? toDouble(g.get("model.decoder.final_layer_norm.bias"), "model.decoder.final_layer_norm.bias") : null;
    this.head = spec.tieWordEmbeddings() ? embedTokens : toDouble(g.get("lm_head.weight"), "lm_head.weight");
  }

  private static double[] toDouble(Tensor t, String what) {
    if (t == null) {
      throw new IllegalArgumentException("CausalLm has no " + what);
    }
    float[] f = t.data();
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      d[i] = f[i];
    }
    return d;
  }

  public ModelSpec spec() {
    return spec;
  }

  /** Summed next-token NLL of the window: sum over positions p = 0..n-2 of -log softmax(logits[p])[tokens[p+1]], in fp64, with the blocks in skip left out of the layer loop. */
  public double loss(int[] tokens, Set<Integer> skip) {
    return run(tokens, skip, false).loss();
  }

  /** loss(tokens, skip) and the gradient of that summed loss w.r.t. every tensor of every block NOT in skip. */
  public Result backward(int[] tokens, Set<Integer> skip) {
    return run(tokens, skip, true);
  }

  /** The live fp64 values of a block tensor (name relative to ModelSpec.blockPrefix, e.g. "self_attn.q_proj.weight"), row-major like Tensor.data(); mutable so tests can perturb an entry and call loss() again. */
  public double[] parameter(int block, String name) {
    double[] p = blocks.get(block).get(name);
    if (p == null) {
      throw new IllegalArgumentException("Block " + block + " has no tensor '" + name + "'; it has " + blocks.get(block).keySet());
    }
    return p;
  }

  /** gradients: block index (ascending) -> tensor name (in ModelSpec.blockTensorShapes() order, relative to the block prefix, e.g. "mlp.down_proj.weight", "input_layernorm.weight", "fc1.bias") -> d(loss)/d(tensor), same layout as the tensor. Every tensor of every non-skipped block is present, including biases and norm weights. */
  public record Result(double loss, Map<Integer, Map<String, double[]>> gradients, Map<String, double[]> globalGradients) {}

  /** Forward (and with grad, backward) over one window; without grad the gradient map is empty. */
  private Result run(int[] tokens, Set<Integer> skip, boolean grad) {
    int n = tokens.length;
    if (n < 2) {
      throw new IllegalArgumentException("A window needs at least 2 tokens for a next-token loss, found " + n);
    }
    boolean llama = spec.architecture() == Architecture.LLAMA;
    int d = spec.hiddenSize();
    int wep = spec.wordEmbedProjDim();
    int vocab = spec.vocabSize();
    List<Integer> active = new ArrayList<>();
    for (int i = 0; i < blocks.size(); i++) {
      if (!skip.contains(i)) {
        active.add(i);
      }
    }
    Acts[] acts = new Acts[blocks.size()];
    double[] h = embed(tokens); // (n, hiddenSize)
    for (int i : active) {
      acts[i] = grad ? new Acts() : null;
      h = llama ? BlockPasses.llamaForward(this, blocks.get(i), h, n, acts[i]) : BlockPasses.optForward(this, blocks.get(i), h, n, acts[i]);
    }
    // final norm (and OPT project_out): (n, hiddenSize) -> (n, wordEmbedProjDim)
    Fp64Ops.NormCache[] finalCache = new Fp64Ops.NormCache[1];
    double[] last = finalNormWeight == null ? h
        : Fp64Ops.norm(h, n, d, finalNormWeight, finalNormBias, spec.normEps(), !llama, finalCache);
    if (projectOut != null) {
      last = Fp64Ops.linear(last, n, projectOut, wep, d, null);
    }
    // logits of rows 0..n-2 only: the row-major prefix of last
    double[] logits = Blas.dmatmulTransposed(last, n - 1, wep, head, vocab); // (n-1, vocabSize)
    double loss = nllAndGradient(logits, tokens, vocab, grad);
    if (!grad) {
      return new Result(loss, Map.of(), Map.of());
    }
    Map<String, double[]> globalGradients = new LinkedHashMap<>();
    double[] dLast = new double[n * wep]; // row n-1 stays zero
    Blas.daddProduct(dLast, 1.0, logits, n - 1, vocab, head, wep); // logits now hold dLoss/dLogits
    double[] dHead = new double[vocab * wep];
    Blas.daddTransposedProduct(dHead, 1.0, logits, n - 1, vocab, last, wep);
    double[] dEmbed = new double[embedTokens.length];
    if (spec.tieWordEmbeddings()) {
      dEmbed = dHead;
    } else {
      globalGradients.put("lm_head.weight", dHead);
    }
    globalGradients.put(spec.embedTokensName(), dEmbed);
    double[] dh = dLast;
    if (projectOut != null) {
      dh = Blas.dmatmul(dLast, n, wep, projectOut, d);
      double[] dProj = new double[projectOut.length];
      double[] normed = finalNormWeight == null ? h : finalNormOutput(finalCache[0]);
      Blas.daddTransposedProduct(dProj, 1.0, dLast, n, wep, normed, d);
      globalGradients.put("model.decoder.project_out.weight", dProj);
    }
    if (finalNormWeight != null) {
      double[] dw = new double[d];
      double[] db = finalNormBias == null ? null : new double[d];
      dh = Fp64Ops.normBackward(dh, finalCache[0], finalNormWeight, dw, db, !llama);
      globalGradients.put(llama ? "model.norm.weight" : "model.decoder.final_layer_norm.weight", dw);
      if (db != null) {
        globalGradients.put("model.decoder.final_layer_norm.bias", db);
      }
    }
    Map<Integer, Map<String, double[]>> gradients = new TreeMap<>();
    for (int a = active.size() - 1; a >= 0; a--) {
      int i = active.get(a);
      Map<String, double[]> gr = new LinkedHashMap<>();
      for (Map.Entry<String, double[]> e : blocks.get(i).entrySet()) {
        gr.put(e.getKey(), new double[e.getValue().length]);
      }
      dh = llama ? BlockPasses.llamaBackward(this, blocks.get(i), acts[i], dh, n, gr)
          : BlockPasses.optBackward(this, blocks.get(i), acts[i], dh, n, gr);
      acts[i] = null;
      gradients.put(i, gr);
    }
    embedBackward(tokens, dh, dEmbed, globalGradients);
    return new Result(loss, gradients, globalGradients);
  }

  /** w ⊙ x̂ + b of the final norm, from its cache. */
  private double[] finalNormOutput(Fp64Ops.NormCache c) {
    double[] y = new double[c.xhat().length];
    for (int r = 0; r < c.rows(); r++) {
      for (int j = 0; j < c.cols(); j++) {
        y[r * c.cols() + j] = finalNormWeight[j] * c.xhat()[r * c.cols() + j] + (finalNormBias == null ? 0 : finalNormBias[j]);
      }
    }
    return y;
  }

  /** Backward of {@link #embed}: dh (n, hiddenSize) into the token rows, OPT's position rows and project_in. */
  private void embedBackward(int[] tokens, double[] dh, double[] dEmbed, Map<String, double[]> globalGradients) {
    int n = tokens.length;
    int width = spec.wordEmbedProjDim();
    double[] de = dh;
    if (spec.architecture() == Architecture.OPT) {
      int d = spec.hiddenSize();
      double[] dPos = new double[embedPositions.length];
      for (int p = 0; p < n; p++) {
        for (int c = 0; c < d; c++) {
          dPos[(p + ModelSpec.OPT_POSITION_OFFSET) * d + c] += dh[p * d + c];
        }
      }
      globalGradients.put("model.decoder.embed_positions.weight", dPos);
      if (projectIn != null) {
        double[] e = new double[n * width];
        for (int p = 0; p < n; p++) {
          System.arraycopy(embedTokens, tokens[p] * width, e, p * width, width);
        }
        de = Blas.dmatmul(dh, n, d, projectIn, width);
        double[] dProj = new double[projectIn.length];
        Blas.daddTransposedProduct(dProj, 1.0, dh, n, d, e, width);
        globalGradients.put("model.decoder.project_in.weight", dProj);
      }
    }
    for (int p = 0; p < n; p++) {
      for (int c = 0; c < width; c++) {
        dEmbed[tokens[p] * width + c] += de[p * width + c];
      }
    }
  }

  /**
   * Summed next-token NLL of logits (n-1, vocab) against tokens[1..n-1], log-sum-exp in fp64. With grad, overwrites
   * logits with d(loss)/d(logits) = softmax − onehot(target).
   */
  private static double nllAndGradient(double[] logits, int[] tokens, int vocab, boolean grad) {
    double total = 0;
    for (int p = 0; p < tokens.length - 1; p++) {
      int base = p * vocab;
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < vocab; j++) {
        max = Math.max(max, logits[base + j]);
      }
      double sum = 0;
      for (int j = 0; j < vocab; j++) {
        sum += Math.exp(logits[base + j] - max);
      }
      double logZ = max + Math.log(sum);
      int target = tokens[p + 1];
      total += logZ - logits[base + target];
      if (grad) {
        for (int j = 0; j < vocab; j++) {
          logits[base + j] = Math.exp(logits[base + j] - logZ);
        }
        logits[base + target] -= 1.0;
      }
    }
    return total;
  }

  /** Embedding output (n, hiddenSize); for OPT through project_in and with learned positions (offset 2) added. */
  private double[] embed(int[] tokens) {
    int n = tokens.length;
    int width = spec.wordEmbedProjDim();
    double[] e = new double[n * width];
    for (int p = 0; p < n; p++) {
      int id = tokens[p];
      if (id < 0 || id >= spec.vocabSize()) {
        throw new IllegalArgumentException("Token id " + id + " at position " + p + " is outside the vocabulary [0, " + spec.vocabSize() + ")");
      }
      System.arraycopy(embedTokens, id * width, e, p * width, width);
    }
    if (spec.architecture() == Architecture.LLAMA) {
      return e;
    }
    if (n > spec.maxPositionEmbeddings()) {
      throw new IllegalArgumentException("Window of " + n + " tokens exceeds max_position_embeddings " + spec.maxPositionEmbeddings());
    }
    int d = spec.hiddenSize();
    double[] h = projectIn != null ? Fp64Ops.linear(e, n, projectIn, d, width, null) : e;
    for (int p = 0; p < n; p++) {
      int row = (p + ModelSpec.OPT_POSITION_OFFSET) * d;
      for (int c = 0; c < d; c++) {
        h[p * d + c] += embedPositions[row + c];
      }
    }
    return h;
  }

  /** RoPE tables covering at least n positions. */
  double[][] rope(int n) {
    if (rope == null || rope[0].length < n * spec.headDim()) {
      rope = Fp64Ops.ropeTables(n, spec.headDim(), spec.ropeTheta());
    }
    return rope;
  }

  /** Activations of one block kept from its forward pass for its backward pass (fields unused by an architecture stay null). */
  static final class Acts {
    Fp64Ops.NormCache norm1; // input_layernorm / self_attn_layer_norm
    Fp64Ops.NormCache norm2; // post_attention_layernorm / final_layer_norm
    double[] x; // input of q/k/v (seqLen, hiddenSize)
    double[] q; // after RoPE (seqLen, numHeads·headDim)
    double[] k; // after RoPE (seqLen, numKvHeads·headDim)
    double[] v; // (seqLen, numKvHeads·headDim)
    double[] attn; // input of o_proj/out_proj (seqLen, numHeads·headDim)
    double[] y; // input of the MLP (seqLen, hiddenSize)
    double[] gate; // LLaMA gate_proj output (seqLen, intermediateSize)
    double[] up; // LLaMA up_proj output (seqLen, intermediateSize)
    double[] act; // input of down_proj/fc2: silu(gate)·up or relu(fc1) (seqLen, intermediateSize)

    /** Keeps what both block kinds' backward passes read (gate and up are LLaMA's, set separately). */
    void keep(Fp64Ops.NormCache norm1, Fp64Ops.NormCache norm2, double[] x, double[] q, double[] k, double[] v, double[] attn, double[] y,
              double[] act) {
      this.norm1 = norm1;
      this.norm2 = norm2;
      this.x = x;
      this.q = q;
      this.k = k;
      this.v = v;
      this.attn = attn;
      this.y = y;
      this.act = act;
    }
  }
}
