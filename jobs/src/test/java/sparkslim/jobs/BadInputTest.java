package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each bad input gets a one-line error naming the file (and tensor or key), what was expected and what was found,
 * exit code 2, and no {@code _SUCCESS}. All checks run on the driver before Spark starts.
 */
class BadInputTest {
  private static final String SHARD1 = "model-00001-of-00004.safetensors";
  private static final String SHARD4 = "model-00004-of-00004.safetensors";

  @TempDir
  Path tmp;

  private Path copyModel() throws IOException {
    Path dir = tmp.resolve("model");
    Files.createDirectories(dir);
    try (Stream<Path> files = Files.list(TestSupport.model("tiny-llama-imdb"))) {
      for (Path f : (Iterable<Path>) files::iterator) {
        Files.copy(f, dir.resolve(f.getFileName()));
        dir.resolve(f.getFileName()).toFile().setWritable(true);
      }
    }
    return dir;
  }

  /** Runs eval on {@code model} and returns stderr; asserts exit code 2 and no _SUCCESS. */
  private String failingEval(Path model, String text, String... extra) {
    Path out = tmp.resolve("out");
    String[] args = Stream.concat(Stream.of("eval", "--model.path=" + model, "--eval.texts=" + text, "--output.path=" + out,
        "--spark.master=local[1]"), Arrays.stream(extra)).toArray(String[]::new);
    return TestSupport.failingRun(out, args);
  }

  private String evalText() {
    return TestSupport.data("imdb.eval.txt").toString();
  }

  /** Rewrites a safetensors header with {@code edit} applied, keeping the data bytes. */
  private static void editHeader(Path file, java.util.function.Consumer<ObjectNode> edit) throws IOException {
    byte[] all = Files.readAllBytes(file);
    long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    ObjectNode header = (ObjectNode) TestSupport.JSON.readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
    edit.accept(header);
    byte[] h = TestSupport.JSON.writeValueAsBytes(header);
    ByteBuffer out = ByteBuffer.allocate(8 + h.length + all.length - 8 - (int) n).order(ByteOrder.LITTLE_ENDIAN);
    out.putLong(h.length).put(h).put(all, 8 + (int) n, all.length - 8 - (int) n);
    Files.write(file, out.array());
  }

  private static void editJson(Path file, java.util.function.Consumer<ObjectNode> edit) throws IOException {
    ObjectNode node = (ObjectNode) TestSupport.JSON.readTree(file.toFile());
    edit.accept(node);
    TestSupport.JSON.writeValue(file.toFile(), node);
  }

  @Test
  void corruptSafetensorsHeader() throws IOException {
    Path model = copyModel();
    try (RandomAccessFile f = new RandomAccessFile(model.resolve(SHARD1).toFile(), "rw")) {
      f.seek(8);
      f.write("{not json at all".getBytes(StandardCharsets.UTF_8));
    }
    String err = failingEval(model, evalText());
    assertTrue(err.contains("Corrupt safetensors header in") && err.contains(SHARD1), err);
  }

  @Test
  void truncatedShard() throws IOException {
    Path model = copyModel();
    try (RandomAccessFile f = new RandomAccessFile(model.resolve(SHARD4).toFile(), "rw")) {
      f.setLength(f.length() / 2);
    }
    String err = failingEval(model, evalText());
    assertTrue(err.contains("Truncated safetensors file") && err.contains(SHARD4) && err.contains("lm_head.weight"), err);
  }

  @Test
  void tensorMissingFromIndex() throws IOException {
    Path model = copyModel();
    editJson(model.resolve("model.safetensors.index.json"),
        idx -> ((ObjectNode) idx.get("weight_map")).remove("model.layers.3.mlp.up_proj.weight"));
    String err = failingEval(model, evalText());
    assertTrue(err.contains("Tensor 'model.layers.3.mlp.up_proj.weight' is missing from index") && err.contains("model.safetensors.index.json"), err);
  }

  @Test
  void tensorMissingFromShard() throws IOException {
    Path model = copyModel();
    editHeader(model.resolve(SHARD4), h -> h.remove("lm_head.weight"));
    String err = failingEval(model, evalText());
    assertTrue(err.contains("Tensor 'lm_head.weight' is missing from shard") && err.contains(SHARD4), err);
  }

  @Test
  void shapeDisagreesWithConfig() throws IOException {
    Path model = copyModel();
    editJson(model.resolve("config.json"), c -> c.put("intermediate_size", 512));
    String err = failingEval(model, evalText());
    assertTrue(err.contains("model.layers.0.mlp.gate_proj.weight") && err.contains("has shape [768, 256]")
        && err.contains("implies [512, 256]") && err.contains("config.json"), err);
  }

  @Test
  void unsupportedDtype() throws IOException {
    Path model = copyModel();
    editHeader(model.resolve(SHARD1), h -> ((ObjectNode) h.get("model.embed_tokens.weight")).put("dtype", "F8_E4M3"));
    String err = failingEval(model, evalText());
    assertTrue(err.contains("unsupported dtype 'F8_E4M3'") && err.contains("model.embed_tokens.weight") && err.contains(SHARD1), err);
  }

  @Test
  void unknownModelType() throws IOException {
    Path model = copyModel();
    editJson(model.resolve("config.json"), c -> c.put("model_type", "gpt_neox"));
    String err = failingEval(model, evalText());
    assertTrue(err.contains("unknown model_type 'gpt_neox'") && err.contains("config.json"), err);
  }

  @Test
  void pickleOnlyDirectoryIsRefused() throws IOException {
    Path model = tmp.resolve("pickle-model");
    Files.createDirectories(model);
    Files.copy(TestSupport.model("tiny-llama-imdb").resolve("config.json"), model.resolve("config.json"));
    Files.copy(TestSupport.model("tiny-llama-imdb").resolve("tokenizer.json"), model.resolve("tokenizer.json"));
    // a pickle stream that would run os.system if it were ever unpickled
    Files.write(model.resolve("pytorch_model.bin"), "cos\nsystem\n(S'touch /tmp/pwned'\ntR.".getBytes(StandardCharsets.US_ASCII));
    String err = failingEval(model, evalText());
    assertTrue(err.contains("Refusing pickle checkpoint") && err.contains("pytorch_model.bin") && err.contains("never unpickles"), err);
  }

  @Test
  void missingTokenizer() throws IOException {
    Path model = copyModel();
    Files.delete(model.resolve("tokenizer.json"));
    String err = failingEval(model, evalText());
    assertTrue(err.contains("Missing") && err.contains("tokenizer.json"), err);
  }

  @Test
  void textShorterThanOneWindow() throws IOException {
    Path text = tmp.resolve("short.txt");
    Files.writeString(text, "A very short review. Great movie!\n");
    String err = failingEval(TestSupport.model("tiny-llama-imdb"), text.toString());
    assertTrue(err.contains("short.txt") && err.contains("fewer than one evaluation window") && err.contains("'eval.seqlen' = 512"), err);
  }

  @Test
  void indexPointingOutsideModelDirectory() throws IOException {
    Path model = copyModel();
    editJson(model.resolve("model.safetensors.index.json"),
        idx -> ((ObjectNode) idx.get("weight_map")).put("lm_head.weight", "../" + SHARD4));
    String err = failingEval(model, evalText());
    assertTrue(err.contains("points outside the model directory") && err.contains("'../" + SHARD4 + "'") && err.contains("lm_head.weight"), err);
  }

  @Test
  void unknownConfigKey() {
    String err = failingEval(TestSupport.model("tiny-llama-imdb"), evalText(), "--eval.seqlenn=128");
    assertTrue(err.contains("Unknown config key 'eval.seqlenn'") && err.contains("did you mean 'eval.seqlen'"), err);
  }
}
