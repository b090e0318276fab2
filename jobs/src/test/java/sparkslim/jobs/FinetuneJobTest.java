package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code sparkslim finetune}: the loss curve and the output bytes do not depend on the master (local[1], local[2],
 * local-cluster[2,1,1024]); a run killed after a checkpoint resumes from it and ends with the same bytes; the report,
 * metrics, loss plot and checkpoints are where the README says.
 */
class FinetuneJobTest {
  @TempDir
  Path tmp;

  private static String[] args(Path out, String master, String... extra) {
    String[] base = {"finetune", "--model.path=" + TestSupport.model("tiny-llama-imdb"), "--output.path=" + out,
        "--finetune.text=" + TestSupport.data("imdb.calib.txt"), "--finetune.seqlen=64", "--finetune.batch-size=4", "--finetune.max-steps=3",
        "--finetune.checkpoint-every=2", "--spark.master=" + master};
    return TestSupport.concat(base, extra);
  }

  private static JsonNode report(Path out) {
    return TestSupport.readJson(out.resolve("report.json"));
  }

  @Test
  void loraGivesTheSameLossesAndBytesOnAnyMaster() throws IOException {
    TestSupport.ensureSparkHome();
    Path one = tmp.resolve("one");
    Path two = tmp.resolve("two");
    Path cluster = tmp.resolve("cluster");
    String[] lora = {"--finetune.method=lora", "--finetune.learning-rate=1e-2", "--finetune.warmup-fraction=0",
        "--finetune.micro-batch-size=2"}; // local[1]: one task of both micro-batches; local[2], local-cluster: one each
    assertEquals(0, TestSupport.sparkslim(args(one, "local[1]", lora)));
    assertEquals(0, TestSupport.sparkslim(args(two, "local[2]", lora)));
    assertEquals(0, TestSupport.sparkslim(args(cluster, "local-cluster[2,1,1024]", lora)));
    JsonNode losses = report(one).get("training").get("loss").get("per_step");
    assertEquals(3, losses.size());
    assertTrue(losses.get(2).asDouble() < losses.get(0).asDouble(), "the loss falls: " + losses);
    for (Path other : new Path[] {two, cluster}) {
      assertEquals(losses, report(other).get("training").get("loss").get("per_step"), other + " loss curve");
      TestSupport.assertSameModel(one, other);
      for (String file : new String[] {"adapter/adapter_model.safetensors", "adapter/adapter_config.json", "loss.png"}) {
        assertArrayEquals(Files.readAllBytes(one.resolve(file)), Files.readAllBytes(other.resolve(file)), other + " " + file);
      }
    }
    assertEquals(311_296, report(one).get("training").get("trainable_parameters").asLong(), "r 8 on the 7 linears of 8 blocks");
    assertEquals("in-memory", report(two).get("spark").get("exchange").asText(), "local mode hands the sums over in memory");
    assertEquals("broadcast-shuffle", report(cluster).get("spark").get("exchange").asText());
    assertEquals(2, report(two).get("spark").get("partitions").asInt(), "2 micro-batches of 2: 2 tasks");
    assertTrue(Files.exists(one.resolve("checkpoints").resolve("step-00003.parquet")));
    assertFalse(Files.exists(one.resolve("checkpoints").resolve("step-00002.parquet")), "only the newest checkpoint is kept");
    assertTrue(Files.exists(one.resolve("metrics").resolve("steps-00000.parquet")));
    assertTrue(Files.exists(one.resolve("metrics").resolve("steps-00002.parquet")));
    System.out.println("finetune lora: losses " + losses + ", identical bytes on local[1], local[2], local-cluster[2,1,1024]");
  }

  @Test
  void qatKilledAfterACheckpointResumesToTheSameBytes() throws IOException {
    Path whole = tmp.resolve("whole");
    Path resumed = tmp.resolve("resumed");
    String[] qat = {"--finetune.method=qat", "--quantization.method=rtn", "--quantization.bits=4", "--quantization.group-size=64",
        "--quantization.symmetric=false", "--finetune.learning-rate=1e-4", "--finetune.max-steps=4"};
    assertEquals(0, TestSupport.sparkslim(args(whole, "local[2]", qat)));
    assertEquals(Main.EXIT_FAILURE, TestSupport.sparkslimWith(FinetuneJob.INJECT_FAILURE_PROPERTY, "2", args(resumed, "local[2]", qat)));
    assertFalse(Files.exists(resumed.resolve("_SUCCESS")));
    assertTrue(Files.exists(resumed.resolve("checkpoints").resolve("step-00002.parquet")));
    assertEquals(0, TestSupport.sparkslim(args(resumed, "local[2]", qat)));
    assertEquals(2, report(resumed).get("training").get("resumed_from_step").asInt());
    assertEquals(report(whole).get("training").get("loss").get("per_step"), report(resumed).get("training").get("loss").get("per_step"));
    TestSupport.assertSameModel(whole, resumed);
    JsonNode q = report(whole).get("quantization");
    assertEquals(4, q.get("bits").asInt());
    assertEquals("64", q.get("group_size").asText());
    assertEquals("compressed-tensors", q.get("format").asText());
    System.out.println("finetune qat: killed after the checkpoint of step 2, resumed: identical safetensors; scheme " + q.get("scheme"));
  }
}
