package sparkslim.core.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import sparkslim.core.Examples;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsFile;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.Tensor;

/**
 * RTN and the compressed-tensors packer against the layer-0 tensors that compressed-tensors 0.18 wrote through
 * llm-compressor for the examples (examples/golden/quant/README.md): the same codes, scales and zero points, and the
 * same int32 words once packed.
 */
class GoldenQuantTest {

  @ParameterizedTest
  @CsvSource({
      "llama_rtn_W4A16, tiny-llama-imdb, 4, GROUP, 128, true, BF16",
      "llama_rtn_W4A16_ASYM, tiny-llama-imdb, 4, GROUP, 128, false, BF16",
      "llama_rtn_w8_ch_sym, tiny-llama-imdb, 8, CHANNEL, 0, true, BF16",
      "opt_rtn_W4A16_ASYM, tiny-opt-imdb, 4, GROUP, 128, false, F16"})
  void rtnReproducesTheReferenceCodesScalesAndWords(String file, String model, int bits, QuantStrategy strategy, int groupSize,
      boolean symmetric, DType dtype) throws Exception {
    QuantScheme scheme = new QuantScheme(bits, symmetric, strategy, groupSize, QuantConvention.SIGNED_ZERO_POINT, dtype);
    Map<String, Tensor> block = ModelDirectory.open(Examples.model(model).toString(), new Configuration()).loadBlock(0);
    SafetensorsFile golden = open(file);
    int linears = 0;
    for (String name : golden.entries().keySet()) {
      if (!name.endsWith(".weight_packed")) {
        continue;
      }
      String prefix = name.substring(0, name.length() - ".weight_packed".length());
      String linear = prefix.substring(prefix.indexOf(".layers.0.") + ".layers.0.".length());
      Tensor w = block.get(linear + ".weight");
      long[] shape = golden.readLongs(prefix + ".weight_shape");
      assertArrayEquals(new long[] {w.rows(), w.cols()}, shape, linear);
      CompressedLinear.Quantized q = RtnSolver.quantize(w.data(), w.rows(), w.cols(), scheme, dtype);
      CompressedTensorsPacking packed = CompressedTensorsPacking.of(q, strategy);

      assertArrayEquals(golden.readFloats(prefix + ".weight_scale"), q.scales(), linear + " scales");
      assertArrayEquals(golden.entry(prefix + ".weight_packed").shape(), packed.packedShape(), linear);
      assertArrayEquals(golden.readInts(prefix + ".weight_packed"), packed.packed(), linear + " weight_packed");
      if (symmetric) {
        assertTrue(!golden.entries().containsKey(prefix + ".weight_zero_point"), linear + ": symmetric zero points are not saved");
      } else {
        assertArrayEquals(golden.entry(prefix + ".weight_zero_point").shape(), packed.zeroPointShape(), linear);
        assertArrayEquals(golden.readInts(prefix + ".weight_zero_point"), packed.zeroPoint(), linear + " weight_zero_point");
      }
      linears++;
    }
    assertEquals(model.contains("llama") ? 7 : 6, linears);
  }

  @ParameterizedTest
  @CsvSource({"llama_gptq_W4A16_ASYM, tiny-llama-imdb"})
  void gptqCheckpointUnpacksAndPacksBackToTheSameWords(String file, String model) throws Exception {
    Map<String, Tensor> block = ModelDirectory.open(Examples.model(model).toString(), new Configuration()).loadBlock(0);
    SafetensorsFile golden = open(file);
    for (String name : golden.entries().keySet()) {
      if (!name.endsWith(".weight_packed")) {
        continue;
      }
      String prefix = name.substring(0, name.length() - ".weight_packed".length());
      Tensor w = block.get(prefix.substring(prefix.indexOf(".layers.0.") + ".layers.0.".length()) + ".weight");
      int groups = (int) golden.entry(prefix + ".weight_scale").shape()[1];
      CompressedTensorsPacking read = new CompressedTensorsPacking(w.rows(), w.cols(), 4, groups, QuantStrategy.GROUP, DType.BF16,
          golden.readInts(prefix + ".weight_packed"), golden.readFloats(prefix + ".weight_scale"), golden.readInts(prefix + ".weight_zero_point"), null);
      CompressedLinear.Quantized q = read.unpack();
      CompressedTensorsPacking again = CompressedTensorsPacking.of(q, QuantStrategy.GROUP);
      assertArrayEquals(read.packed(), again.packed(), prefix);
      assertArrayEquals(read.zeroPoint(), again.zeroPoint(), prefix);
      // the dequantized weights are close to the source: relative Frobenius error of a 4-bit grid
      float[] deq = q.weights();
      double err = 0;
      double norm = 0;
      for (int i = 0; i < deq.length; i++) {
        err += (deq[i] - w.data()[i]) * (double) (deq[i] - w.data()[i]);
        norm += w.data()[i] * (double) w.data()[i];
      }
      assertTrue(Math.sqrt(err / norm) < 0.2, prefix + ": relative error " + Math.sqrt(err / norm));
    }
  }

  private static SafetensorsFile open(String file) throws Exception {
    Path p = new Path(Examples.golden("quant").resolve(file + ".layer0.safetensors").toUri());
    return SafetensorsFile.open(FileSystem.getLocal(new Configuration()), p);
  }

}
