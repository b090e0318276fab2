package sparkslim.core.config;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/**
 * Every configuration key sparkslim accepts. The same spelling is used in {@code conf/*.yaml}, on the command line
 * ({@code --eval.seqlen=512}), in log lines and in error messages. Defaults live in {@code conf/defaults.yaml}.
 */
public enum ConfigKey {
  MODEL_PATH("model.path", Type.STRING, "HuggingFace model directory (local path, file:// or hdfs://)"),
  OUTPUT_PATH("output.path", Type.STRING, "Output directory; _SUCCESS is written last"),
  EVAL_TEXTS("eval.texts", Type.LIST, "Comma-separated text files to measure perplexity on"),
  EVAL_SEQLEN("eval.seqlen", Type.INT, "Tokens per evaluation window"),
  EVAL_MAX_WINDOWS("eval.max-windows", Type.INT, "Evaluate at most this many windows per text (0 = all)"),
  EVAL_PARTITIONS("eval.partitions", Type.INT, "Spark partitions of the evaluation windows (0 = 2 x default parallelism)"),
  EVAL_MODE("eval.mode", Type.STRING, "eval: auto | in-memory (broadcast the fp32 model) | streamed (one block per stage, read by the executors from the files)"),
  CALIBRATION_TEXT("calibration.text", Type.STRING, "Calibration text file (windows drawn with the SparseGPT sampler)"),
  CALIBRATION_WINDOWS("calibration.windows", Type.STRING, "Calibration token windows: safetensors 'calibration_windows' [n, seqlen] or Parquet 'tokens'"),
  CALIBRATION_NUM_SAMPLES("calibration.num-samples", Type.INT, "Number of calibration windows"),
  CALIBRATION_SEQLEN("calibration.seqlen", Type.INT, "Tokens per calibration window"),
  CALIBRATION_SEED("calibration.seed", Type.INT, "Seed of the SparseGPT sampler (Python random.seed)"),
  CALIBRATION_PARTITIONS("calibration.partitions", Type.INT, "Spark partitions of the calibration samples (0 = 2 x default parallelism); results do not depend on it"),
  PRUNING_METHOD("pruning.method", Type.STRING, "magnitude | wanda | sparsegpt | sparsellm"),
  PRUNING_SPARSITY("pruning.sparsity", Type.DOUBLE, "Target fraction of zeros per pruned linear, in [0, 1)"),
  PRUNING_MASK_STRUCTURE("pruning.mask-structure", Type.STRING, "unstructured | N:M (e.g. 2:4)"),
  PRUNING_DAMPENING_FRACTION("pruning.dampening-fraction", Type.DOUBLE, "SparseGPT: H += fraction * mean(diag H) * I"),
  PRUNING_BLOCK_SIZE("pruning.block-size", Type.INT, "SparseGPT: columns per lazy-update block"),
  PRUNING_ZERO_DEAD_COLUMNS("pruning.zero-dead-columns", Type.BOOLEAN, "SparseGPT: also zero weights of inputs never active in calibration (reference code rule)"),
  PRUNING_LAYERS("pruning.layers", Type.STRING, "all | first-half: prune every block, or only the first half (the SparseLLM paper's protocol)"),
  PRUNING_SPARSELLM_ALPHA("pruning.sparsellm.alpha", Type.STRING, "SparseLLM: alpha > 0, weight of ||z - W1 X - b1||^2 (and ||s - W_gate X||^2); auto = per architecture"),
  PRUNING_SPARSELLM_BETA("pruning.sparsellm.beta", Type.STRING, "SparseLLM: beta > 0, weight of ||W2 p + b2 - Y||^2; auto = per architecture"),
  PRUNING_SPARSELLM_GAMMA("pruning.sparsellm.gamma", Type.STRING, "SparseLLM: gamma > 0, weight of ||p - act(z)||^2; auto = per architecture"),
  PRUNING_SPARSELLM_ITERATIONS("pruning.sparsellm.iterations", Type.STRING, "SparseLLM: alternations per FFN (>= 1; 1 = SparseGPT); auto = per architecture"),
  PRUNING_SPARSELLM_S_GRADIENT_STEPS("pruning.sparsellm.s-gradient-steps", Type.INT, "SparseLLM (LLaMA): gradient steps of the s-update per alternation"),
  PRUNING_SPARSELLM_S_LEARNING_RATE("pruning.sparsellm.s-learning-rate", Type.DOUBLE, "SparseLLM (LLaMA): initial step size of each s gradient step"),
  QUANTIZATION_METHOD("quantization.method", Type.STRING, "none | rtn | gptq (quantize: rtn or gptq; prune: gptq quantizes the kept weights in SparseGPT's sweep)"),
  QUANTIZATION_BITS("quantization.bits", Type.INT, "Bits per weight code: 2 | 3 | 4 | 8"),
  QUANTIZATION_GROUP_SIZE("quantization.group-size", Type.STRING, "Input columns per scale (> 0, dividing every quantized linear's input width) | channel | tensor"),
  QUANTIZATION_SYMMETRIC("quantization.symmetric", Type.BOOLEAN, "Symmetric codes (zero point 0) or asymmetric (a zero point per group)"),
  QUANTIZATION_ACT_ORDER("quantization.act-order", Type.STRING, "GPTQ: static (grids from the unmodified weights, columns by decreasing diag H) | off | dynamic (g_idx)"),
  QUANTIZATION_FORMAT("quantization.format", Type.STRING, "Exported checkpoint: compressed-tensors (pack-quantized) | gptq (v1; symmetric 4 or 8 bits)"),
  QUANTIZATION_DAMPENING_FRACTION("quantization.dampening-fraction", Type.DOUBLE, "GPTQ: H += fraction * mean(diag H) * I"),
  QUANTIZATION_BLOCK_SIZE("quantization.block-size", Type.INT, "GPTQ: columns per lazy-update block"),
  QUANTIZATION_KEEP_ZEROS("quantization.keep-zeros", Type.BOOLEAN, "GPTQ: weights that are exactly 0 in the input stay 0 (a pruned model keeps its mask)"),
  LOWRANK_METHOD("lowrank.method", Type.STRING, "lowrank: svd-llm (truncation-aware whitening by the Cholesky factor of Σ XᵀX) | svd (plain truncated SVD, reads no data)"),
  LOWRANK_RATIO("lowrank.ratio", Type.DOUBLE, "lowrank: kept-parameter fraction ρ in (0, 1); each linear (m, n) keeps rank floor(ρ·m·n/(m + n))"),
  DEPTH_CRITERION("depth.criterion", Type.STRING, "depth-prune: block importance, ppl | taylor | magnitude"),
  DEPTH_NUM_BLOCKS("depth.num-blocks", Type.INT, "depth-prune: number of blocks to remove"),
  DEPTH_PROTECT("depth.protect", Type.LIST, "depth-prune: blocks never removed, indices or L-k (L = num_hidden_layers), or none"),
  DEPTH_MODE("depth.mode", Type.STRING, "depth-prune: one-shot (score once, remove the n least important) | iterative (re-score after each removal)"),
  FINETUNE_METHOD("finetune.method", Type.STRING, "finetune: lora (adapters, base frozen) | full (every tensor) | qat (every tensor, linears fake-quantized with --quantization.*)"),
  FINETUNE_TEXT("finetune.text", Type.STRING, "finetune: training text file, cut into windows of finetune.seqlen as in the evaluation"),
  FINETUNE_SEQLEN("finetune.seqlen", Type.INT, "finetune: tokens per training window"),
  FINETUNE_BATCH_SIZE("finetune.batch-size", Type.INT, "finetune: windows per optimizer step"),
  FINETUNE_MICRO_BATCH_SIZE("finetune.micro-batch-size", Type.INT, "finetune: consecutive windows of a batch whose gradients are summed in fp32 before the exact sum (divides batch-size; a step runs at most batch-size / micro-batch-size tasks)"),
  FINETUNE_EPOCHS("finetune.epochs", Type.INT, "finetune: passes over the windows (the last partial batch of each dropped)"),
  FINETUNE_MAX_STEPS("finetune.max-steps", Type.INT, "finetune: stop after this many steps (0 = every step of every epoch; the schedule still spans them all)"),
  FINETUNE_LEARNING_RATE("finetune.learning-rate", Type.DOUBLE, "finetune: peak learning rate of AdamW, > 0"),
  FINETUNE_WARMUP_FRACTION("finetune.warmup-fraction", Type.DOUBLE, "finetune: linear warmup over ceil(fraction x steps) steps, then linear decay to 0"),
  FINETUNE_MAX_GRAD_NORM("finetune.max-grad-norm", Type.DOUBLE, "finetune: global-norm gradient clipping (0 = none)"),
  FINETUNE_SEED("finetune.seed", Type.INT, "finetune: seed of the data order (Python random.Random(seed + epoch).shuffle), adapters and dropout"),
  FINETUNE_KEEP_ZEROS("finetune.keep-zeros", Type.STRING, "finetune full/qat: weights exactly 0 stay 0 (masked updates): auto (in linears at least 10% zeros, a pruned model) | true | false"),
  FINETUNE_CHECKPOINT_EVERY("finetune.checkpoint-every", Type.INT, "finetune: write the trainable parameters and optimizer state every N steps (resume starts there)"),
  FINETUNE_LORA_RANK("finetune.lora.rank", Type.INT, "finetune lora: adapter rank r > 0"),
  FINETUNE_LORA_ALPHA("finetune.lora.alpha", Type.DOUBLE, "finetune lora: scaling alpha (the update is alpha/r x B A)"),
  FINETUNE_LORA_DROPOUT("finetune.lora.dropout", Type.DOUBLE, "finetune lora: dropout on the adapter input, in [0, 1)"),
  FINETUNE_LORA_TARGETS("finetune.lora.targets", Type.LIST, "finetune lora: all-linear, or linear names (e.g. q_proj,v_proj or self_attn.q_proj)"),
  FINETUNE_TEACHER_PATH("finetune.teacher.path", Type.STRING, "finetune: teacher model directory for distillation (empty: none)"),
  FINETUNE_KD_TEMPERATURE("finetune.kd.temperature", Type.DOUBLE, "finetune distillation: softmax temperature > 0 of teacher and student"),
  FINETUNE_KD_CE_WEIGHT("finetune.kd.ce-weight", Type.DOUBLE, "finetune distillation: weight >= 0 of the cross-entropy term next to the KL term"),
  FINETUNE_QUANT_NOISE("finetune.quant-noise", Type.DOUBLE, "finetune qat: Quant-Noise probability p in (0, 1] of quantizing a block (1 = plain QAT)"),
  FINETUNE_QUANT_NOISE_BLOCK("finetune.quant-noise-block", Type.INT, "finetune qat: consecutive input weights per Quant-Noise block"),
  RANDOM_ARCHITECTURE("random.architecture", Type.STRING, "random-model: llama-7b | llama-13b | llama-70b | opt-6.7b | tiny-llama (the shapes of examples/models/tiny-llama-imdb)"),
  RANDOM_NUM_LAYERS("random.num-layers", Type.INT, "random-model: decoder blocks written (0 = the architecture's own count)"),
  RANDOM_VOCAB_SIZE("random.vocab-size", Type.INT, "random-model: embedding rows (0 = the architecture's own: 32000 LLaMA, 50272 OPT, 8192 tiny-llama); at least the bundled tokenizer's 8192"),
  RANDOM_SEED("random.seed", Type.INT, "random-model: seed of the weights; the same seed gives byte-identical files"),
  RANDOM_STD("random.std", Type.DOUBLE, "random-model: weights of rank 2 are normal(0, std); norm weights are 1, biases 0"),
  OUTPUT_DTYPE("output.dtype", Type.STRING, "dtype of the exported model: auto (= input) | float32 | float16 | bfloat16"),
  BENCH_HIDDEN("bench.hidden", Type.INT, "bench-sparsellm: hidden size d of the synthetic FFN"),
  BENCH_FFN("bench.ffn", Type.INT, "bench-sparsellm: FFN size f of the synthetic FFN"),
  BENCH_TOKENS("bench.tokens", Type.LIST, "bench-sparsellm: calibration token counts, one run each"),
  BENCH_SAMPLE_TOKENS("bench.sample-tokens", Type.INT, "bench-sparsellm: tokens per synthetic calibration sample"),
  BENCH_MASTERS("bench.masters", Type.STRING, "bench-depth: ';'-separated Spark masters to run the PPL candidate phase on, in order; the speed-up is the first's time over the last's"),
  SPARK_MASTER("spark.master", Type.STRING, "Spark master; empty = the one spark-submit gives, else local[*]"),
  SPARK_APP_NAME("spark.app-name", Type.STRING, "Spark application name");

  public enum Type { STRING, INT, DOUBLE, BOOLEAN, LIST }

  private final String key;
  private final Type type;
  private final String description;

  ConfigKey(String key, Type type, String description) {
    this.key = key;
    this.type = type;
    this.description = description;
  }

  public String key() {
    return key;
  }

  public Type type() {
    return type;
  }

  public String description() {
    return description;
  }

  public static Optional<ConfigKey> find(String key) {
    return Arrays.stream(values()).filter(k -> k.key.equals(key)).findFirst();
  }

  /** The known key closest to {@code key} by edit distance, for "did you mean" hints. */
  public static String closest(String key) {
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (ConfigKey k : values()) {
      int d = editDistance(key.toLowerCase(Locale.ROOT), k.key);
      if (d < bestDistance) {
        bestDistance = d;
        best = k.key;
      }
    }
    return best;
  }

  private static int editDistance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }
}
