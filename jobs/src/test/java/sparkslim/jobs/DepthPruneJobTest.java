package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import sparkslim.core.calib.CalibrationWindows;
import sparkslim.core.depth.ShortenedModel;
import sparkslim.core.eval.EvalWindows;
import sparkslim.core.io.AvroSchemas;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.Tensor;
import sparkslim.core.tokenize.TextFiles;
import sparkslim.core.tokenize.TextTokenizer;

/** depth-prune end to end against the golden numbers: the PPL table, the Taylor and magnitude scores, the exported model. */
class DepthPruneJobTest {
  @TempDir
  Path tmp;

  static String[] depthArgs(String model, Path out, String... extra) {
    String[] base = {"depth-prune", "--model.path=" + TestSupport.model(model), "--output.path=" + out, "--spark.master=local[2]"};
    return TestSupport.concat(base, extra);
  }

  static String goldenWindows(String model) {
    return "--calibration.windows=" + TestSupport.examples().resolve("golden").resolve(model + ".calib.safetensors");
  }

  static double[] doubles(JsonNode array) {
    double[] out = new double[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asDouble();
    }
    return out;
  }

  static List<Integer> ints(JsonNode array) {
    List<Integer> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asInt()));
    return out;
  }

  private static void assertRelative(double expected, double actual, double tolerance, String what) {
    assertTrue(Math.abs(actual - expected) <= tolerance * Math.abs(expected), what + ": expected " + expected + ", found " + actual
        + " (relative " + Math.abs(actual - expected) / Math.abs(expected) + ")");
  }

  /**
   * The windows job writes the first 32 eval windows; the PPL criterion on them reproduces golden.json's block-removal
   * table; removing the 2 best blocks (protection off) exports a 6-layer model whose eval PPL is the report's.
   */
  @ParameterizedTest
  @ValueSource(strings = {"tiny-llama-imdb", "tiny-opt-imdb"})
  void pplCriterionMatchesGoldenTableAndExportedModelEvaluates(String model) throws Exception {
    Path windowsOut = tmp.resolve("windows");
    assertEquals(0, TestSupport.sparkslim("windows", "--model.path=" + TestSupport.model(model), "--eval.texts=" + TestSupport.data("imdb.eval.txt"),
        "--eval.seqlen=512", "--eval.max-windows=32", "--output.path=" + windowsOut));
    Path windowsFile = windowsOut.resolve(WindowsJob.FILE);
    List<int[]> written = CalibrationWindows.read(windowsFile.toString(), 8192, new Configuration());
    List<int[]> expected;
    try (TextTokenizer tokenizer = TextTokenizer.load(org.apache.hadoop.fs.FileSystem.getLocal(new Configuration()),
        new org.apache.hadoop.fs.Path(TestSupport.model(model).resolve("tokenizer.json").toString()))) {
      int[] tokens = tokenizer.encode(TextFiles.read(new org.apache.hadoop.fs.Path(TestSupport.data("imdb.eval.txt").toString()), new Configuration(), "t"));
      expected = EvalWindows.cut(tokens, 512, 32, "imdb.eval.txt");
    }
    assertEquals(32, written.size());
    for (int w = 0; w < 32; w++) {
      assertArrayEquals(expected.get(w), written.get(w), "window " + w);
    }

    Path out = tmp.resolve("depth");
    assertEquals(0, TestSupport.sparkslim(depthArgs(model, out, "--depth.criterion=ppl", "--depth.num-blocks=2", "--depth.protect=none",
        "--calibration.windows=" + windowsFile, "--calibration.num-samples=32", "--calibration.seqlen=512",
        "--eval.texts=" + TestSupport.data("imdb.eval.txt"), "--eval.max-windows=4")));
    assertTrue(Files.exists(out.resolve("_SUCCESS")));
    JsonNode report = TestSupport.readJson(out.resolve("report.json"));
    JsonNode depth = report.get("depth");
    JsonNode golden = TestSupport.golden().get(model).get("block_removal_ppl_imdb_eval_first32");
    double[] scores = doubles(depth.get("scores"));
    double[] goldenScores = doubles(golden.get("without_block"));
    System.out.printf("%s PPL criterion: dense %.6f (golden %.6f), without block %s%n  golden %s%n", model, depth.get("model_score").asDouble(),
        golden.get("dense").asDouble(), java.util.Arrays.toString(scores), java.util.Arrays.toString(goldenScores));
    assertRelative(golden.get("dense").asDouble(), depth.get("model_score").asDouble(), 1e-3, "dense calibration PPL");
    for (int b = 0; b < goldenScores.length; b++) {
      assertRelative(goldenScores[b], scores[b], 1e-3, "PPL without block " + b);
    }
    List<Integer> order = ints(depth.get("order"));
    List<Integer> kept = ints(depth.get("kept"));
    assertEquals(order.subList(0, 2), ints(depth.get("removed")));
    assertEquals(6, kept.size());

    // the exported model: 6 layers, kept indices recorded, tensors equal to the source's kept blocks, eval = report
    JsonNode config = TestSupport.readJson(out.resolve("model").resolve("config.json"));
    assertEquals(6, config.get("num_hidden_layers").asInt());
    assertEquals(kept, ints(config.get(ShortenedModel.METADATA_KEY).get("kept_layers")));
    assertEquals(order.subList(0, 2), ints(config.get(ShortenedModel.METADATA_KEY).get("removed_layers")));
    Configuration conf = new Configuration();
    ModelDirectory source = ModelDirectory.open(TestSupport.model(model).toString(), conf);
    ModelDirectory shortened = ModelDirectory.open(out.resolve("model").toString(), conf);
    for (int i = 0; i < kept.size(); i++) {
      Map<String, Tensor> a = source.loadBlock(kept.get(i));
      Map<String, Tensor> b = shortened.loadBlock(i);
      for (String name : a.keySet()) {
        assertArrayEquals(a.get(name).data(), b.get(name).data(), "layer " + i + " " + name);
      }
    }
    double reported = report.get("eval").get("imdb.eval.txt").get("ppl").asDouble();
    double exported = TestSupport.exportedModelPpl(out, tmp.resolve("eval"));
    System.out.printf("%s without %s: eval ppl before %.6f, after %.6f, eval of the exported model %.6f%n", model, depth.get("removed"),
        report.get("eval_before").get("imdb.eval.txt").get("ppl").asDouble(), reported, exported);
    assertEquals(reported, exported, reported * 1e-12);
    assertTrue(report.get("eval_before").get("imdb.eval.txt").get("ppl").asDouble() < reported);
    assertEquals(8, AvroSchemas.read(new org.apache.hadoop.fs.Path(out.resolve("scores").resolve("round-00000.parquet").toString()), conf).size());
  }

  /** Taylor+ and magnitude on calibration_windows[0:10, 0:128] (the job's defaults) against examples/golden/depth_taylor.json. */
  @ParameterizedTest
  @ValueSource(strings = {"tiny-llama-imdb", "tiny-opt-imdb"})
  void taylorAndMagnitudeMatchGolden(String model) {
    JsonNode golden = TestSupport.readJson(TestSupport.examples().resolve("golden").resolve("depth_taylor.json")).get(model);
    Path taylorOut = tmp.resolve("taylor");
    assertEquals(0, TestSupport.sparkslim(depthArgs(model, taylorOut, "--depth.criterion=taylor", "--depth.num-blocks=1", goldenWindows(model))));
    JsonNode depth = TestSupport.readJson(taylorOut.resolve("report.json")).get("depth");
    double[] scores = doubles(depth.get("scores"));
    double[] goldenScores = doubles(golden.get("taylor_block_scores"));
    System.out.printf("%s Taylor: loss %.9f (golden %.9f)%n  scores %s%n  golden %s%n  order %s plus %s%n", model, depth.get("model_score").asDouble(),
        golden.get("loss").asDouble(), java.util.Arrays.toString(scores), java.util.Arrays.toString(goldenScores), depth.get("order"),
        depth.get("candidate_order"));
    assertRelative(golden.get("loss").asDouble(), depth.get("model_score").asDouble(), 1e-5, "calibration loss");
    for (int b = 0; b < goldenScores.length; b++) {
      assertRelative(goldenScores[b], scores[b], 1e-3, "Taylor score of block " + b);
    }
    assertEquals(ints(golden.get("taylor_order_raw")), ints(depth.get("order")));
    assertEquals(ints(golden.get("taylor_plus_order")), ints(depth.get("candidate_order")));
    assertEquals(ints(golden.get("taylor_plus_order")).subList(0, 1), ints(depth.get("removed")));
    assertEquals(List.of(0, 1, 2, 3, 6, 7), ints(depth.get("protected")));

    Path magnitudeOut = tmp.resolve("magnitude");
    assertEquals(0, TestSupport.sparkslim(depthArgs(model, magnitudeOut, "--depth.criterion=magnitude", "--depth.num-blocks=1")));
    double[] magnitude = doubles(TestSupport.readJson(magnitudeOut.resolve("report.json")).get("depth").get("scores"));
    double[] goldenMagnitude = doubles(golden.get("magnitude_block_scores"));
    System.out.printf("%s magnitude %s%n  golden %s%n", model, java.util.Arrays.toString(magnitude), java.util.Arrays.toString(goldenMagnitude));
    for (int b = 0; b < goldenMagnitude.length; b++) {
      assertRelative(goldenMagnitude[b], magnitude[b], 1e-6, "magnitude score of block " + b);
    }
  }

  /** Scores and the exported bytes are the same on local[1], local[2] with 5 partitions and two executor JVMs. */
  @ParameterizedTest
  @ValueSource(strings = {"taylor", "ppl"})
  void sameScoresOnAnyMaster(String criterion) throws Exception {
    TestSupport.ensureSparkHome();
    String[] common = {"--depth.criterion=" + criterion, "--depth.num-blocks=2", "--depth.protect=none", goldenWindows("tiny-llama-imdb"),
        "--calibration.num-samples=" + (criterion.equals("ppl") ? 4 : 10), "--calibration.seqlen=" + (criterion.equals("ppl") ? 64 : 128)};
    Path one = tmp.resolve("local1");
    Path two = tmp.resolve("local2");
    Path cluster = tmp.resolve("cluster");
    assertEquals(0, TestSupport.sparkslim(TestSupport.concat(depthArgs("tiny-llama-imdb", one, common), "--spark.master=local[1]")));
    assertEquals(0, TestSupport.sparkslim(TestSupport.concat(depthArgs("tiny-llama-imdb", two, common), "--calibration.partitions=5")));
    assertEquals(0, TestSupport.sparkslim(TestSupport.concat(depthArgs("tiny-llama-imdb", cluster, common), "--spark.master=local-cluster[2,1,1024]")));
    double[] a = doubles(TestSupport.readJson(one.resolve("report.json")).get("depth").get("scores"));
    double[] b = doubles(TestSupport.readJson(two.resolve("report.json")).get("depth").get("scores"));
    double[] c = doubles(TestSupport.readJson(cluster.resolve("report.json")).get("depth").get("scores"));
    assertArrayEquals(a, b);
    assertArrayEquals(a, c);
    TestSupport.assertSameModel(one, cluster);
    System.out.println(criterion + " scores identical on local[1], local[2] (5 partitions), local-cluster[2,1,1024]: " + java.util.Arrays.toString(a));
  }

  /**
   * The streamed mode (the driver holds no model; executors read one block at a time) gives the in-memory scores,
   * removals, exported bytes and eval PPL to the last bit: PPL iteratively (rounds skip the removed blocks), magnitude.
   */
  @Test
  void streamedMatchesInMemory() throws Exception {
    TestSupport.ensureSparkHome();
    String[] ppl = {"--depth.criterion=ppl", "--depth.num-blocks=2", "--depth.protect=none", "--depth.mode=iterative",
        goldenWindows("tiny-llama-imdb"), "--calibration.num-samples=4", "--calibration.seqlen=64",
        "--eval.texts=" + TestSupport.data("imdb.eval.txt"), "--eval.max-windows=2"};
    String[] magnitude = {"--depth.criterion=magnitude", "--depth.num-blocks=3", "--depth.protect=none"};
    for (String[] common : List.of(ppl, magnitude)) {
      Path inMemory = tmp.resolve("in-memory-" + common[0].substring(common[0].indexOf('=') + 1));
      Path streamed = tmp.resolve("streamed-" + common[0].substring(common[0].indexOf('=') + 1));
      assertEquals(0, TestSupport.sparkslim(TestSupport.concat(depthArgs("tiny-llama-imdb", inMemory, common), "--eval.mode=in-memory")));
      assertEquals(0, TestSupport.sparkslim(TestSupport.concat(depthArgs("tiny-llama-imdb", streamed, common), "--eval.mode=streamed",
          "--spark.master=local-cluster[2,1,1024]")));
      JsonNode a = TestSupport.readJson(inMemory.resolve("report.json"));
      JsonNode b = TestSupport.readJson(streamed.resolve("report.json"));
      assertEquals("in-memory", a.get("eval_mode").asText());
      assertEquals("streamed", b.get("eval_mode").asText());
      assertEquals(withoutSeconds(a.get("depth").get("rounds")), withoutSeconds(b.get("depth").get("rounds")), "scores of every round");
      assertEquals(a.get("depth").get("removed"), b.get("depth").get("removed"));
      assertEquals(a.get("eval"), b.get("eval"));
      assertEquals(a.get("eval_before"), b.get("eval_before"));
      TestSupport.assertSameModel(inMemory, streamed);
    }
  }

  private static JsonNode withoutSeconds(JsonNode rounds) {
    JsonNode copy = rounds.deepCopy();
    copy.forEach(r -> ((com.fasterxml.jackson.databind.node.ObjectNode) r).remove("seconds"));
    return copy;
  }

  /** Iterative removal re-scores the shortened model; a failure after round 0 resumes at round 1 with identical output. */
  @ParameterizedTest
  @ValueSource(strings = {"ppl"})
  void iterativeResumesAfterInjectedFailure(String criterion) throws Exception {
    String[] common = {"--depth.criterion=" + criterion, "--depth.num-blocks=2", "--depth.protect=none", "--depth.mode=iterative",
        goldenWindows("tiny-opt-imdb"), "--calibration.num-samples=4", "--calibration.seqlen=64"};
    Path full = tmp.resolve("full");
    Path resumed = tmp.resolve("resumed");
    assertEquals(0, TestSupport.sparkslim(depthArgs("tiny-opt-imdb", full, common)));
    assertEquals(Main.EXIT_FAILURE, TestSupport.sparkslimWith(DepthPruneJob.INJECT_FAILURE_PROPERTY, "0", depthArgs("tiny-opt-imdb", resumed, common)));
    assertFalse(Files.exists(resumed.resolve("_SUCCESS")));
    assertTrue(Files.exists(resumed.resolve("scores").resolve("round-00000.parquet")));
    assertEquals(0, TestSupport.sparkslim(depthArgs("tiny-opt-imdb", resumed, common)));
    JsonNode depth = TestSupport.readJson(resumed.resolve("report.json")).get("depth");
    JsonNode rounds = depth.get("rounds");
    assertEquals(2, rounds.size());
    assertTrue(rounds.get(0).get("resumed").asBoolean());
    assertFalse(rounds.get(1).get("resumed").asBoolean());
    // round 1 scores the 7 remaining blocks of the shortened model: the block removed in round 0 has no score
    int first = rounds.get(0).get("removed").get(0).asInt();
    assertTrue(rounds.get(1).get("scores").get(first).isNull());
    assertEquals(7, rounds.get(1).get("order").size());
    assertEquals(TestSupport.readJson(full.resolve("report.json")).get("depth").get("removed"), depth.get("removed"));
    TestSupport.assertSameModel(full, resumed);
    List<GenericRecord> rows = AvroSchemas.read(new org.apache.hadoop.fs.Path(resumed.resolve("scores").resolve("round-00001.parquet").toString()),
        new Configuration());
    assertEquals(7, rows.size());
    System.out.println("iterative " + criterion + ": removed " + depth.get("removed") + "; resumed after round 0, identical safetensors");
  }
}
