package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad quantization input: exit code 2 before Spark starts, a message naming the key (or the linear, or the tensor), and
 * no {@code _SUCCESS}.
 */
class QuantizeBadInputTest {
  @TempDir
  Path tmp;

  private String failing(String job, String... extra) {
    Path out = tmp.resolve("out");
    String[] base = {job, "--model.path=" + TestSupport.model("tiny-llama-imdb"), "--output.path=" + out, "--spark.master=local[1]",
        "--calibration.windows=" + TestSupport.examples().resolve("golden").resolve("tiny-llama-imdb.calib.safetensors")};
    return TestSupport.failingRun(out, TestSupport.concat(base, extra));
  }

  private String failing(String... extra) {
    return failing("quantize", extra);
  }

  @Test
  void badSettingsAreNamed() {
    String[][] table = {
        {"'quantization.bits' is set to 5 but must be 2, 3, 4 or 8", "--quantization.method=rtn", "--quantization.bits=5"},
        {"'quantization.bits' is set to 16 but must be 2, 3, 4 or 8", "--quantization.method=gptq", "--quantization.bits=16"},
        {"'quantization.group-size' is set to 0 but must be an integer > 0", "--quantization.method=rtn", "--quantization.group-size=0"},
        {"'quantization.group-size' is set to -128 but must be an integer > 0", "--quantization.method=rtn", "--quantization.group-size=-128"},
        {"'quantization.group-size' is set to 96 but it does not divide the input width 256 of linear 'model.layers.0.self_attn.q_proj'",
            "--quantization.method=gptq", "--quantization.group-size=96"},
        {"'quantization.format' is gptq but 'quantization.symmetric' is false", "--quantization.method=gptq", "--quantization.format=gptq",
            "--quantization.symmetric=false"},
        {"'quantization.format' is gptq but 'quantization.symmetric' is false", "--quantization.method=gptq", "--quantization.format=gptq",
            "--quantization.symmetric=false", "--quantization.act-order=dynamic"},
        {"'quantization.format' is gptq but 'quantization.bits' is 3", "--quantization.method=gptq", "--quantization.format=gptq",
            "--quantization.bits=3"},
        {"'quantization.method' is set to 'awq' but must be one of none | rtn | gptq", "--quantization.method=awq"},
        {"'quantization.method' is none but sparkslim quantize needs rtn or gptq", "--quantization.method=none"},
        {"'quantization.format' is set to 'exl2' but must be one of compressed-tensors | gptq", "--quantization.method=rtn",
            "--quantization.format=exl2"},
        {"'quantization.act-order' is set to 'random' but must be one of", "--quantization.method=gptq", "--quantization.act-order=random"},
        {"'quantization.dampening-fraction' is set to -0.01 but must be >= 0", "--quantization.method=gptq",
            "--quantization.dampening-fraction=-0.01"},
        {"'quantization.dampening-fraction'", "--quantization.method=gptq", "--quantization.dampening-fraction=NaN"},
        {"'quantization.dampening-fraction'", "--quantization.method=gptq", "--quantization.dampening-fraction=Infinity"},
    };
    for (String[] row : table) {
      String err = failing(java.util.Arrays.copyOfRange(row, 1, row.length));
      assertTrue(err.contains(row[0]), "expected <" + row[0] + "> in: " + err);
    }
  }

  @Test
  void gptqWithoutCalibrationIsNamed() {
    Path out = tmp.resolve("out");
    String err = TestSupport.failingRun(out, "quantize", "--model.path=" + TestSupport.model("tiny-llama-imdb"), "--output.path=" + out,
        "--quantization.method=gptq");
    assertTrue(err.contains("calibration.windows") && err.contains("calibration.text"), err);
  }

  @Test
  void pruneWithQuantizationNeedsTheJointSweep() {
    String[][] table = {
        {"'quantization.method' is rtn but prune quantizes only with gptq", "--pruning.method=sparsegpt", "--quantization.method=rtn"},
        {"'quantization.method' is gptq with 'pruning.method' wanda", "--pruning.method=wanda", "--quantization.method=gptq",
            "--quantization.act-order=off"},
        {"'quantization.act-order' is static with 'pruning.mask-structure' 2:4", "--pruning.method=sparsegpt", "--quantization.method=gptq",
            "--pruning.mask-structure=2:4"},
        {"'pruning.dampening-fraction' is 0.05 but 'quantization.dampening-fraction' is 0.01", "--pruning.method=sparsegpt",
            "--quantization.method=gptq", "--quantization.act-order=off", "--pruning.dampening-fraction=0.05"},
        {"'pruning.layers' is first-half with 'quantization.method' gptq", "--pruning.method=sparsegpt", "--quantization.method=gptq",
            "--quantization.act-order=off", "--pruning.layers=first-half"},
    };
    for (String[] row : table) {
      String err = failing("prune", java.util.Arrays.copyOfRange(row, 1, row.length));
      assertTrue(err.contains(row[0]), "expected <" + row[0] + "> in: " + err);
    }
  }

  @Test
  void packedShapeThatDisagreesWithWeightShapeIsNamed() throws IOException {
    Path quantized = tmp.resolve("rtn");
    assertEquals(0, TestSupport.sparkslim("quantize", "--model.path=" + TestSupport.model("tiny-llama-imdb"), "--output.path=" + quantized,
        "--quantization.method=rtn", "--spark.master=local[1]"));
    // the codes are packed at 4 bits; a config declaring 8 makes every weight_packed half as wide as weight_shape implies
    Path config = quantized.resolve("model/config.json");
    ObjectNode json = (ObjectNode) TestSupport.readJson(config);
    ((ObjectNode) json.get("quantization_config").get("config_groups").get("group_0").get("weights")).put("num_bits", 8);
    Files.writeString(config, TestSupport.JSON.writeValueAsString(json));
    Files.deleteIfExists(config.resolveSibling(".config.json.crc")); // Hadoop's checksum of the file as written
    for (String job : List.of("quantize", "eval")) {
      Path out = tmp.resolve("out-" + job);
      String err = TestSupport.failingRun(out, job, "--model.path=" + quantized.resolve("model"), "--output.path=" + out,
          "--quantization.method=rtn", "--eval.texts=" + TestSupport.data("imdb.eval.txt"), "--spark.master=local[1]");
      assertTrue(err.contains("Tensor 'model.layers.0.self_attn.q_proj.weight_packed' in ")
          && err.contains("has shape [256, 32] but its weight_shape [256, 256] at 8 bits implies [256, 64]"), err);
    }
  }
}
