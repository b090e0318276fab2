package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import sparkslim.core.io.WindowNllTable;

/**
 * {@code eval.mode=streamed} (layer-sequential: the driver reads no weights, the executors read one block per stage
 * from the files) gives bitwise the in-memory eval's window NLLs and PPL, on local[2] and on two executor JVMs, and
 * the golden PyTorch window NLLs within 1e-4 relative.
 */
class StreamedEvalTest {
  private static final int WINDOWS = 6;
  private static final double NLL_RELATIVE_TOLERANCE = 1e-4;
  private static final List<String> REPORT_KEYS = List.of("job", "run_id", "model", "parameters", "mode", "eval", "spark", "seconds");

  @TempDir
  Path tmp;

  private Path eval(String model, String master, String... mode) {
    Path out = tmp.resolve(model + "-" + master.replaceAll("[^a-z0-9]", "_") + "-" + (mode.length == 0 ? "default" : mode[0]));
    String[] args = {"eval", "--model.path=" + TestSupport.model(model), "--eval.texts=" + TestSupport.data("imdb.eval.txt"),
        "--output.path=" + out, "--eval.max-windows=" + WINDOWS, "--spark.master=" + master};
    if (mode.length > 0) {
      args = TestSupport.concat(args, "--eval.mode=" + mode[0]);
    }
    assertEquals(0, TestSupport.sparkslim(args), "eval " + String.join(" ", args));
    assertTrue(Files.exists(out.resolve("_SUCCESS")));
    return out;
  }

  private static JsonNode report(Path out) {
    return TestSupport.readJson(out.resolve("report.json"));
  }

  private static double ppl(Path out) {
    return report(out).get("eval").get("imdb.eval.txt").get("ppl").asDouble();
  }

  private static List<WindowNllTable.Row> rows(Path out) {
    List<WindowNllTable.Row> rows = new java.util.ArrayList<>(WindowNllTable.read(
        new org.apache.hadoop.fs.Path(out.resolve("window_nll").resolve("part-00000.parquet").toString()), new Configuration()));
    rows.sort(Comparator.comparingInt(WindowNllTable.Row::window));
    return rows;
  }

  private static void assertSameNlls(Path expected, Path actual) {
    List<WindowNllTable.Row> a = rows(expected);
    List<WindowNllTable.Row> b = rows(actual);
    assertEquals(WINDOWS, a.size());
    assertEquals(WINDOWS, b.size());
    for (int i = 0; i < WINDOWS; i++) {
      assertEquals(i, b.get(i).window());
      assertEquals(a.get(i).nll(), b.get(i).nll(), 0.0, "window " + i + " NLL");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-llama-imdb", "tiny-opt-imdb"})
  void streamedEqualsInMemoryBitwiseAndMatchesGolden(String model) {
    Path inMemory = eval(model, "local[2]"); // auto: a tiny model is in-memory
    Path streamed = eval(model, "local[2]", "streamed");
    assertEquals("in-memory", report(inMemory).get("mode").asText(), "auto on a 40 MB model");
    assertEquals("streamed", report(streamed).get("mode").asText());
    for (Path out : List.of(inMemory, streamed)) {
      List<String> keys = new java.util.ArrayList<>();
      report(out).fieldNames().forEachRemaining(keys::add);
      assertEquals(REPORT_KEYS.stream().sorted().toList(), keys.stream().sorted().toList(), "report.json keys");
    }
    System.out.printf("%s %d windows: ppl in-memory %s streamed %s%n", model, WINDOWS, ppl(inMemory), ppl(streamed));
    assertEquals(ppl(inMemory), ppl(streamed), 0.0, "streamed PPL == in-memory PPL, every digit");
    assertSameNlls(inMemory, streamed);

    JsonNode golden = TestSupport.golden().get(model).get("imdb_eval").get("window_nll");
    double maxRel = 0;
    for (WindowNllTable.Row r : rows(streamed)) {
      double g = golden.get(r.window()).asDouble();
      maxRel = Math.max(maxRel, Math.abs(r.nll() - g) / Math.abs(g));
    }
    System.out.printf("  streamed vs golden: max relative window NLL difference %.2e%n", maxRel);
    assertTrue(maxRel <= NLL_RELATIVE_TOLERANCE, "window NLL differs from golden by " + maxRel + " relative");
  }

  @Test
  void streamedOnTwoExecutorJvmsEqualsLocal1() {
    TestSupport.ensureSparkHome();
    Path local1 = eval("tiny-llama-imdb", "local[1]", "in-memory");
    Path cluster = eval("tiny-llama-imdb", "local-cluster[2,1,1024]", "streamed");
    System.out.printf("tiny-llama-imdb %d windows: ppl local[1] in-memory %s, local-cluster[2,1,1024] streamed %s%n", WINDOWS,
        ppl(local1), ppl(cluster));
    assertEquals(ppl(local1), ppl(cluster), 0.0);
    assertSameNlls(local1, cluster);
    JsonNode spark = report(cluster).get("spark");
    Set<Long> pids = new HashSet<>();
    spark.get("executors").forEach(e -> pids.add(e.get("pid").asLong()));
    assertEquals(2, pids.size(), "two executor JVMs: " + spark.get("executors"));
    assertNotEquals(true, pids.contains(spark.get("driver_pid").asLong()), "executors are not the driver JVM");
  }

  @Test
  void badModeIsAUserError() {
    Path out = tmp.resolve("bad-mode");
    String err = TestSupport.failingRun(out, "eval", "--model.path=" + TestSupport.model("tiny-llama-imdb"),
        "--eval.texts=" + TestSupport.data("imdb.eval.txt"), "--output.path=" + out, "--spark.master=local[1]", "--eval.mode=stream");
    assertTrue(err.contains("'eval.mode'") && err.contains("auto, in-memory, streamed") && err.contains("'stream'"), err);
    assertTrue(!Files.exists(out), "refused before anything is written");
  }
}
