package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The same PPL, to the last digit, on local[1], local[2] and local-cluster[2,1,1024] (two executor JVMs). */
class DistributionTest {
  @TempDir
  Path tmp;

  private JsonNode eval(String master, String partitions) {
    Path out = tmp.resolve(master.replaceAll("[^a-z0-9]", "_") + "-" + partitions);
    int code = TestSupport.sparkslim("eval", "--model.path=" + TestSupport.model("tiny-opt-imdb"),
        "--eval.texts=" + TestSupport.data("imdb.eval.txt"), "--output.path=" + out, "--eval.max-windows=12",
        "--eval.partitions=" + partitions, "--spark.master=" + master);
    assertEquals(0, code, "eval on " + master);
    return TestSupport.readJson(out.resolve("report.json"));
  }

  @Test
  void pplDoesNotDependOnExecutorsOrPartitions() {
    TestSupport.ensureSparkHome();
    JsonNode one = eval("local[1]", "1");
    JsonNode two = eval("local[2]", "5");
    JsonNode cluster = eval("local-cluster[2,1,1024]", "6");
    String ppl = one.get("eval").get("imdb.eval.txt").get("ppl").asText();
    System.out.println("ppl local[1]=" + ppl + " local[2]=" + two.get("eval").get("imdb.eval.txt").get("ppl").asText()
        + " local-cluster=" + cluster.get("eval").get("imdb.eval.txt").get("ppl").asText());
    assertEquals(ppl, two.get("eval").get("imdb.eval.txt").get("ppl").asText());
    assertEquals(ppl, cluster.get("eval").get("imdb.eval.txt").get("ppl").asText());

    JsonNode executors = cluster.get("spark").get("executors");
    System.out.println("local-cluster executors: " + executors + " driver pid " + cluster.get("spark").get("driver_pid"));
    Set<String> ids = new HashSet<>();
    Set<Long> pids = new HashSet<>();
    executors.forEach(e -> {
      ids.add(e.get("id").asText());
      pids.add(e.get("pid").asLong());
    });
    assertEquals(Set.of("0", "1"), ids, "two executors");
    assertEquals(2, pids.size(), "two executor JVMs");
    assertNotEquals(true, pids.contains(cluster.get("spark").get("driver_pid").asLong()), "executors are not the driver JVM");
  }
}
