package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.SafetensorsFile;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.quant.QuantizedShardTable;
import sparkslim.jobs.driver.LayerSequentialDriver;

/**
 * {@code sparkslim quantize} end to end: RTN exports equal the reference library's checkpoints byte for byte, GPTQ
 * exports are bitwise the same on any master and after a resumed failure, both formats load in our eval with the
 * report's PPL, and prune with gptq keeps SparseGPT's mask in a pack-quantized checkpoint.
 */
class QuantizeJobTest {
  @TempDir
  Path tmp;

  static String[] quantizeArgs(String model, Path out, String... extra) {
    String[] base = {"quantize", "--model.path=" + TestSupport.model(model), "--output.path=" + out,
        "--eval.texts=" + TestSupport.data("imdb.eval.txt"), "--eval.max-windows=4", "--spark.master=local[2]"};
    return TestSupport.concat(base, extra);
  }

  static String[] gptqArgs(String model, Path out, String... extra) {
    return TestSupport.concat(quantizeArgs(model, out, "--quantization.method=gptq",
        "--calibration.windows=" + TestSupport.examples().resolve("golden").resolve(model + ".calib.safetensors"),
        "--calibration.num-samples=8", "--calibration.seqlen=128"), extra);
  }

  private static FileSystem local() throws IOException {
    return FileSystem.getLocal(new Configuration());
  }

  /** Every layer-0 tensor of the reference checkpoint {@code golden} is in OUT/model with the same dtype, shape and bytes. */
  private static void assertLayerZeroEqualsReference(Path out, String golden) throws IOException {
    SafetensorsFile reference = SafetensorsFile.open(local(),
        new org.apache.hadoop.fs.Path(TestSupport.examples().resolve("golden/quant/" + golden + ".layer0.safetensors").toString()));
    SafetensorsFile ours = SafetensorsFile.open(local(), new org.apache.hadoop.fs.Path(out.resolve("model/model.safetensors").toString()));
    int compared = 0;
    for (Map.Entry<String, SafetensorsFile.Entry> e : reference.entries().entrySet()) {
      if (!e.getKey().contains("_proj") && !e.getKey().contains("fc")) {
        continue; // the linears' tensors; norms are the model's own
      }
      SafetensorsFile.Entry mine = ours.entry(e.getKey());
      assertNotNull(mine, golden + ": " + e.getKey() + " missing from the export");
      assertEquals(e.getValue().dtype(), mine.dtype(), e.getKey());
      assertArrayEquals(e.getValue().shape(), mine.shape(), e.getKey());
      assertArrayEquals(reference.readRaw(e.getKey()), ours.readRaw(e.getKey()), golden + ": " + e.getKey());
      compared++;
    }
    assertTrue(compared >= 12, golden + ": only " + compared + " tensors compared");
    JsonNode config = TestSupport.readJson(out.resolve("model/config.json")).get("quantization_config");
    JsonNode expected = TestSupport.readJson(TestSupport.examples().resolve("golden/quant/" + golden + ".config.json")).get("quantization_config");
    assertEquals(expected.get("config_groups"), config.get("config_groups"), golden);
    assertEquals(expected.get("format"), config.get("format"));
    System.out.println(golden + ": " + compared + " layer-0 tensors byte-identical to the reference checkpoint");
  }

  /**
   * W4 g128 symmetric RTN, transcribed from docs/depth_quant.md §2.1 with compressed-tensors' bf16 arithmetic: per group
   * of 128 inputs of a row, s = bf16(max(|min(w, 0)|, max(w, 0)) / 7.5), q = rint(clamp(bf16(w / s), −8, 7)), and the
   * loaded weight is the fp32 product s·q. Every linear of the exported checkpoint, read back by the model loader,
   * must be exactly that.
   */
  private static void assertEveryLinearIsTheSymmetricFormula(Path out) {
    ModelDirectory source = ModelDirectory.open(TestSupport.model("tiny-llama-imdb").toString(), new Configuration());
    ModelDirectory exported = ModelDirectory.open(out.resolve("model").toString(), new Configuration());
    int linears = 0;
    for (int b = 0; b < source.spec().numLayers(); b++) {
      for (String linear : sparkslim.core.model.DecoderBlock.linearNames(source.spec())) {
        String name = source.spec().blockPrefix(b) + linear + ".weight";
        long[] shape = source.spec().blockTensorShapes().get(linear + ".weight");
        float[] w = source.tensor(name, shape).data();
        float[] loaded = exported.tensor(name, shape).data();
        int cols = (int) shape[1];
        for (int g = 0; g < w.length; g += 128) {
          float lo = 0;
          float hi = 0;
          for (int i = g; i < g + 128; i++) {
            lo = Math.min(lo, w[i]);
            hi = Math.max(hi, w[i]);
          }
          float s = bf16(Math.max(Math.abs(lo), hi) / 7.5f);
          for (int i = g; i < g + 128; i++) {
            int q = (int) Math.rint(Math.max(-8f, Math.min(7f, bf16(w[i] / s)))); // an integer code: no −0
            assertEquals(Float.floatToRawIntBits(s * q), Float.floatToRawIntBits(loaded[i]), name + " [" + i / cols + ", " + i % cols + "]");
          }
        }
        linears++;
      }
    }
    System.out.println("every one of " + linears + " linears, as loaded from the export, is the W4 g128 symmetric formula bit for bit");
  }

  private static float bf16(float v) {
    return sparkslim.core.io.HalfFloats.round(v, sparkslim.core.io.DType.BF16);
  }

  @Test
  void rtnExportsAreTheReferenceCheckpointsAndEvalReadsThem() throws IOException {
    String[][] runs = {
        {"tiny-llama-imdb", "llama_rtn_W4A16", "--quantization.bits=4"},
        {"tiny-llama-imdb", "llama_rtn_W4A16_ASYM", "--quantization.symmetric=false"},
        {"tiny-llama-imdb", "llama_rtn_w8_ch_sym", "--quantization.bits=8", "--quantization.group-size=channel"},
        {"tiny-opt-imdb", "opt_rtn_W4A16_ASYM", "--quantization.symmetric=false"}};
    for (String[] run : runs) {
      Path out = tmp.resolve(run[1]);
      String[] extra = java.util.Arrays.copyOfRange(run, 2, run.length);
      assertEquals(0, TestSupport.sparkslim(quantizeArgs(run[0], out, TestSupport.concat(new String[] {"--quantization.method=rtn"}, extra))));
      assertTrue(Files.exists(out.resolve("_SUCCESS")));
      assertLayerZeroEqualsReference(out, run[1]);
      if (run[1].equals("llama_rtn_W4A16")) {
        assertEveryLinearIsTheSymmetricFormula(out);
      }
      JsonNode report = TestSupport.readJson(out.resolve("report.json"));
      assertEquals("rtn", report.get("method").asText());
      JsonNode q = report.get("quantization");
      assertTrue(q.get("bits_per_weight").get("quantized_linears").asDouble() > q.get("bits").asInt(), report.toString());
      assertTrue(q.get("size_bytes").get("output").asLong() < q.get("size_bytes").get("input").asLong(), report.toString());
      assertEquals(8, report.get("blocks").size());
      double reported = report.get("eval").get("imdb.eval.txt").get("ppl").asDouble();
      double evaluated = TestSupport.exportedModelPpl(out, tmp.resolve(run[1] + "-eval"));
      assertEquals(reported, evaluated, 1e-9 * reported, run[1] + ": eval of the exported checkpoint");
      System.out.printf("%s: report ppl %.6f, eval of the export %.6f (4 windows)%n", run[1], reported, evaluated);
    }
  }

  @Test
  void gptqSameBytesOnAnyMasterAndAfterResume() throws IOException {
    TestSupport.ensureSparkHome();
    String[] scheme = {"--quantization.symmetric=false", "--eval.max-windows=2"};
    Path one = tmp.resolve("local1");
    Path two = tmp.resolve("local2");
    Path cluster = tmp.resolve("cluster");
    Path resumed = tmp.resolve("resumed");
    assertEquals(0, TestSupport.sparkslim(gptqArgs("tiny-llama-imdb", one, TestSupport.concat(scheme, "--spark.master=local[1]"))));
    assertEquals(0, TestSupport.sparkslim(gptqArgs("tiny-llama-imdb", two, TestSupport.concat(scheme, "--calibration.partitions=5"))));
    assertEquals(0, TestSupport.sparkslim(gptqArgs("tiny-llama-imdb", cluster, TestSupport.concat(scheme, "--spark.master=local-cluster[2,1,1024]"))));
    TestSupport.assertSameModel(one, two);
    TestSupport.assertSameModel(one, cluster);
    assertEquals(Main.EXIT_FAILURE, TestSupport.sparkslimWith(LayerSequentialDriver.INJECT_FAILURE_PROPERTY, "3", gptqArgs("tiny-llama-imdb", resumed, scheme)));
    assertFalse(Files.exists(resumed.resolve("_SUCCESS")));
    assertTrue(Files.exists(resumed.resolve("quantized/block-00003.parquet")));
    assertFalse(Files.exists(resumed.resolve("quantized/block-00004.parquet")));
    assertEquals(0, TestSupport.sparkslim(gptqArgs("tiny-llama-imdb", resumed, scheme)));
    JsonNode blocks = TestSupport.readJson(resumed.resolve("report.json")).get("blocks");
    for (int b = 0; b < blocks.size(); b++) {
      assertEquals(b <= 3, blocks.get(b).get("resumed").asBoolean(), "block " + b);
    }
    TestSupport.assertSameModel(one, resumed);
    System.out.println("GPTQ w4-g128-asym: identical safetensors on local[1], local[2] (5 partitions), local-cluster[2,1,1024] and after resume");
  }

  @Test
  void gptqFormatLoadsInEvalWithTheReportsPpl() throws IOException {
    Path out = tmp.resolve("gptq-format");
    assertEquals(0, TestSupport.sparkslim(gptqArgs("tiny-opt-imdb", out, "--quantization.format=gptq", "--quantization.act-order=dynamic")));
    assertTrue(Files.exists(out.resolve("model/quantize_config.json")));
    JsonNode config = TestSupport.readJson(out.resolve("model/config.json")).get("quantization_config");
    assertEquals("gptq", config.get("quant_method").asText());
    assertTrue(config.get("desc_act").asBoolean());
    SafetensorsFile f = SafetensorsFile.open(local(), new org.apache.hadoop.fs.Path(out.resolve("model/model.safetensors").toString()));
    assertNotNull(f.entry("model.decoder.layers.0.fc1.qweight"));
    assertNotNull(f.entry("model.decoder.layers.0.fc1.g_idx"));
    double reported = TestSupport.readJson(out.resolve("report.json")).get("eval").get("imdb.eval.txt").get("ppl").asDouble();
    double evaluated = TestSupport.exportedModelPpl(out, tmp.resolve("gptq-format-eval"));
    assertEquals(reported, evaluated, 1e-9 * reported);
    System.out.printf("GPTQ v1 layout (OPT, dynamic act-order): report ppl %.6f, eval of the export %.6f%n", reported, evaluated);
  }

  @Test
  void pruneWithGptqKeepsTheMaskInAPackQuantizedCheckpoint() throws IOException {
    Path out = tmp.resolve("joint");
    assertEquals(0, TestSupport.sparkslim(PruneJobTest.pruneArgs("tiny-opt-imdb", out, "--pruning.method=sparsegpt", "--pruning.sparsity=0.5",
        "--quantization.method=gptq"))); // static act-order, the default: the mask is recorded in sweep order and mapped back
    ModelDirectory exported = ModelDirectory.open(out.resolve("model").toString(), new Configuration());
    assertNotNull(exported.quantization(), "a pack-quantized checkpoint");
    for (int b = 0; b < exported.spec().numLayers(); b++) {
      Map<String, QuantizedShardTable.Row> rows = QuantizedShardTable.read(
          new org.apache.hadoop.fs.Path(out.resolve(String.format("quantized/block-%05d.parquet", b)).toString()), new Configuration());
      for (QuantizedShardTable.Row row : rows.values()) {
        CompressedLinear.Quantized q = row.q();
        long numel = (long) q.rows() * q.cols();
        // the joint sweep prunes exactly ⌊numel·s⌋ weights of each linear and keeps every other weight non-zero,
        // also those of OPT's dead fc2 inputs (never active in calibration)
        long pruned = q.mask().cardinality();
        assertEquals(numel / 2, pruned, row.linear() + ": pruned of " + numel);
        float[] w = exported.tensor(row.linear() + ".weight", new long[] {q.rows(), q.cols()}).data();
        long zeros = 0;
        for (int i = 0; i < w.length; i++) {
          zeros += w[i] == 0f ? 1 : 0;
          if (q.mask().get(i)) {
            assertEquals(0f, w[i], row.linear() + " entry " + i);
          }
        }
        assertEquals(numel / 2, zeros, row.linear() + ": zeros of the exported tensor");
      }
    }
    JsonNode report = TestSupport.readJson(out.resolve("report.json"));
    assertEquals("gptq", report.get("quantization").get("method").asText());
    assertEquals(0.5, report.get("sparsity").get("actual").asDouble(), 1e-12, report.toString());
  }
}
