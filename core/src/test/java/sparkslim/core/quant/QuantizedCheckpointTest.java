package sparkslim.core.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.Examples;
import sparkslim.core.SparkslimException;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsWriter;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelExporter;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.model.Tensor;

/** A quantized checkpoint written with the packers reads back, through the model loader, as exactly its dequantized weights. */
class QuantizedCheckpointTest {
  private static final Configuration CONF = new Configuration();

  @Test
  void compressedTensorsCheckpointLoadsAsItsDequantizedWeights(@TempDir Path tmp) {
    for (boolean symmetric : new boolean[] {true, false}) {
      QuantScheme s = QuantScheme.group(4, 128, symmetric, DType.BF16);
      Path out = tmp.resolve(s.label());
      Map<String, CompressedLinear.Quantized> written = export("tiny-llama-imdb", s, false, out, s.bits());
      checkLoadsAs(out, written, "tiny-llama-imdb");
    }
  }

  @Test
  void gptqCheckpointLoadsAsItsDequantizedWeights(@TempDir Path tmp) {
    QuantScheme s = new QuantScheme(4, true, QuantStrategy.GROUP, 128, QuantConvention.UNSIGNED_ZERO, DType.F16);
    Map<String, CompressedLinear.Quantized> written = export("tiny-opt-imdb", s, true, tmp, 4);
    checkLoadsAs(tmp, written, "tiny-opt-imdb");
  }

  @Test
  void packedShapeThatDisagreesWithWeightShapeIsNamedWhenOpened(@TempDir Path tmp) {
    // codes packed at 8 bits, the config declaring 4: every weight_packed is twice as wide as weight_shape implies
    QuantScheme s = QuantScheme.group(8, 128, true, DType.BF16);
    export("tiny-llama-imdb", s, false, tmp, 4);
    SparkslimException e = assertThrows(SparkslimException.class, () -> ModelDirectory.open(tmp.toString(), CONF));
    assertTrue(e.getMessage().startsWith("Tensor 'model.layers.0.self_attn.q_proj.weight_packed' in "), e.getMessage());
    assertTrue(e.getMessage().endsWith("has shape [256, 64] but its weight_shape [256, 256] at 4 bits implies [256, 32]"), e.getMessage());
  }

  /** RTN-quantizes every linear of {@code model} and exports the checkpoint with {@code declaredBits} in its config. */
  private static Map<String, CompressedLinear.Quantized> export(String model, QuantScheme s, boolean gptq, Path out, int declaredBits) {
    ModelDirectory source = ModelDirectory.open(Examples.model(model).toString(), CONF);
    ModelSpec spec = source.spec();
    DType dtype = ModelExporter.storedDtype(source);
    Map<String, CompressedLinear.Quantized> written = new LinkedHashMap<>();
    List<String> linears = DecoderBlock.linearNames(spec);
    try {
      var config = gptq ? QuantizationConfigs.gptq(s, ActOrder.OFF, 0.01) : QuantizationConfigs.compressedTensors(s, ActOrder.OFF, List.of("lm_head"));
      if (gptq) {
        config.put("bits", declaredBits);
      } else {
        ((com.fasterxml.jackson.databind.node.ObjectNode) config.get("config_groups").get("group_0").get("weights")).put("num_bits", declaredBits);
      }
      ModelExporter.exportEncoded(source, spec.numLayers(), i -> {
        Map<String, Tensor> block = source.loadBlock(i);
        Map<String, ModelExporter.Encoded> tensors = new LinkedHashMap<>();
        block.forEach((name, t) -> {
          String linear = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : null;
          if (linear != null && linears.contains(linear)) {
            CompressedLinear.Quantized q = RtnSolver.quantize(t.data(), t.rows(), t.cols(), s, gptq ? DType.F32 : dtype);
            written.put(spec.blockPrefix(i) + name, q);
            List<SafetensorsWriter.Tensor> packed = gptq ? QuantizedTensors.gptq(linear, q) : QuantizedTensors.compressedTensors(linear, q, s.strategy());
            for (SafetensorsWriter.Tensor p : packed) {
              tensors.put(p.name(), new ModelExporter.Encoded(p.shape(), p::bytes, p.dtype()));
            }
          } else {
            tensors.put(name, new ModelExporter.Encoded(t.shape(), () -> TensorShardTable.encode(t.data(), dtype)));
          }
        });
        return tensors;
      }, dtype, FileSystem.getLocal(CONF), new org.apache.hadoop.fs.Path(out.toUri()), ModelExporter.DEFAULT_MAX_SHARD_BYTES,
          Map.of("quantization_config", config));
    } catch (Exception e) {
      throw new RuntimeException(e);
    }
    return written;
  }


  private static void checkLoadsAs(Path dir, Map<String, CompressedLinear.Quantized> written, String model) {
    ModelDirectory loaded = ModelDirectory.open(dir.toString(), CONF);
    ModelDirectory source = ModelDirectory.open(Examples.model(model).toString(), CONF);
    ModelSpec spec = loaded.spec();
    for (int i = 0; i < spec.numLayers(); i++) {
      Map<String, Tensor> block = loaded.loadBlock(i);
      Map<String, Tensor> original = source.loadBlock(i);
      DecoderBlock held = loaded.block(i);
      for (Map.Entry<String, Tensor> e : block.entrySet()) {
        CompressedLinear.Quantized q = written.get(spec.blockPrefix(i) + e.getKey());
        float[] expected = q != null ? q.weights() : original.get(e.getKey()).data();
        assertArrayEquals(expected, e.getValue().data(), e.getKey());
        assertArrayEquals(expected, held.tensor(e.getKey()).data(), e.getKey() + " held 16-bit");
      }
    }
    assertEquals(written.size(), spec.numLayers() * DecoderBlock.linearNames(spec).size());
  }
}
