package sparkslim.core.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FsStatus;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.io.DType;
import sparkslim.core.io.HalfFloats;
import sparkslim.core.io.SafetensorsWriter;
import sparkslim.core.io.SafetensorsWriter.TensorHeader;

/**
 * A HuggingFace model directory of random bf16 weights at a published shape, for capacity planning: {@code config.json}
 * (a config transformers loads), sharded safetensors with {@code model.safetensors.index.json} (the layout of
 * {@link ModelExporter}), and the bundled byte-level BPE tokenizer of the examples.
 *
 * <p>Weights of rank 2 are normal(0, std), norm weights 1, biases 0. Nothing is held in memory but a few chunks: the shard
 * headers are written from the shapes, then each tensor's bytes are generated and streamed. A tensor is cut into chunks of
 * {@value #CHUNK_VALUES} values, and chunk c draws from its own {@link SplittableRandom} seeded from (seed, tensor name, c)
 * (Marsaglia's polar method), so the bytes depend only on the seed: the same seed gives byte-identical files whatever the
 * number of generating threads.
 */
public final class RandomModel {
  /** Where the tokenizer files are bundled (from examples/models/tiny-llama-imdb, by core/pom.xml). */
  public static final String TOKENIZER_RESOURCES = "sparkslim/tokenizer/";
  public static final List<String> TOKENIZER_FILES = List.of(ModelDirectory.TOKENIZER_FILE, "tokenizer_config.json");
  /** Values per generated chunk (1 MiB of them: 2 MiB of bf16). */
  static final int CHUNK_VALUES = 1 << 20;
  private static final ObjectMapper JSON = new ObjectMapper();
  /** bf16 1.0, the norm weights. */
  private static final short BF16_ONE = HalfFloats.floatToBf16(1.0f);

  private RandomModel() {}

  /** The architectures {@code random.architecture} names, with their published shapes. */
  public enum Preset {
    // Llama 2 (Touvron et al. 2023, meta-llama/Llama-2-*-hf config.json): 4096 positions, rms_norm_eps 1e-5, untied head
    LLAMA_7B("llama-7b", Architecture.LLAMA, 4096, 11008, 32, 32, 32, 4096, 1e-5, 32000),
    LLAMA_13B("llama-13b", Architecture.LLAMA, 5120, 13824, 40, 40, 40, 4096, 1e-5, 32000),
    LLAMA_70B("llama-70b", Architecture.LLAMA, 8192, 28672, 80, 64, 8, 4096, 1e-5, 32000), // GQA: 8 KV heads
    // facebook/opt-6.7b config.json: pre-LayerNorm, learned positions, tied head, word_embed_proj_dim = hidden
    OPT_6_7B("opt-6.7b", Architecture.OPT, 4096, 16384, 32, 32, 32, 2048, 1e-5, 50272),
    // examples/models/tiny-llama-imdb: head_dim 64, GQA 4:2, the bundled tokenizer's vocabulary
    TINY_LLAMA("tiny-llama", Architecture.LLAMA, 256, 768, 8, 4, 2, 1024, 1e-5, 8192);

    private final String id;
    private final Architecture architecture;
    private final int hidden;
    private final int intermediate;
    private final int layers;
    private final int heads;
    private final int kvHeads;
    private final int maxPositions;
    private final double normEps;
    private final int vocab;

    Preset(String id, Architecture architecture, int hidden, int intermediate, int layers, int heads, int kvHeads, int maxPositions,
           double normEps, int vocab) {
      this.id = id;
      this.architecture = architecture;
      this.hidden = hidden;
      this.intermediate = intermediate;
      this.layers = layers;
      this.heads = heads;
      this.kvHeads = kvHeads;
      this.maxPositions = maxPositions;
      this.normEps = normEps;
      this.vocab = vocab;
    }

    public String id() {
      return id;
    }

    public int layers() {
      return layers;
    }

    public int vocab() {
      return vocab;
    }

    public static String ids() {
      return Arrays.stream(values()).map(Preset::id).collect(Collectors.joining(", "));
    }

    public static Preset parse(String s) {
      for (Preset p : values()) {
        if (p.id.equals(s.trim().toLowerCase(Locale.ROOT))) {
          return p;
        }
      }
      throw new SparkslimException("'" + ConfigKey.RANDOM_ARCHITECTURE.key() + "' is '" + s + "' but must be one of " + ids());
    }
  }

  /** Resolved settings: {@code numLayers} and {@code vocabSize} are the actual ones (0 already replaced by the preset's). */
  public record Options(Preset preset, int numLayers, int vocabSize, long seed, double std) {
    public Options {
      if (numLayers < 1) {
        throw new SparkslimException("'" + ConfigKey.RANDOM_NUM_LAYERS.key() + "' is " + numLayers
            + " but must be >= 1 decoder blocks (or 0 = the architecture's own count)");
      }
      int tokenizerVocab = bundledTokenizerVocab();
      if (vocabSize < tokenizerVocab) {
        throw new SparkslimException("'" + ConfigKey.RANDOM_VOCAB_SIZE.key() + "' is " + vocabSize + " but must be >= " + tokenizerVocab
            + ", the vocabulary of the bundled tokenizer (whose ids must index the embedding), or 0 = the architecture's own");
      }
      if (!(std > 0) || Double.isInfinite(std)) {
        throw new SparkslimException("'" + ConfigKey.RANDOM_STD.key() + "' is " + std + " but must be a finite number > 0");
      }
    }

    /** Reads the {@code random.*} keys; user errors name the key, what was expected and what was found. */
    public static Options from(Config config) {
      Preset preset = Preset.parse(config.required(ConfigKey.RANDOM_ARCHITECTURE));
      int layers = config.integer(ConfigKey.RANDOM_NUM_LAYERS);
      int vocab = config.integer(ConfigKey.RANDOM_VOCAB_SIZE);
      if (layers < 0) {
        throw new SparkslimException("'" + ConfigKey.RANDOM_NUM_LAYERS.key() + "' is " + layers
            + " but must be >= 0 (0 = the architecture's own " + preset.layers + ")");
      }
      if (vocab < 0) {
        throw new SparkslimException("'" + ConfigKey.RANDOM_VOCAB_SIZE.key() + "' is " + vocab
            + " but must be >= 0 (0 = the architecture's own " + preset.vocab + ")");
      }
      return new Options(preset, layers == 0 ? preset.layers : layers, vocab == 0 ? preset.vocab : vocab,
          config.integer(ConfigKey.RANDOM_SEED), config.decimal(ConfigKey.RANDOM_STD));
    }

    public static Options of(Preset preset) {
      return new Options(preset, preset.layers, preset.vocab, 0, 0.02);
    }
  }

  /** What {@link #write} wrote: the parsed spec, the parameter count (a tied head once), data bytes and the file names. */
  public record Result(ModelSpec spec, long parameters, long tensorBytes, List<String> files) {}

  /** Called on the writing thread each time the last tensor of a decoder block has been written. */
  @FunctionalInterface
  public interface Progress {
    /**
     * @param block the block's index
     * @param blocksDone blocks complete so far (blocks are finished in file order: names sort within a shard, so 10 before 2)
     * @param bytesWritten tensor bytes written so far
     */
    void blockWritten(int block, int blocksDone, int numBlocks, long bytesWritten);
  }

  /**
   * The {@code config.json}, keys sorted as {@code save_pretrained} writes them. Token ids are those of the bundled
   * tokenizer, whose only special token {@code <|endoftext|>} (id 0) is BOS, EOS and (OPT) padding.
   */
  public static ObjectNode configJson(Options o) {
    Preset p = o.preset();
    Map<String, Object> c = new TreeMap<>();
    c.put("bos_token_id", 0);
    c.put("eos_token_id", 0);
    c.put("hidden_size", p.hidden);
    c.put("max_position_embeddings", p.maxPositions);
    c.put("model_type", p.architecture.modelType());
    c.put("num_attention_heads", p.heads);
    c.put("num_hidden_layers", o.numLayers());
    c.put("torch_dtype", DType.BF16.hfName());
    c.put("use_cache", true);
    c.put("vocab_size", o.vocabSize());
    c.put("attention_dropout", 0.0);
    if (p.architecture == Architecture.LLAMA) {
      c.put("architectures", List.of("LlamaForCausalLM"));
      c.put("attention_bias", false);
      c.put("head_dim", p.hidden / p.heads);
      c.put("hidden_act", "silu");
      c.put("initializer_range", o.std());
      c.put("intermediate_size", p.intermediate);
      c.put("mlp_bias", false);
      c.put("num_key_value_heads", p.kvHeads);
      c.put("pad_token_id", null);
      c.put("pretraining_tp", 1);
      c.put("rms_norm_eps", p.normEps);
      c.put("rope_scaling", null);
      c.put("rope_theta", 10000.0);
      c.put("tie_word_embeddings", false);
    } else {
      c.put("_remove_final_layer_norm", false);
      c.put("activation_dropout", 0.0);
      c.put("activation_function", "relu");
      c.put("architectures", List.of("OPTForCausalLM"));
      c.put("do_layer_norm_before", true);
      c.put("dropout", 0.0);
      c.put("enable_bias", true);
      c.put("ffn_dim", p.intermediate);
      c.put("init_std", o.std());
      c.put("layer_norm_elementwise_affine", true);
      c.put("layerdrop", 0.0);
      c.put("pad_token_id", 0);
      c.put("tie_word_embeddings", true);
      c.put("word_embed_proj_dim", p.hidden);
    }
    return JSON.valueToTree(c);
  }

  /** The spec {@link ModelDirectory} will see: {@link #configJson} through {@link ModelSpec#parse}. */
  public static ModelSpec spec(Options o) {
    return ModelSpec.parse(configJson(o), "random-model config.json (" + o.preset().id() + ")");
  }

  /** Every stored tensor with full name and shape: the globals, then block 0, 1, ... (the order shards are filled in). */
  public static List<TensorHeader> tensors(ModelSpec spec) {
    List<TensorHeader> out = new ArrayList<>();
    spec.globalTensorShapes().forEach((name, shape) -> out.add(new TensorHeader(name, DType.BF16, shape)));
    for (int i = 0; i < spec.numLayers(); i++) {
      String prefix = spec.blockPrefix(i);
      spec.blockTensorShapes().forEach((name, shape) -> out.add(new TensorHeader(prefix + name, DType.BF16, shape)));
    }
    return out;
  }

  /** Stored values: globals (a tied head once) plus {@code numLayers} blocks. */
  public static long parameters(ModelSpec spec) {
    long globals = spec.globalTensorShapes().values().stream().mapToLong(ModelSpec::numel).sum();
    long block = spec.blockTensorShapes().values().stream().mapToLong(ModelSpec::numel).sum();
    return globals + spec.numLayers() * block;
  }

  /** As {@link #write(Options, FileSystem, Path, long, int, Progress)} on all available processors. */
  public static Result write(Options o, FileSystem fs, Path dir, long maxShardBytes, Progress progress) {
    return write(o, fs, dir, maxShardBytes, Runtime.getRuntime().availableProcessors(), progress);
  }

  /**
   * Writes the model directory into {@code dir} (created if missing): the safetensors shards and index, config.json and the
   * tokenizer files. Refuses, before writing anything, a file system without room for the data.
   *
   * @param threads generating threads; the bytes do not depend on it
   */
  public static Result write(Options o, FileSystem fs, Path dir, long maxShardBytes, int threads, Progress progress) {
    ModelSpec spec = spec(o);
    requireSpace(fs, dir, 2 * parameters(spec)); // from the shapes, before listing (numLayers x) block tensors
    SafetensorsWriter.StreamingSharded writer = new SafetensorsWriter.StreamingSharded(maxShardBytes);
    tensors(spec).forEach(writer::add);
    int perBlock = spec.blockTensorShapes().size();
    int[] remaining = new int[spec.numLayers()]; // (numLayers) tensors of each block not yet written
    Arrays.fill(remaining, perBlock);
    Map<String, Integer> blockOf = new HashMap<>();
    for (int i = 0; i < spec.numLayers(); i++) {
      for (String name : spec.blockTensorShapes().keySet()) {
        blockOf.put(spec.blockPrefix(i) + name, i);
      }
    }
    long[] written = {0, 0}; // (bytes, blocks done)
    ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, threads), r -> {
      Thread t = new Thread(r, "random-model-generator");
      t.setDaemon(true);
      return t;
    });
    try {
      fs.mkdirs(dir);
      List<String> files = new ArrayList<>(writer.write(fs, dir, (t, out) -> {
        writeTensor(t, o.seed(), o.std(), pool, Math.max(1, threads) * 2, out);
        written[0] += t.byteSize();
        Integer block = blockOf.get(t.name());
        if (block != null && --remaining[block] == 0) {
          written[1]++;
          progress.blockWritten(block, (int) written[1], spec.numLayers(), written[0]);
        }
      }));
      try (FSDataOutputStream out = fs.create(new Path(dir, ModelDirectory.CONFIG_FILE), true)) {
        out.write(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(configJson(o)));
      }
      files.add(ModelDirectory.CONFIG_FILE);
      for (String name : TOKENIZER_FILES) {
        try (InputStream in = resource(name); FSDataOutputStream out = fs.create(new Path(dir, name), true)) {
          in.transferTo(out);
        }
        files.add(name);
      }
      return new Result(spec, parameters(spec), writer.totalBytes(), files);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write the random model to " + dir, e);
    } finally {
      pool.shutdownNow();
    }
  }

  /** The vocabulary size of the bundled tokenizer: 1 + the largest id of its model vocabulary and added tokens. */
  public static int bundledTokenizerVocab() {
    return TokenizerVocab.SIZE;
  }

  private static final class TokenizerVocab {
    static final int SIZE = read();

    private static int read() {
      try (InputStream in = resource(ModelDirectory.TOKENIZER_FILE)) {
        JsonNode json = JSON.readTree(in);
        int max = -1;
        for (Iterator<JsonNode> ids = json.path("model").path("vocab").elements(); ids.hasNext(); ) {
          max = Math.max(max, ids.next().asInt());
        }
        for (JsonNode added : json.path("added_tokens")) {
          max = Math.max(max, added.path("id").asInt());
        }
        return max + 1;
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot read the bundled " + TOKENIZER_RESOURCES + ModelDirectory.TOKENIZER_FILE, e);
      }
    }
  }

  private static InputStream resource(String name) {
    InputStream in = RandomModel.class.getClassLoader().getResourceAsStream(TOKENIZER_RESOURCES + name);
    if (in == null) {
      throw new IllegalStateException("Missing bundled " + TOKENIZER_RESOURCES + name + " on the class path");
    }
    return in;
  }

  private static void requireSpace(FileSystem fs, Path dir, long bytes) {
    long free;
    try {
      Path existing = dir;
      while (existing != null && !fs.exists(existing)) {
        existing = existing.getParent();
      }
      FsStatus status = fs.getStatus(existing);
      free = status.getRemaining();
    } catch (IOException | UnsupportedOperationException e) {
      return; // a file system that cannot tell: the write itself will fail if it must
    }
    if (free > 0 && free < bytes) {
      throw new SparkslimException(String.format(Locale.ROOT,
          "'%s' is %s, which has %.2f GB free, but the model needs %.2f GB (%d bytes of bf16 weights)",
          ConfigKey.OUTPUT_PATH.key(), dir, free / 1e9, bytes / 1e9, bytes));
    }
  }

  /** Streams one tensor: norm weights (rank 1, not a bias) 1, biases 0, the rest normal(0, std) in chunks. */
  static void writeTensor(TensorHeader t, long seed, double std, ExecutorService pool, int window, OutputStream out)
      throws IOException {
    long n = t.numel();
    if (t.name().endsWith(".bias") || t.shape().length == 1) {
      if (!t.name().endsWith(".bias") && !t.name().contains("norm")) {
        throw new IllegalStateException("Tensor '" + t.name() + "' has rank 1 but is neither a norm weight nor a bias");
      }
      short value = t.name().endsWith(".bias") ? 0 : BF16_ONE;
      byte[] chunk = new byte[(int) Math.min(n, CHUNK_VALUES) * 2]; // (values) bf16 little-endian
      for (int i = 0; i < chunk.length; i += 2) {
        chunk[i] = (byte) value;
        chunk[i + 1] = (byte) (value >>> 8);
      }
      for (long done = 0; done < n; done += chunk.length / 2) {
        out.write(chunk, 0, (int) Math.min(chunk.length, (n - done) * 2));
      }
      return;
    }
    long tensorSeed = mix64(seed ^ fnv1a64(t.name()));
    long chunks = (n + CHUNK_VALUES - 1) / CHUNK_VALUES;
    ArrayDeque<Future<byte[]>> pending = new ArrayDeque<>();
    try {
      for (long c = 0; c < chunks; c++) {
        final long index = c;
        final int values = (int) Math.min(CHUNK_VALUES, n - c * CHUNK_VALUES);
        pending.add(pool.submit(() -> gaussianBf16(mix64(tensorSeed + (index + 1) * 0x9E3779B97F4A7C15L), values, std)));
        if (pending.size() >= window) {
          out.write(pending.poll().get());
        }
      }
      while (!pending.isEmpty()) {
        out.write(pending.poll().get());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while generating '" + t.name() + "'", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("Generating '" + t.name() + "' failed", e.getCause());
    } finally {
      pending.forEach(f -> f.cancel(true));
    }
  }

  /** {@code values} draws of normal(0, std) rounded to bf16, little-endian: Marsaglia's polar method, two per accepted pair. */
  static byte[] gaussianBf16(long seed, int values, double std) {
    SplittableRandom rnd = new SplittableRandom(seed);
    byte[] out = new byte[values * 2]; // (values) bf16 little-endian
    for (int i = 0; i < values; i += 2) {
      double u;
      double v;
      double s;
      do {
        u = 2 * rnd.nextDouble() - 1;
        v = 2 * rnd.nextDouble() - 1;
        s = u * u + v * v;
      } while (s >= 1 || s == 0);
      double m = std * Math.sqrt(-2 * Math.log(s) / s);
      short a = HalfFloats.floatToBf16((float) (u * m));
      out[2 * i] = (byte) a;
      out[2 * i + 1] = (byte) (a >>> 8);
      if (i + 1 < values) {
        short b = HalfFloats.floatToBf16((float) (v * m));
        out[2 * i + 2] = (byte) b;
        out[2 * i + 3] = (byte) (b >>> 8);
      }
    }
    return out;
  }

  /** FNV-1a over the UTF-8 bytes: a stable 64-bit hash of a tensor name. */
  private static long fnv1a64(String s) {
    long h = 0xcbf29ce484222325L;
    for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
      h ^= b & 0xff;
      h *= 0x100000001b3L;
    }
    return h;
  }

  /** Stafford's variant 13 of the MurmurHash3 finalizer (the mixer of {@link SplittableRandom}). */
  private static long mix64(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }

}
