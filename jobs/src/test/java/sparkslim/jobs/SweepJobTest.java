package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsWriter;
import sparkslim.jobs.spark.SparkSessions;

/**
 * {@code sparkslim sweep}: every bad sweep file is exit 2 before Spark starts; a sweep's points have the PPL of the
 * standalone commands with the same settings, to the last digit; a killed sweep resumes without rerunning finished points
 * and gives the same rows; a point that fails at run time is a failed row and the sweep still writes its table, plots
 * and {@code _SUCCESS}.
 */
class SweepJobTest {
  @TempDir
  Path tmp;

  private static final String SHARED = String.join("\n",
      "calibration: {text: " + TestSupport.data("imdb.calib.txt") + ", num-samples: 4, seqlen: 64}",
      "eval: {texts: " + TestSupport.data("imdb.eval.txt") + ", max-windows: 3}",
      "depth: {protect: none}", "");

  private Path sweepFile(String name, String text) throws IOException {
    Path f = tmp.resolve(name);
    Files.writeString(f, text);
    return f;
  }

  private String failing(String text) throws IOException {
    Path out = tmp.resolve("bad-out");
    return TestSupport.failingRun(out, "sweep", "--config=" + sweepFile("bad.yaml", text), "--output.path=" + out, "--spark.master=local[1]");
  }

  @Test
  void badSweepFilesExitTwoBeforeSpark() throws IOException {
    String model = TestSupport.model("tiny-llama-imdb").toString();
    String[][] table = {
        {"expected a mapping with a 'sweep' key (models and grid), found a array", "- a\n- b\n"},
        {"expected a mapping under 'sweep'", "sweep: [a, b]\n"},
        {"'sweep.grid' is empty", "sweep:\n  models: [" + model + "]\n  grid: []\n" + SHARED},
        {"'sweep.grid' is empty", "sweep:\n  models: [" + model + "]\n" + SHARED},
        {"'sweep.models' is empty", "sweep:\n  models: []\n  grid:\n    - {pruning.method: [wanda]}\n" + SHARED},
        {"unknown config key 'pruning.methd' in grid block 1; did you mean 'pruning.method'?",
            "sweep:\n  models: [" + model + "]\n  grid:\n    - {pruning.methd: [wanda]}\n" + SHARED},
        {"unknown key 'sweep.concurency'", "sweep:\n  models: [" + model + "]\n  concurency: 2\n  grid:\n    - {pruning.method: [wanda]}\n"},
        {"Sweep point 'tiny-llama-imdb wanda 1.5' (grid block 1 of", "sweep:\n  models: [" + model
            + "]\n  grid:\n    - {pruning.method: [wanda], pruning.sparsity: [0.5, 1.5]}\n" + SHARED},
        {"Sweep point 'tiny-llama-imdb ppl -1' (grid block 1 of", "sweep:\n  models: [" + model
            + "]\n  grid:\n    - {depth.criterion: [ppl], depth.num-blocks: [1, -1]}\n" + SHARED},
        {"Model directory", "sweep:\n  models: [" + model + "-missing]\n  grid:\n    - {pruning.method: [wanda]}\n" + SHARED},
        {"grid block 1 and grid block 2 both produce the point 'tiny-llama-imdb wanda 0.5'", "sweep:\n  models: [" + model
            + "]\n  grid:\n    - {pruning.method: [wanda], pruning.sparsity: [0.5]}\n    - {pruning.method: [wanda], pruning.sparsity: [0.50]}\n"
            + SHARED},
        {"grid block 1 sweeps 'output.path'", "sweep:\n  models: [" + model + "]\n  grid:\n    - {pruning.method: [wanda], output.path: [a, b]}\n"},
        {"no method key", "sweep:\n  models: [" + model + "]\n  grid:\n    - {calibration.num-samples: [4, 8]}\n" + SHARED},
        {"'sweep.concurrency' is '0'", "sweep:\n  models: [" + model + "]\n  concurrency: 0\n  grid:\n    - {pruning.method: [wanda]}\n"},
        {"unknown config key 'evl.texts' among the shared keys", "sweep:\n  models: [" + model
            + "]\n  grid:\n    - {pruning.method: [wanda]}\nevl: {texts: a.txt}\n"},
    };
    int started = SparkSessions.started();
    for (String[] row : table) {
      String err = failing(row[1]);
      assertTrue(err.contains(row[0]), "expected <" + row[0] + "> in: " + err);
    }
    assertEquals(started, SparkSessions.started(), "no Spark session may start for a bad sweep file");
  }

  @Test
  void pointsMatchStandaloneCommandsAndResume() throws IOException {
    String model = TestSupport.model("tiny-llama-imdb").toString();
    Path file = sweepFile("sweep.yaml", "sweep:\n  models: [" + model + "]\n  concurrency: 2\n  grid:\n"
        + "    - {pruning.method: [wanda, sparsegpt], pruning.sparsity: [0.5]}\n"
        + "    - {depth.criterion: [ppl], depth.num-blocks: [1, 2]}\n" + SHARED);
    Path out = tmp.resolve("sweep");
    String[] sweep = {"sweep", "--config=" + file, "--output.path=" + out, "--spark.master=local[2]"};

    // A sweep killed after two points leaves their outputs and no _SUCCESS; the rerun skips them.
    assertEquals(Main.EXIT_FAILURE, TestSupport.sparkslimWith(SweepJob.STOP_AFTER_PROPERTY, "2", sweep));
    assertFalse(Files.exists(out.resolve("_SUCCESS")));
    List<String> finished = new ArrayList<>();
    try (var dirs = Files.list(out.resolve("points"))) {
      dirs.filter(d -> Files.exists(d.resolve("_SUCCESS"))).forEach(d -> finished.add(d.getFileName().toString()));
    }
    // two driver threads: the points already started when the second finished finish too
    assertTrue(finished.size() >= 2 && finished.size() < 5, "some points finished before the stop: " + finished);
    assertEquals(0, TestSupport.sparkslim(sweep));
    JsonNode first = TestSupport.readJson(out.resolve("report.json"));
    assertEquals(5, first.get("points").asInt()); // the dense row and four points
    assertEquals(finished.size(), first.get("resumed").asInt());
    assertEquals(0, first.get("failed").asInt());
    for (String name : List.of("results.parquet", "results.csv", "results.md", "report.html", "ppl-vs-sparsity.png", "ppl-vs-size.png",
        "depth-criteria.png", "_SUCCESS")) {
      assertTrue(Files.exists(out.resolve(name)), name);
    }
    assertTrue(first.path("shared").path("block scores").path("reused").asInt() >= 1, "depth points share their scores: " + first.get("shared"));
    assertTrue(first.path("shared").path("calibration windows").path("reused").asInt() >= 1);
    // wanda and sparsegpt share block 0's statistics, unless one of them finished before the stop
    assertTrue(first.path("shared").path("block 0 statistics").path("computed").asInt() <= 1, first.get("shared").toString());

    // A second rerun resumes every point and gives the same rows.
    assertEquals(0, TestSupport.sparkslim(sweep));
    JsonNode second = TestSupport.readJson(out.resolve("report.json"));
    assertEquals(5, second.get("resumed").asInt());
    assertEquals(measured(first), measured(second));

    // Each point has the PPL of the standalone command with the same settings, to the last digit.
    Map<String, Double> ppl = new LinkedHashMap<>();
    for (JsonNode row : first.get("results")) {
      ppl.put(row.get("point").asText(), row.get("ppl imdb.eval.txt").asDouble());
    }
    String[] common = {"--model.path=" + model, "--spark.master=local[2]", "--calibration.text=" + TestSupport.data("imdb.calib.txt"),
        "--calibration.num-samples=4", "--calibration.seqlen=64", "--eval.texts=" + TestSupport.data("imdb.eval.txt"), "--eval.max-windows=3"};
    Path wanda = tmp.resolve("wanda");
    assertEquals(0, TestSupport.sparkslim(TestSupport.concat(new String[] {"prune", "--output.path=" + wanda, "--pruning.method=wanda",
        "--pruning.sparsity=0.5"}, common)));
    assertEquals(ppl.get("tiny-llama-imdb__prune__method=wanda__sparsity=0.5"), evalPpl(wanda));
    Path depth = tmp.resolve("depth");
    assertEquals(0, TestSupport.sparkslim(TestSupport.concat(new String[] {"depth-prune", "--output.path=" + depth, "--depth.criterion=ppl",
        "--depth.num-blocks=2", "--depth.protect=none"}, common)));
    assertEquals(ppl.get("tiny-llama-imdb__depth-prune__criterion=ppl__num-blocks=2"), evalPpl(depth));
    assertEquals(ppl.get("tiny-llama-imdb__dense"), TestSupport.readJson(depth.resolve("report.json")).at("/eval_before/imdb.eval.txt/ppl")
        .asDouble());
  }

  @Test
  void aFailingPointIsARowAndTheSweepGoesOn() throws IOException {
    Path biased = biasedLlama();
    String model = TestSupport.model("tiny-llama-imdb").toString();
    Path file = sweepFile("sweep.yaml", "sweep:\n  models: [" + model + ", " + biased + "]\n  concurrency: 2\n  grid:\n"
        + "    - {pruning.method: [sparsellm], pruning.sparsity: [0.5]}\n" + SHARED + "pruning: {sparsellm: {iterations: 2}}\n");
    Path out = tmp.resolve("sweep");
    assertEquals(0, TestSupport.sparkslim("sweep", "--config=" + file, "--output.path=" + out, "--spark.master=local[2]"));
    JsonNode report = TestSupport.readJson(out.resolve("report.json"));
    assertEquals(4, report.get("points").asInt());
    assertEquals(1, report.get("failed").asInt(), report.get("results").toString());
    JsonNode failed = null;
    for (JsonNode row : report.get("results")) {
      if (row.get("status").asText().equals("failed")) {
        failed = row;
      }
    }
    assertEquals("tiny-llama-imdb-2__prune__method=sparsellm__sparsity=0.5", failed.get("point").asText());
    assertTrue(failed.get("error").asText().contains("SparseLLM supports only"), failed.toString());
    String csv = Files.readString(out.resolve("results.csv"));
    assertTrue(csv.contains(",failed,"), csv);
    assertTrue(Files.exists(out.resolve("ppl-vs-sparsity.png")));
    assertTrue(Files.exists(out.resolve("_SUCCESS")));
    assertTrue(Files.readString(out.resolve("report.html")).contains("class=\"failed\""));
  }

  /** Each row without its timing and resume columns. */
  private static List<Map<String, String>> measured(JsonNode report) {
    List<Map<String, String>> rows = new ArrayList<>();
    for (JsonNode row : report.get("results")) {
      Map<String, String> m = new LinkedHashMap<>();
      Iterator<Map.Entry<String, JsonNode>> it = row.fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> e = it.next();
        if (!e.getKey().startsWith("seconds ") && !e.getKey().equals("point_seconds") && !e.getKey().equals("resumed")) {
          m.put(e.getKey(), e.getValue().toString());
        }
      }
      rows.add(m);
    }
    rows.sort(java.util.Comparator.comparing(r -> r.get("point")));
    return rows;
  }

  private static double evalPpl(Path out) {
    return TestSupport.readJson(out.resolve("report.json")).at("/eval/imdb.eval.txt/ppl").asDouble();
  }

  /**
   * tiny-llama-imdb with {@code mlp_bias: true} and zero FFN biases in an extra shard: a model every job loads, whose FFN
   * SparseLLM does not support.
   */
  private Path biasedLlama() throws IOException {
    Path src = TestSupport.model("tiny-llama-imdb");
    Path dst = tmp.resolve("models").resolve("tiny-llama-imdb");
    Files.createDirectories(dst);
    try (var files = Files.list(src)) {
      for (Path f : files.toList()) {
        Files.copy(f, dst.resolve(f.getFileName()));
      }
    }
    ObjectNode config = (ObjectNode) TestSupport.readJson(dst.resolve("config.json"));
    config.put("mlp_bias", true);
    Files.writeString(dst.resolve("config.json"), config.toPrettyString());
    int layers = config.get("num_hidden_layers").asInt();
    int hidden = config.get("hidden_size").asInt();
    int ffn = config.get("intermediate_size").asInt();
    List<SafetensorsWriter.Tensor> biases = new ArrayList<>();
    ObjectNode index = (ObjectNode) TestSupport.readJson(dst.resolve("model.safetensors.index.json"));
    ObjectNode map = (ObjectNode) index.get("weight_map");
    for (int l = 0; l < layers; l++) {
      for (String[] b : new String[][] {{"gate_proj", String.valueOf(ffn)}, {"up_proj", String.valueOf(ffn)}, {"down_proj", String.valueOf(hidden)}}) {
        String name = "model.layers." + l + ".mlp." + b[0] + ".bias";
        int n = Integer.parseInt(b[1]);
        biases.add(SafetensorsWriter.Tensor.ofFloats(name, DType.BF16, new long[] {n}, new float[n]));
        map.put(name, "biases.safetensors");
      }
    }
    SafetensorsWriter.writeFile(FileSystem.getLocal(new Configuration()), new org.apache.hadoop.fs.Path(dst.resolve("biases.safetensors").toString()),
        biases, Map.of("format", "pt"));
    Files.writeString(dst.resolve("model.safetensors.index.json"), index.toPrettyString());
    return dst;
  }
}
