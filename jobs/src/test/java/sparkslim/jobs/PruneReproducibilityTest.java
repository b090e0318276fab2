package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.jobs.driver.LayerSequentialDriver;

/** Bitwise-identical safetensors on local[1], local[2] and local-cluster[2,1,1024]; resume after an injected failure. */
class PruneReproducibilityTest {
  @TempDir
  Path tmp;

  private static String[] args(Path out, String master, String... extra) {
    String[] base = PruneJobTest.pruneArgs("tiny-llama-imdb", out, "--pruning.method=sparsegpt", "--pruning.sparsity=0.7",
        "--spark.master=" + master);
    return TestSupport.concat(base, extra);
  }



  @Test
  void sameBytesOnAnyMaster() throws IOException {
    TestSupport.ensureSparkHome();
    Path one = tmp.resolve("local1");
    Path two = tmp.resolve("local2");
    Path cluster = tmp.resolve("cluster");
    assertEquals(0, TestSupport.sparkslim(args(one, "local[1]")));
    assertEquals(0, TestSupport.sparkslim(args(two, "local[2]", "--calibration.partitions=5")));
    assertEquals(0, TestSupport.sparkslim(args(cluster, "local-cluster[2,1,1024]")));
    TestSupport.assertSameModel(one, two);
    TestSupport.assertSameModel(one, cluster);
    System.out.println("identical safetensors on local[1], local[2] (5 partitions), local-cluster[2,1,1024]: " + TestSupport.safetensors(one).size() + " files");
  }

  @Test
  void resumesAfterInjectedFailureWithIdenticalOutput() throws IOException {
    Path full = tmp.resolve("full");
    Path resumed = tmp.resolve("resumed");
    assertEquals(0, TestSupport.sparkslim(args(full, "local[2]")));
    assertEquals(Main.EXIT_FAILURE, TestSupport.sparkslimWith(LayerSequentialDriver.INJECT_FAILURE_PROPERTY, "3", args(resumed, "local[2]")));
    assertFalse(Files.exists(resumed.resolve("_SUCCESS")));
    assertTrue(Files.exists(resumed.resolve("shards").resolve("block-00003.parquet")));
    assertFalse(Files.exists(resumed.resolve("shards").resolve("block-00004.parquet")));
    assertEquals(0, TestSupport.sparkslim(args(resumed, "local[2]")));
    JsonNode blocks = TestSupport.readJson(resumed.resolve("report.json")).get("blocks");
    for (int b = 0; b < blocks.size(); b++) {
      assertEquals(b <= 3, blocks.get(b).get("resumed").asBoolean(), "block " + b);
    }
    TestSupport.assertSameModel(full, resumed);
    System.out.println("resumed at block 4 after a failure after block 3: identical safetensors");
  }
}
