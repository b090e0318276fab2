package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code random-model} writes a model directory that {@code eval} runs on; bad settings are user errors. */
class RandomModelJobTest {
  @TempDir
  Path tmp;

  @Test
  void aRandomTinyLlamaIsAModelEvalRunsOn() throws Exception {
    Path model = tmp.resolve("random-tiny-llama");
    // an earlier model with another shard count: its index would win over the new model.safetensors if it stayed
    Files.createDirectories(model);
    Files.writeString(model.resolve("model-00001-of-00002.safetensors"), "stale");
    Files.writeString(model.resolve("model.safetensors.index.json"), "{\"weight_map\": {}}");
    Files.writeString(model.resolve("notes.txt"), "kept");
    assertEquals(0, TestSupport.sparkslim("random-model", "--random.architecture=tiny-llama", "--random.num-layers=2",
        "--output.path=" + model));
    assertTrue(Files.exists(model.resolve("_SUCCESS")));
    assertTrue(Files.exists(model.resolve("resolved-config.yaml")));
    assertFalse(Files.exists(model.resolve("model-00001-of-00002.safetensors")));
    assertFalse(Files.exists(model.resolve("model.safetensors.index.json")));
    assertTrue(Files.exists(model.resolve("model.safetensors")) && Files.exists(model.resolve("notes.txt")));
    JsonNode report = TestSupport.readJson(model.resolve("report.json"));
    assertEquals("random-model", report.get("job").asText());
    assertEquals("tiny-llama", report.get("architecture").asText());
    assertEquals(2, report.get("num_layers").asInt());
    assertEquals(2 * 8192 * 256 + 256 + 2 * 786_944L, report.get("parameters").asLong()); // embed + head, norm, 2 blocks
    assertTrue(report.get("bytes").asLong() > 2 * report.get("parameters").asLong(), report.toString()); // bf16 + headers
    assertTrue(report.get("seconds").get("total").asDouble() > 0);

    Path eval = tmp.resolve("eval");
    assertEquals(0, TestSupport.sparkslim("eval", "--model.path=" + model, "--eval.texts=" + TestSupport.data("imdb.eval.txt"),
        "--eval.max-windows=2", "--output.path=" + eval, "--spark.master=local[1]"));
    double ppl = TestSupport.readJson(eval.resolve("report.json")).get("eval").get("imdb.eval.txt").get("ppl").asDouble();
    System.out.println("random tiny-llama (2 layers) imdb_eval PPL over 2 windows: " + ppl);
    assertTrue(ppl > 1000 && Double.isFinite(ppl), "random weights predict next to nothing: PPL " + ppl + " (vocabulary 8192)");
  }

  @Test
  void anUnknownArchitectureIsAUserError() {
    Path out = tmp.resolve("out");
    String err = TestSupport.failingRun(out, "random-model", "--random.architecture=llama-8b", "--output.path=" + out);
    assertTrue(err.contains("'random.architecture' is 'llama-8b' but must be one of llama-7b, llama-13b, llama-70b, opt-6.7b, tiny-llama"), err);
  }
}
