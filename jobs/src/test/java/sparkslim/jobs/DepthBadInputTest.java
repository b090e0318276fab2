package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.io.SafetensorsWriter;

/** Bad depth-prune input: a clear error naming the key or file, exit code 2, no _SUCCESS, before Spark starts. */
class DepthBadInputTest {
  @TempDir
  Path tmp;

  private String failing(String... extra) {
    Path out = tmp.resolve("out");
    String[] base = {"depth-prune", "--model.path=" + TestSupport.model("tiny-llama-imdb"), "--output.path=" + out, "--spark.master=local[1]",
        DepthPruneJobTest.goldenWindows("tiny-llama-imdb")};
    return TestSupport.failingRun(out, TestSupport.concat(base, extra));
  }

  @Test
  void numBlocksNotBelowTheUnprotectedBlocks() {
    String err = failing("--depth.criterion=ppl", "--depth.num-blocks=2");
    assertTrue(err.contains("'depth.num-blocks' is set to 2 but must be less than the number of unprotected blocks, 2 (")
        && err.contains("tiny-llama-imdb/config.json has num_hidden_layers=8; 'depth.protect' protects [0, 1, 2, 3, 6, 7]"), err);
    err = failing("--depth.criterion=ppl", "--depth.num-blocks=8", "--depth.protect=none");
    assertTrue(err.contains("'depth.num-blocks' is set to 8 but must be less than the number of unprotected blocks, 8"), err);
    err = failing("--depth.criterion=ppl");
    assertTrue(err.contains("'depth.num-blocks' is set to 0 but must be >= 1"), err);
  }

  @Test
  void protectedIndexOutOfRange() {
    String err = failing("--depth.criterion=taylor", "--depth.num-blocks=1", "--depth.protect=0,1,8");
    assertTrue(err.contains("'depth.protect' lists '8' = block 8, but ") && err.contains("tiny-llama-imdb/config.json has num_hidden_layers=8:"
        + " expected blocks in [0, 7]"), err);
    err = failing("--depth.criterion=taylor", "--depth.num-blocks=1", "--depth.protect=0,L-12");
    assertTrue(err.contains("'depth.protect' lists 'L-12' = block -4"), err);
  }

  @Test
  void unknownCriterionAndMode() {
    String err = failing("--depth.criterion=fisher", "--depth.num-blocks=1");
    assertTrue(err.contains("'depth.criterion' is set to 'fisher' but must be one of ppl, taylor, magnitude"), err);
    err = failing("--depth.criterion=ppl", "--depth.num-blocks=1", "--depth.mode=greedy");
    assertTrue(err.contains("'depth.mode' is set to 'greedy' but must be one-shot or iterative"), err);
  }

  @Test
  void calibrationWindowsLongerThanMaxPositionEmbeddings() throws Exception {
    // 2 windows of 1100 tokens; the model's max_position_embeddings is 1024
    Path file = tmp.resolve("long.safetensors");
    long[] ids = new long[2 * 1100];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = i % 8192;
    }
    FileSystem fs = FileSystem.getLocal(new Configuration());
    SafetensorsWriter.writeFile(fs, new org.apache.hadoop.fs.Path(file.toString()),
        List.of(SafetensorsWriter.Tensor.ofLongs("calibration_windows", new long[] {2, 1100}, ids)), null);
    Path out = tmp.resolve("out");
    String err = TestSupport.failingRun(out, "depth-prune", "--model.path=" + TestSupport.model("tiny-llama-imdb"), "--output.path=" + out,
        "--depth.criterion=ppl", "--depth.num-blocks=1", "--calibration.windows=" + file, "--calibration.num-samples=2", "--calibration.seqlen=1100");
    assertTrue(err.contains("'calibration.seqlen' is set to 1100 but must be at most the model's max_position_embeddings, 1024 (")
        && err.contains("tiny-llama-imdb/config.json)"), err);
  }
}
