package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.io.AvroSchemas;
import sparkslim.jobs.driver.LayerSequentialDriver;

/**
 * {@code pruning.method=sparsellm} end to end on 8 windows × 128 tokens with 3 alternations: the objective of every
 * FFN never increases (metrics Parquet and report.json agree), the output is bitwise identical on local[1],
 * local[2] (5 partitions) and local-cluster[2,1,1024], a run resumes after an injected failure with identical
 * output, and the exported model evaluates to the reported PPL.
 */
class SparseLlmJobTest {
  private static final double OBJECTIVE_SLACK = 1e-6;

  @TempDir
  Path tmp;

  private static String[] args(String model, Path out, String master, String... extra) {
    String[] base = PruneJobTest.pruneArgs(model, out, "--pruning.method=sparsellm", "--pruning.sparsity=0.7",
        "--pruning.sparsellm.iterations=3", "--output.dtype=float32", "--spark.master=" + master);
    return TestSupport.concat(base, extra);
  }



  /** block → objective per iteration, from OUT/metrics/sparsellm-block-*.parquet. */
  private static Map<Integer, List<Double>> objectives(Path out) throws IOException {
    Map<Integer, List<Double>> byBlock = new TreeMap<>();
    try (Stream<Path> s = Files.list(out.resolve("metrics"))) {
      for (Path file : s.filter(p -> p.getFileName().toString().startsWith("sparsellm-block-")).sorted().collect(Collectors.toList())) {
        List<GenericRecord> rows = new ArrayList<>(AvroSchemas.read(new org.apache.hadoop.fs.Path(file.toUri()), new Configuration()));
        rows.sort((x, y) -> Integer.compare((Integer) x.get("iteration"), (Integer) y.get("iteration")));
        for (GenericRecord r : rows) {
          byBlock.computeIfAbsent((Integer) r.get("block"), b -> new ArrayList<>()).add((Double) r.get("objective"));
        }
      }
    }
    return byBlock;
  }

  private static void assertObjectiveNeverIncreases(Path out, int blocks) throws IOException {
    Map<Integer, List<Double>> byBlock = objectives(out);
    assertEquals(blocks, byBlock.size(), "one metrics file per block");
    JsonNode reported = TestSupport.readJson(out.resolve("report.json")).get("sparsellm").get("objective");
    for (Map.Entry<Integer, List<Double>> e : byBlock.entrySet()) {
      List<Double> values = e.getValue();
      assertEquals(3, values.size(), "block " + e.getKey());
      for (int t = 1; t < values.size(); t++) {
        assertTrue(values.get(t) <= values.get(t - 1) * (1 + OBJECTIVE_SLACK), "block " + e.getKey() + " objective rose: " + values);
      }
      assertTrue(values.get(values.size() - 1) < values.get(0), "block " + e.getKey() + " made no progress: " + values);
      for (int t = 0; t < values.size(); t++) {
        assertEquals(values.get(t), reported.get(e.getKey()).get("values").get(t).asDouble(), 0.0, "report.json and metrics agree");
      }
      System.out.printf("block %d objective first %.6g last %.6g%n", e.getKey(), values.get(0), values.get(values.size() - 1));
    }
  }

  @Test
  void sameBytesOnAnyMasterAndObjectiveNeverIncreases() throws IOException {
    TestSupport.ensureSparkHome();
    Path one = tmp.resolve("local1");
    Path two = tmp.resolve("local2");
    Path cluster = tmp.resolve("cluster");
    assertEquals(0, TestSupport.sparkslim(args("tiny-llama-imdb", one, "local[1]")));
    assertEquals(0, TestSupport.sparkslim(args("tiny-llama-imdb", two, "local[2]", "--calibration.partitions=5")));
    assertEquals(0, TestSupport.sparkslim(args("tiny-llama-imdb", cluster, "local-cluster[2,1,1024]")));
    TestSupport.assertSameModel(one, two);
    TestSupport.assertSameModel(one, cluster);
    assertObjectiveNeverIncreases(one, 8);
    assertEquals(objectives(one), objectives(cluster), "the objective does not depend on the layout either");
    JsonNode report = TestSupport.readJson(one.resolve("report.json"));
    assertEquals("LLAMA_SWIGLU", report.get("sparsellm").get("ffn_kind").asText());
    assertEquals(0.7, report.get("sparsity").get("actual").asDouble(), 1e-3);
  }

  @Test
  void resumesAfterInjectedFailureWithIdenticalOutput() throws IOException {
    Path full = tmp.resolve("full");
    Path resumed = tmp.resolve("resumed");
    assertEquals(0, TestSupport.sparkslim(args("tiny-llama-imdb", full, "local[2]")));
    assertEquals(Main.EXIT_FAILURE, TestSupport.sparkslimWith(LayerSequentialDriver.INJECT_FAILURE_PROPERTY, "3", args("tiny-llama-imdb", resumed, "local[2]")));
    assertFalse(Files.exists(resumed.resolve("_SUCCESS")));
    assertTrue(Files.exists(resumed.resolve("shards").resolve("block-00003.parquet")));
    assertFalse(Files.exists(resumed.resolve("shards").resolve("block-00004.parquet")));
    assertEquals(0, TestSupport.sparkslim(args("tiny-llama-imdb", resumed, "local[2]")));
    JsonNode blocks = TestSupport.readJson(resumed.resolve("report.json")).get("blocks");
    for (int b = 0; b < blocks.size(); b++) {
      assertEquals(b <= 3, blocks.get(b).get("resumed").asBoolean(), "block " + b);
    }
    TestSupport.assertSameModel(full, resumed);
    assertEquals(TestSupport.readJson(full.resolve("report.json")).get("sparsellm").get("objective"),
        TestSupport.readJson(resumed.resolve("report.json")).get("sparsellm").get("objective"),
        "the report's objective history includes the resumed blocks, read back from metrics/");
  }

  @Test
  void optRoundTripFirstHalfAndObjective() throws IOException {
    Path out = tmp.resolve("opt");
    assertEquals(0, TestSupport.sparkslim(args("tiny-opt-imdb", out, "local[2]", "--pruning.layers=first-half")));
    assertObjectiveNeverIncreases(out, 4);
    JsonNode report = TestSupport.readJson(out.resolve("report.json"));
    assertEquals("OPT_RELU", report.get("sparsellm").get("ffn_kind").asText());
    assertEquals(4, report.get("pruned_blocks").asInt());
    // half the blocks pruned at 70%: overall 35%
    assertEquals(0.35, report.get("sparsity").get("actual").asDouble(), 2e-3);
    double pruned = report.get("eval").get("imdb.eval.txt").get("ppl").asDouble();
    double exported = TestSupport.exportedModelPpl(out, tmp.resolve("eval"));
    System.out.println("sparsellm OPT first-half: report ppl " + pruned + ", exported model ppl " + exported);
    assertEquals(pruned, exported, 0.0);
  }
}
