package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.Tensor;

/** End to end: prune, then check structure, the exported model's PPL and the Parquet shards against the safetensors. */
class PruneJobTest {
  @TempDir
  Path tmp;

  static String[] pruneArgs(String model, Path out, String... extra) {
    String[] base = {"prune", "--model.path=" + TestSupport.model(model), "--output.path=" + out,
        "--calibration.windows=" + TestSupport.examples().resolve("golden").resolve(model + ".calib.safetensors"),
        "--calibration.num-samples=8", "--calibration.seqlen=128", "--eval.texts=" + TestSupport.data("imdb.eval.txt"),
        "--eval.max-windows=4", "--spark.master=local[2]"};
    return TestSupport.concat(base, extra);
  }

  @Test
  void twoFourSparseGptRoundTripsThroughModelAndShards() throws Exception {
    Path out = tmp.resolve("prune");
    assertEquals(0, TestSupport.sparkslim(pruneArgs("tiny-opt-imdb", out, "--pruning.method=sparsegpt", "--pruning.mask-structure=2:4")));
    assertTrue(Files.exists(out.resolve("_SUCCESS")));
    JsonNode report = TestSupport.readJson(out.resolve("report.json"));
    JsonNode structure = report.get("sparsity").get("structure");
    System.out.println("2:4 report: " + report.get("sparsity"));
    assertEquals(structure.get("groups").asLong(), structure.get("groups_with_exactly_n_zeros").asLong(), "exactly 2 zeros in every group of 4");
    assertEquals(0.5, report.get("sparsity").get("actual").asDouble(), 1e-9);

    // the exported model evaluates to the PPL the prune report gives
    double pruned = report.get("eval").get("imdb.eval.txt").get("ppl").asDouble();
    double exported = TestSupport.exportedModelPpl(out, tmp.resolve("eval"));
    System.out.printf("prune report ppl %.9f, eval of exported model %.9f%n", pruned, exported);
    assertEquals(pruned, exported, pruned * 1e-5);

    // shards rebuild exactly the exported tensors
    Configuration conf = new Configuration();
    ModelDirectory exportedDir = ModelDirectory.open(out.resolve("model").toString(), conf);
    int tensors = 0;
    for (int b = 0; b < exportedDir.spec().numLayers(); b++) {
      Map<String, TensorShardTable.Stored> shards = TensorShardTable.read(
          new org.apache.hadoop.fs.Path(out.resolve("shards").resolve(String.format("block-%05d.parquet", b)).toString()), conf);
      Map<String, Tensor> block = exportedDir.loadBlock(b);
      for (Map.Entry<String, Tensor> e : block.entrySet()) {
        TensorShardTable.Stored s = shards.get(exportedDir.spec().blockPrefix(b) + e.getKey());
        assertArrayEquals(e.getValue().data(), s.values(), e.getKey());
        tensors++;
      }
    }
    assertEquals(exportedDir.spec().numLayers() * 16, tensors);
    assertTrue(Files.exists(out.resolve("metrics").resolve("block-00007.parquet")));
  }

  @Test
  void unstructuredWandaReachesTargetSparsity() {
    Path out = tmp.resolve("wanda");
    assertEquals(0, TestSupport.sparkslim(pruneArgs("tiny-llama-imdb", out, "--pruning.method=wanda", "--pruning.sparsity=0.6")));
    JsonNode sparsity = TestSupport.readJson(out.resolve("report.json")).get("sparsity");
    System.out.println("wanda 60% report: " + sparsity);
    assertEquals(0.6, sparsity.get("target").asDouble(), 0);
    // Wanda prunes floor(cols * s) per row (the reference rule): 153 of 256 and 460 of 768, so just under 0.6
    assertEquals(0.6, sparsity.get("actual").asDouble(), 1.0 / 256);
  }
}
