package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.io.SafetensorsFile;
import sparkslim.core.lowrank.LowRankSolver;
import sparkslim.jobs.driver.LayerSequentialDriver;

/**
 * {@code sparkslim lowrank} end to end on the example LLaMA: every linear factored at its rank, the report's per-linear
 * ranks and truncation losses and parameter counts, the factored export read by our eval and the dense one giving
 * the report's PPL, identical bytes on local[1], local[2] with other partitions, local-cluster and after a resumed
 * failure, and plain SVD running without calibration data.
 */
class LowRankJobTest {
  private static final double RATIO = 0.6;

  @TempDir
  Path tmp;

  private static String[] lowrankArgs(Path out, String... extra) {
    String[] base = {"lowrank", "--model.path=" + TestSupport.model("tiny-llama-imdb"), "--output.path=" + out,
        "--lowrank.method=svd-llm", "--lowrank.ratio=" + RATIO,
        "--calibration.windows=" + TestSupport.examples().resolve("golden").resolve("tiny-llama-imdb.calib.safetensors"),
        "--calibration.num-samples=4", "--calibration.seqlen=128",
        "--eval.texts=" + TestSupport.data("imdb.eval.txt"), "--eval.max-windows=4", "--spark.master=local[2]"};
    return TestSupport.concat(base, extra);
  }

  @Test
  void svdLlmFactorsEveryLinearAndBothExportsGiveTheReportsPpl() throws IOException {
    Path out = tmp.resolve("svd-llm");
    assertEquals(0, TestSupport.sparkslim(lowrankArgs(out)));
    JsonNode report = TestSupport.readJson(out.resolve("report.json"));
    assertEquals("svd-llm", report.get("method").asText());
    JsonNode ranks = report.get("ranks");
    assertEquals(LowRankSolver.rank(RATIO, 256, 256), ranks.get("self_attn.q_proj").asInt());
    assertEquals(7, ranks.size());
    JsonNode linears = report.get("linears");
    assertEquals(8 * 7, linears.size());
    for (JsonNode l : linears) {
      assertTrue(l.get("truncation_loss").asDouble() > 0, l.toString());
      assertTrue(l.get("reconstruction_loss").asDouble() > 0, l.toString());
      assertEquals(ranks.get(l.get("linear").asText()).asInt(), l.get("rank").asInt());
      if (l.get("linear").asText().equals("mlp.down_proj")) { // 4 × 128 tokens < 768 inputs: Σ XᵀX is singular, shifted
        assertTrue(l.get("fallback").asText().startsWith("gram-shift "), l.toString());
      } else {
        assertTrue(l.get("fallback").isNull(), l.toString());
      }
    }
    JsonNode parameters = report.get("parameters");
    assertTrue(parameters.get("after").asLong() < parameters.get("before").asLong());
    double kept = parameters.get("kept_fraction_of_linears").asDouble();
    assertTrue(kept <= RATIO && kept > RATIO - 0.02, "kept " + kept);

    // the factored export: two factors per linear, the ranks in config.json
    JsonNode config = TestSupport.readJson(out.resolve("model/config.json")).get("lowrank");
    assertEquals(8 * 7, config.get("ranks").size());
    FileSystem fs = FileSystem.getLocal(new Configuration());
    SafetensorsFile f = SafetensorsFile.open(fs, new org.apache.hadoop.fs.Path(out.resolve("model/model.safetensors").toString()));
    int k = ranks.get("mlp.down_proj").asInt();
    assertArrayEquals(new long[] {256, k}, f.entry("model.layers.3.mlp.down_proj.u_proj.weight").shape());
    assertArrayEquals(new long[] {k, 768}, f.entry("model.layers.3.mlp.down_proj.v_proj.weight").shape());
    assertNull(f.entries().get("model.layers.3.mlp.down_proj.weight"));
    SafetensorsFile dense = SafetensorsFile.open(fs, new org.apache.hadoop.fs.Path(out.resolve("model-dense/model.safetensors").toString()));
    assertNotNull(dense.entry("model.layers.3.mlp.down_proj.weight"));

    double reported = report.get("eval").get("imdb.eval.txt").get("ppl").asDouble();
    double factored = TestSupport.exportedModelPpl(out, tmp.resolve("eval-factored"));
    assertEquals(reported, factored, 1e-9 * reported);
    Path denseEval = tmp.resolve("eval-dense");
    assertEquals(0, TestSupport.sparkslim("eval", "--model.path=" + out.resolve("model-dense"), "--eval.texts=" + TestSupport.data("imdb.eval.txt"),
        "--eval.max-windows=4", "--output.path=" + denseEval, "--spark.master=local[2]"));
    double denseppl = TestSupport.readJson(denseEval.resolve("report.json")).get("eval").get("imdb.eval.txt").get("ppl").asDouble();
    assertEquals(reported, denseppl, 1e-6 * reported);
    System.out.printf("lowrank svd-llm rho %.1f: report ppl %.6f, eval of the factored export %.6f, of the dense export %.6f%n", RATIO,
        reported, factored, denseppl);
  }

  @Test
  void sameBytesOnAnyMasterAndAfterResume() throws IOException {
    TestSupport.ensureSparkHome();
    String[] small = {"--calibration.num-samples=2", "--eval.max-windows=1"};
    Path one = tmp.resolve("local1");
    Path two = tmp.resolve("local2");
    Path cluster = tmp.resolve("cluster");
    Path resumed = tmp.resolve("resumed");
    assertEquals(0, TestSupport.sparkslim(lowrankArgs(one, TestSupport.concat(small, "--spark.master=local[1]"))));
    assertEquals(0, TestSupport.sparkslim(lowrankArgs(two, TestSupport.concat(small, "--calibration.partitions=5"))));
    assertEquals(0, TestSupport.sparkslim(lowrankArgs(cluster, TestSupport.concat(small, "--spark.master=local-cluster[2,1,1024]"))));
    assertEquals(Main.EXIT_FAILURE, TestSupport.sparkslimWith(LayerSequentialDriver.INJECT_FAILURE_PROPERTY, "3", lowrankArgs(resumed, small)));
    assertFalse(Files.exists(resumed.resolve("_SUCCESS")));
    assertTrue(Files.exists(resumed.resolve("factors/block-00003.parquet")));
    assertFalse(Files.exists(resumed.resolve("factors/block-00004.parquet")));
    assertEquals(0, TestSupport.sparkslim(lowrankArgs(resumed, small)));
    JsonNode blocks = TestSupport.readJson(resumed.resolve("report.json")).get("blocks");
    for (int b = 0; b < blocks.size(); b++) {
      assertEquals(b <= 3, blocks.get(b).get("resumed").asBoolean(), "block " + b);
    }
    for (Path other : new Path[] {two, cluster, resumed}) {
      TestSupport.assertSameModel(one, other);
      assertArrayEquals(Files.readAllBytes(one.resolve("model-dense/model.safetensors")), Files.readAllBytes(other.resolve("model-dense/model.safetensors")),
          other.toString());
    }
    System.out.println("lowrank svd-llm: identical factored and dense safetensors on local[1], local[2] (5 partitions), local-cluster[2,1,1024]"
        + " and after resume");
  }

  @Test
  void plainSvdReadsNoCalibrationData() throws IOException {
    Path out = tmp.resolve("svd");
    assertEquals(0, TestSupport.sparkslim("lowrank", "--model.path=" + TestSupport.model("tiny-opt-imdb"), "--output.path=" + out,
        "--lowrank.method=svd", "--lowrank.ratio=0.8", "--eval.texts=" + TestSupport.data("imdb.eval.txt"), "--eval.max-windows=2",
        "--spark.master=local[2]"));
    JsonNode report = TestSupport.readJson(out.resolve("report.json"));
    assertEquals(0, report.get("calibration_windows").asInt());
    assertEquals(8 * 6, report.get("linears").size());
    assertTrue(report.get("linears").get(0).get("reconstruction_loss").isNull(), "no inputs, no measured loss");
    assertTrue(report.get("eval").get("imdb.eval.txt").get("ppl").asDouble() > 1);
  }
}
