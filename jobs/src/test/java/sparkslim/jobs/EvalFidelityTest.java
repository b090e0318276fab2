package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import sparkslim.core.io.WindowNllTable;

/**
 * {@code sparkslim eval} against golden.json: every imdb_eval window NLL within 1e-4 absolute and the PPL within 1e-4
 * relative, plus the first 48 wiki.test.raw windows (the full wiki text is the acceptance command in the README).
 */
class EvalFidelityTest {
  private static final double NLL_TOLERANCE = 1e-4;
  private static final double PPL_RELATIVE_TOLERANCE = 1e-4;
  private static final int WIKI_WINDOWS = 48;

  @TempDir
  Path tmp;

  @ParameterizedTest
  @ValueSource(strings = {"tiny-llama-imdb", "tiny-opt-imdb"})
  void imdbEvalMatchesGolden(String modelName) {
    Path out = tmp.resolve("eval");
    int code = TestSupport.sparkslim("eval", "--model.path=" + TestSupport.model(modelName),
        "--eval.texts=" + TestSupport.data("imdb.eval.txt"), "--output.path=" + out, "--spark.master=local[2]");
    assertEquals(0, code);
    assertTrue(Files.exists(out.resolve("_SUCCESS")));
    JsonNode golden = TestSupport.golden().get(modelName).get("imdb_eval");
    JsonNode report = TestSupport.readJson(out.resolve("report.json"));
    JsonNode e = report.get("eval").get("imdb.eval.txt");
    assertEquals(golden.get("windows").asInt(), e.get("windows").asInt());
    assertEquals(123_667, e.get("tokens").asInt());
    double ppl = e.get("ppl").asDouble();
    double expected = golden.get("ppl").asDouble();
    System.out.printf("%s imdb_eval: ppl %.6f golden %.6f rel %.2e%n", modelName, ppl, expected, Math.abs(ppl - expected) / expected);
    assertTrue(Math.abs(ppl - expected) / expected <= PPL_RELATIVE_TOLERANCE, "ppl " + ppl + " vs golden " + expected);
    assertWindowNlls(out, golden.get("window_nll"), golden.get("windows").asInt());
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-llama-imdb", "tiny-opt-imdb"})
  void wikiWindowsMatchGolden(String modelName) {
    Path out = tmp.resolve("wiki");
    int code = TestSupport.sparkslim("eval", "--model.path=" + TestSupport.model(modelName),
        "--eval.texts=" + TestSupport.data("wiki.test.raw"), "--output.path=" + out, "--eval.max-windows=" + WIKI_WINDOWS,
        "--spark.master=local[2]");
    assertEquals(0, code);
    JsonNode report = TestSupport.readJson(out.resolve("report.json"));
    assertEquals(371_623, report.get("eval").get("wiki.test.raw").get("tokens").asInt());
    assertWindowNlls(out, TestSupport.golden().get(modelName).get("wikitext2_test").get("window_nll"), WIKI_WINDOWS);
  }

  private static void assertWindowNlls(Path out, JsonNode goldenNll, int expectedWindows) {
    List<WindowNllTable.Row> rows = WindowNllTable.read(
        new org.apache.hadoop.fs.Path(out.resolve("window_nll").resolve("part-00000.parquet").toString()), new Configuration());
    assertEquals(expectedWindows, rows.size());
    double maxDiff = 0;
    for (WindowNllTable.Row r : rows) {
      maxDiff = Math.max(maxDiff, Math.abs(r.nll() - goldenNll.get(r.window()).asDouble()));
    }
    System.out.printf("  %d windows: max |nll - golden| = %.2e%n", rows.size(), maxDiff);
    assertTrue(maxDiff <= NLL_TOLERANCE, "window NLL differs from golden by " + maxDiff);
  }
}
