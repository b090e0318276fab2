package sparkslim.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.SparkslimException;

class ConfigLoaderTest {
  @TempDir
  Path tmp;

  @Test
  void defaultsThenFilesThenCommandLine() throws Exception {
    Path file = tmp.resolve("exp.yaml");
    Files.writeString(file, "eval:\n  seqlen: 256\n  texts: [a.txt, b.txt]\nmodel.path: m\n");
    Config c = ConfigLoader.fromArgs(List.of("--config=" + file, "--eval.seqlen=128"));
    assertEquals(128, c.integer(ConfigKey.EVAL_SEQLEN));
    assertEquals(List.of("a.txt", "b.txt"), c.list(ConfigKey.EVAL_TEXTS));
    assertEquals("m", c.required(ConfigKey.MODEL_PATH));
    assertEquals(0, c.integer(ConfigKey.EVAL_MAX_WINDOWS));
    assertEquals("command line", c.origins().get("eval.seqlen"));
  }

  @Test
  void resolvedYamlReadsBack() throws Exception {
    Config c = ConfigLoader.fromArgs(List.of("--model.path=x y", "--eval.texts=a,b"));
    Path file = tmp.resolve("resolved.yaml");
    Files.writeString(file, c.toYaml());
    Config back = ConfigLoader.load(List.of(file.toString()), Map.of());
    assertEquals(c.values(), back.values());
  }

  @Test
  void unknownKeysAreRejectedWithASuggestion() throws Exception {
    SparkslimException e = assertThrows(SparkslimException.class, () -> ConfigLoader.fromArgs(List.of("--eval.max-window=3")));
    assertEquals("Unknown config key 'eval.max-window' (from command line); did you mean 'eval.max-windows'?", e.getMessage());
    Path file = tmp.resolve("bad.yaml");
    Files.writeString(file, "model:\n  pth: x\n");
    e = assertThrows(SparkslimException.class, () -> ConfigLoader.fromArgs(List.of("--config=" + file)));
    assertTrue(e.getMessage().startsWith("Unknown config key 'model.pth' (from " + file + ")"), e.getMessage());
  }

  @Test
  void typedAccessorsNameTheKey() {
    Config c = ConfigLoader.fromArgs(List.of("--eval.seqlen=abc"));
    SparkslimException e = assertThrows(SparkslimException.class, () -> c.integer(ConfigKey.EVAL_SEQLEN));
    assertEquals("'eval.seqlen' is set to 'abc' but must be an integer", e.getMessage());
    e = assertThrows(SparkslimException.class, () -> c.required(ConfigKey.MODEL_PATH));
    assertTrue(e.getMessage().startsWith("Missing required key 'model.path'"), e.getMessage());
  }

  @Test
  void jobDefaultsSitBetweenDefaultsAndTheCommandLine() {
    Config prune = ConfigLoader.fromArgs(List.of());
    assertEquals(64, prune.integer(ConfigKey.CALIBRATION_NUM_SAMPLES));
    Config depth = ConfigLoader.fromArgs("depth-prune", List.of("--calibration.seqlen=512"));
    assertEquals(10, depth.integer(ConfigKey.CALIBRATION_NUM_SAMPLES));
    assertEquals("conf/defaults-depth-prune.yaml", depth.origins().get("calibration.num-samples"));
    assertEquals(512, depth.integer(ConfigKey.CALIBRATION_SEQLEN));
    assertEquals("command line", depth.origins().get("calibration.seqlen"));
    assertEquals("0,1,2,3,L-2,L-1", depth.string(ConfigKey.DEPTH_PROTECT));
  }
}
