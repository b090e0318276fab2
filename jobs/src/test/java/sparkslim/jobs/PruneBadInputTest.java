package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsWriter;

/** Bad prune input: a clear error naming the key or file, exit code 2, no _SUCCESS. Checked before Spark starts. */
class PruneBadInputTest {
  @TempDir
  Path tmp;

  private String failing(String... extra) {
    Path out = tmp.resolve("out");
    String[] base = {"prune", "--model.path=" + TestSupport.model("tiny-opt-imdb"), "--output.path=" + out, "--spark.master=local[1]"};
    String[] args = new String[base.length + extra.length];
    System.arraycopy(base, 0, args, 0, base.length);
    System.arraycopy(extra, 0, args, base.length, extra.length);
    return TestSupport.failingRun(out, args);
  }

  private String windows() {
    return "--calibration.windows=" + TestSupport.examples().resolve("golden").resolve("tiny-opt-imdb.calib.safetensors");
  }

  @Test
  void sparsityOutsideUnitInterval() {
    for (String s : List.of("1", "1.2", "-0.1")) {
      String err = failing("--pruning.method=wanda", "--pruning.sparsity=" + s, windows());
      assertTrue(err.contains("'pruning.sparsity' is set to " + s + " but must be in [0, 1)"), err);
    }
  }

  @Test
  void badMaskStructures() {
    for (String m : List.of("3:2", "0:4", "a:b")) {
      String err = failing("--pruning.method=sparsegpt", "--pruning.mask-structure=" + m, windows());
      assertTrue(err.contains("'pruning.mask-structure'") && err.contains(m), err);
    }
  }

  @Test
  void calibrationTextShorterThanOneWindow() throws Exception {
    Path text = tmp.resolve("tiny.txt");
    Files.writeString(text, "Short. Too short for a window.\n");
    String err = failing("--pruning.method=wanda", "--calibration.text=" + text);
    assertTrue(err.contains("tiny.txt") && err.contains("calibration.seqlen"), err);
  }

  @Test
  void nonPositiveNumSamples() {
    String err = failing("--pruning.method=wanda", windows(), "--calibration.num-samples=0");
    assertTrue(err.contains("'calibration.num-samples' is set to 0 but must be > 0"), err);
  }

  @Test
  void windowsFileWithWrongDtype() {
    Path f = tmp.resolve("float.safetensors");
    SafetensorsWriter.writeFile(local(), new org.apache.hadoop.fs.Path(f.toString()),
        List.of(SafetensorsWriter.Tensor.ofFloats("calibration_windows", DType.F32, new long[] {2, 512}, new float[1024])), Map.of());
    String err = failing("--pruning.method=wanda", "--calibration.windows=" + f, "--calibration.num-samples=2");
    assertTrue(err.contains("float.safetensors") && err.contains("F32"), err);
  }

  @Test
  void windowsFileWithWrongShape() {
    Path f = tmp.resolve("flat.safetensors");
    SafetensorsWriter.writeFile(local(), new org.apache.hadoop.fs.Path(f.toString()),
        List.of(SafetensorsWriter.Tensor.ofLongs("calibration_windows", new long[] {1024}, new long[1024])), Map.of());
    String err = failing("--pruning.method=wanda", "--calibration.windows=" + f);
    assertTrue(err.contains("flat.safetensors") && err.contains("[num_samples, seqlen]"), err);
  }

  @Test
  void windowsFileWithTokenOutsideVocabulary() {
    long[] ids = new long[2 * 512];
    ids[700] = 8192;
    Path f = tmp.resolve("vocab.safetensors");
    SafetensorsWriter.writeFile(local(), new org.apache.hadoop.fs.Path(f.toString()),
        List.of(SafetensorsWriter.Tensor.ofLongs("calibration_windows", new long[] {2, 512}, ids)), Map.of());
    String err = failing("--pruning.method=wanda", "--calibration.windows=" + f, "--calibration.num-samples=2");
    assertTrue(err.contains("vocab.safetensors") && err.contains("8192"), err);
  }

  @Test
  void unknownMethod() {
    String err = failing("--pruning.method=obs", windows());
    assertTrue(err.contains("'pruning.method' is set to 'obs' but must be one of magnitude, wanda, sparsegpt"), err);
  }

  private static FileSystem local() {
    try {
      return FileSystem.getLocal(new Configuration());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Test
  void sparseLlmPenaltiesMustBePositive() {
    for (String key : List.of("alpha", "beta", "gamma")) {
      for (String v : List.of("0", "-1")) {
        String err = failing("--pruning.method=sparsellm", "--pruning.sparsellm." + key + "=" + v, windows());
        assertTrue(err.contains("'pruning.sparsellm." + key + "' is set to " + Double.parseDouble(v) + " but must be > 0"), err);
      }
    }
    String err = failing("--pruning.method=sparsellm", "--pruning.sparsellm.alpha=big", windows());
    assertTrue(err.contains("'pruning.sparsellm.alpha' is set to 'big' but must be a number > 0 or 'auto'"), err);
  }

  @Test
  void sparseLlmIterationsAtLeastOne() {
    for (String v : List.of("0", "-3")) {
      String err = failing("--pruning.method=sparsellm", "--pruning.sparsellm.iterations=" + v, windows());
      assertTrue(err.contains("'pruning.sparsellm.iterations' is set to " + v + " but must be >= 1"), err);
    }
  }

  @Test
  void sparseLlmRefusesUnsupportedFfnKind() throws Exception {
    Path model = tmp.resolve("llama-mlp-bias");
    Files.createDirectories(model);
    try (var files = Files.list(TestSupport.model("tiny-llama-imdb"))) {
      for (Path f : files.collect(java.util.stream.Collectors.toList())) {
        Files.createSymbolicLink(model.resolve(f.getFileName()), f);
      }
    }
    Files.delete(model.resolve("config.json"));
    String config = Files.readString(TestSupport.model("tiny-llama-imdb").resolve("config.json"), StandardCharsets.UTF_8)
        .replace("\"mlp_bias\": false", "\"mlp_bias\": true");
    assertTrue(config.contains("\"mlp_bias\": true"), "the fixture's config.json sets mlp_bias");
    Files.writeString(model.resolve("config.json"), config);
    Path out = tmp.resolve("out");
    String err = TestSupport.failingRun(out, "prune", "--model.path=" + model, "--output.path=" + out, "--spark.master=local[1]",
        "--pruning.method=sparsellm", "--calibration.windows=" + TestSupport.examples().resolve("golden").resolve("tiny-llama-imdb.calib.safetensors"),
        "--calibration.num-samples=2", "--calibration.seqlen=16");
    assertTrue(err.contains(model.resolve("config.json").toString()) && err.contains("'mlp_bias': true") && err.contains("LLAMA_SWIGLU"), err);
  }
}
