package sparkslim.core.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.Examples;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.io.DType;
import sparkslim.core.io.HalfFloats;
import sparkslim.core.io.SafetensorsWriter.TensorHeader;
import sparkslim.core.model.RandomModel.Options;
import sparkslim.core.model.RandomModel.Preset;

class RandomModelTest {
  @TempDir
  Path tmp;

  private final Configuration conf = new Configuration();

  @Test
  void presetsHaveThePublishedShapes() {
    // (preset, hidden, intermediate, heads, kv heads, layers, vocab, max positions, tied, parameters)
    Object[][] expected = {
        {Preset.LLAMA_7B, 4096, 11008, 32, 32, 32, 32000, 4096, false, 6_738_415_616L}, // Llama-2-7b-hf
        {Preset.LLAMA_13B, 5120, 13824, 40, 40, 40, 32000, 4096, false, 13_015_864_320L}, // Llama-2-13b-hf
        {Preset.LLAMA_70B, 8192, 28672, 64, 8, 80, 32000, 4096, false, 68_976_648_192L}, // Llama-2-70b-hf
        {Preset.OPT_6_7B, 4096, 16384, 32, 32, 32, 50272, 2048, true, 6_658_473_984L}, // facebook/opt-6.7b
        {Preset.TINY_LLAMA, 256, 768, 4, 2, 8, 8192, 1024, false, 10_490_112L}, // examples/models/tiny-llama-imdb
    };
    for (Object[] e : expected) {
      Preset p = (Preset) e[0];
      ModelSpec s = RandomModel.spec(Options.of(p));
      String at = p.id();
      assertEquals(e[1], s.hiddenSize(), at);
      assertEquals(e[2], s.intermediateSize(), at);
      assertEquals(e[3], s.numHeads(), at);
      assertEquals(e[4], s.numKvHeads(), at);
      assertEquals(e[5], s.numLayers(), at);
      assertEquals(e[6], s.vocabSize(), at);
      assertEquals(e[7], s.maxPositionEmbeddings(), at);
      assertEquals(e[8], s.tieWordEmbeddings(), at);
      assertEquals(e[9], RandomModel.parameters(s), at);
      assertEquals("bfloat16", s.torchDtype(), at);
    }
    ModelSpec opt = RandomModel.spec(Options.of(Preset.OPT_6_7B));
    assertTrue(opt.layerNormBefore() && opt.finalLayerNorm() && opt.attentionBias() && opt.mlpBias());
    assertEquals(4096, opt.wordEmbedProjDim());
    ModelSpec llama = RandomModel.spec(new Options(Preset.LLAMA_7B, 2, 32768, 0, 0.02));
    assertEquals(2, llama.numLayers());
    assertEquals(32768, llama.vocabSize());
    assertEquals(128, llama.headDim());
    assertEquals(10000.0, llama.ropeTheta());
    var json = RandomModel.configJson(Options.of(Preset.LLAMA_70B));
    assertEquals("LlamaForCausalLM", json.get("architectures").get(0).asText());
    assertEquals("llama", json.get("model_type").asText());
    assertEquals(0, json.get("bos_token_id").asInt());
    assertEquals(0, json.get("eos_token_id").asInt());
  }

  @Test
  void tinyLlamaHasTheExampleSpec() {
    ModelSpec example = ModelDirectory.open(Examples.model("tiny-llama-imdb").toString(), conf).spec();
    assertEquals(example, RandomModel.spec(Options.of(Preset.TINY_LLAMA)));
  }

  @Test
  void writtenTinyLlamaOpensWithModelDirectoryAndHasTheRequestedDistribution() throws Exception {
    Path dir = tmp.resolve("tiny");
    List<String> progress = new ArrayList<>();
    RandomModel.Result r = RandomModel.write(Options.of(Preset.TINY_LLAMA), FileSystem.getLocal(conf),
        new org.apache.hadoop.fs.Path(dir.toString()), 4L << 20, 2, (b, done, n, bytes) -> progress.add(done + "/" + n));
    assertEquals(List.of("1/8", "2/8", "3/8", "4/8", "5/8", "6/8", "7/8", "8/8"), progress);
    assertEquals(10_490_112L, r.parameters());
    assertEquals(2 * 10_490_112L, r.tensorBytes());
    assertTrue(r.files().get(0).startsWith("model-00001-of-0000") && r.files().contains(ModelDirectory.INDEX_FILE), r.files().toString());
    for (String f : RandomModel.TOKENIZER_FILES) {
      assertArrayEquals(Files.readAllBytes(Examples.model("tiny-llama-imdb").resolve(f)), Files.readAllBytes(dir.resolve(f)), f);
    }

    ModelDirectory model = ModelDirectory.open(dir.toString(), conf); // validates every tensor's dtype and shape
    assertEquals(ModelExporter.storedDtype(model), DType.BF16);
    double sum = 0;
    double sumSq = 0;
    long n = 0;
    List<Map<String, Tensor>> parts = new ArrayList<>();
    parts.add(model.loadGlobals());
    for (int i = 0; i < model.spec().numLayers(); i++) {
      parts.add(model.loadBlock(i));
    }
    for (Map<String, Tensor> part : parts) {
      for (Map.Entry<String, Tensor> e : part.entrySet()) {
        float[] v = e.getValue().data();
        if (e.getValue().shape().length == 1) {
          for (float x : v) {
            assertEquals(1.0f, x, e.getKey() + " is a norm weight");
          }
          continue;
        }
        double tensorSum = 0;
        for (float x : v) {
          tensorSum += x;
          sumSq += (double) x * x;
        }
        sum += tensorSum;
        n += v.length;
        assertTrue(Math.abs(tensorSum / v.length) < 2e-3 * 0.02 * 50, e.getKey() + " mean " + tensorSum / v.length);
      }
    }
    double mean = sum / n;
    double std = Math.sqrt(sumSq / n - mean * mean);
    System.out.printf("tiny-llama: %d random values, mean %.3g, std %.6f%n", n, mean, std);
    assertTrue(Math.abs(mean) < 1e-4, "mean " + mean);
    assertEquals(0.02, std, 0.02 * 0.005, "std");
  }

  @Test
  void sameSeedGivesIdenticalBytesWhateverTheThreadCount() throws Exception {
    Options o = new Options(Preset.TINY_LLAMA, 2, 8192, 7, 0.02);
    Path one = write(o, "one", 1);
    Path two = write(o, "two", 2);
    Path other = write(new Options(Preset.TINY_LLAMA, 2, 8192, 8, 0.02), "other", 2);
    List<String> names;
    try (var s = Files.list(one)) {
      names = s.map(p -> p.getFileName().toString()).filter(f -> !f.endsWith(".crc")).sorted().toList();
    }
    assertEquals(List.of("config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json"), names);
    for (String f : names) {
      assertArrayEquals(Files.readAllBytes(one.resolve(f)), Files.readAllBytes(two.resolve(f)), f);
    }
    assertFalse(java.util.Arrays.equals(Files.readAllBytes(one.resolve("model-00002-of-00002.safetensors")),
        Files.readAllBytes(other.resolve("model-00002-of-00002.safetensors"))), "another seed gives other weights");
  }

  @Test
  void optTensorsAreClassifiedAsNormsBiasesAndRandomWeights() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(1);
    try {
      ModelSpec spec = RandomModel.spec(new Options(Preset.OPT_6_7B, 1, 50272, 0, 0.02));
      for (TensorHeader t : RandomModel.tensors(spec)) {
        TensorHeader small = new TensorHeader(t.name(), DType.BF16, t.shape().length == 1 ? new long[] {6} : new long[] {3, 4});
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        RandomModel.writeTensor(small, 0, 0.02, pool, 2, out);
        byte[] b = out.toByteArray();
        assertEquals(small.byteSize(), b.length, t.name());
        float first = HalfFloats.bf16ToFloat((short) ((b[0] & 0xff) | (b[1] << 8)));
        if (t.name().endsWith(".bias")) {
          assertEquals(0f, first, t.name());
        } else if (t.shape().length == 1) {
          assertEquals(1f, first, t.name());
        } else {
          assertTrue(first != 0f && Math.abs(first) < 0.2, t.name() + " = " + first);
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void badSettingsNameTheKey() {
    assertBad("random.architecture", "'random.architecture' is 'llama-8b' but must be one of llama-7b, llama-13b, llama-70b, opt-6.7b, tiny-llama",
        "random.architecture", "llama-8b");
    assertBad("random.architecture", "Missing required key 'random.architecture'");
    assertBad("random.num-layers", "'random.num-layers' is -1 but must be >= 0", "random.architecture", "llama-7b", "random.num-layers", "-1");
    assertBad("random.vocab-size", "'random.vocab-size' is 100 but must be >= 8192", "random.architecture", "llama-7b", "random.vocab-size", "100");
    assertBad("random.vocab-size", "'random.vocab-size' is -5 but must be >= 0", "random.architecture", "opt-6.7b", "random.vocab-size", "-5");
    assertBad("random.std", "'random.std' is 0.0 but must be a finite number > 0", "random.architecture", "tiny-llama", "random.std", "0");
    assertBad("random.std", "'random.std' is set to 'x' but must be a number", "random.architecture", "tiny-llama", "random.std", "x");
    Options o = Options.from(ConfigLoader.load(List.of(), Map.of("random.architecture", "LLaMA-70B")));
    assertEquals(80, o.numLayers());
    assertEquals(32000, o.vocabSize());
    assertEquals(0.02, o.std());
  }

  @Test
  void refusesAnOutputWithoutRoomBeforeWritingAnything() {
    Path dir = tmp.resolve("huge");
    SparkslimException e = assertThrows(SparkslimException.class, () -> RandomModel.write(new Options(Preset.LLAMA_70B, 2_000_000_000, 32000, 0, 0.02),
        FileSystem.getLocal(conf), new org.apache.hadoop.fs.Path(dir.toString()), 2L << 30, (b, d, n, bytes) -> { }));
    // 3.4 EB: refused from the shapes (2 bytes x parameters), before 18 billion tensor headers are listed
    assertTrue(e.getMessage().startsWith("'output.path' is ") && e.getMessage().contains("GB free, but the model needs 3422617601.05 GB"), e.getMessage());
    assertFalse(Files.exists(dir));
  }

  private Path write(Options o, String name, int threads) throws Exception {
    Path dir = tmp.resolve(name);
    // 10 MiB shards: the globals (8 MiB) and block 0 (1.5 MiB) fill the first, block 1 spills into the second
    RandomModel.write(o, FileSystem.getLocal(conf), new org.apache.hadoop.fs.Path(dir.toString()), 10L << 20, threads, (b, d, n, bytes) -> { });
    return dir;
  }

  private static void assertBad(String key, String message, String... kv) {
    Map<String, String> overrides = new java.util.LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      overrides.put(kv[i], kv[i + 1]);
    }
    SparkslimException e = assertThrows(SparkslimException.class, () -> Options.from(ConfigLoader.load(List.of(), overrides)));
    assertTrue(e.getMessage().contains(message) && e.getMessage().contains("'" + key + "'"), e.getMessage());
  }
}
