package sparkslim.core.quant;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;
import sparkslim.core.Examples;
import sparkslim.core.calib.CalibrationWindows;
import sparkslim.core.calib.HessianAccumulator;
import sparkslim.core.calib.InputStatistics;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsFile;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.Tensor;

/**
 * GPTQ against the checkpoint llm-compressor's GPTQ wrote for tiny-llama-imdb (W4 g128 asymmetric, static act-order,
 * the 64 golden calibration windows; examples/golden/quant): compared by the reconstruction error tr(ΔW·H·ΔWᵀ) of every
 * linear of block 0, with H from the same windows (GPTQ depends on the calibration path, so not bit for bit).
 */
class GptqGoldenTest {

  @Test
  void staticActOrderGptqMatchesTheReferenceErrorOnEveryLinearOfBlockZero() throws Exception {
    Configuration conf = new Configuration();
    ModelDirectory dir = ModelDirectory.open(Examples.model("tiny-llama-imdb").toString(), conf);
    CausalLm globals = dir.globals();
    DecoderBlock block = dir.block(0);
    List<int[]> windows = CalibrationWindows.read(Examples.golden("tiny-llama-imdb.calib.safetensors").toString(), dir.spec().vocabSize(), conf);
    Map<String, HessianAccumulator> sums = new HashMap<>();
    for (int[] w : windows) {
      block.forward(globals.embed(w), w.length, (group, in, rows) -> sums.computeIfAbsent(group, k -> new HessianAccumulator(in.length / rows))
          .add(in, rows));
    }
    SafetensorsFile golden = SafetensorsFile.open(FileSystem.getLocal(conf),
        new Path(Examples.golden("quant").resolve("llama_gptq_W4A16_ASYM.layer0.safetensors").toUri()));
    QuantScheme scheme = QuantScheme.group(4, 128, false, DType.BF16);
    for (String linear : block.linearNames()) {
      Tensor w = block.tensor(linear + ".weight");
      InputStatistics stats = sums.get(block.inputGroup(linear)).statistics();
      double[] h = stats.hessian();
      float[] ours = new GptqSolver(scheme, 128, 0.01, ActOrder.STATIC).solve(w.data(), w.rows(), w.cols(), stats, null).weights();
      float[] rtn = RtnSolver.quantize(w.data(), w.rows(), w.cols(), scheme, DType.BF16).weights();
      String p = "model.layers.0." + linear;
      float[] reference = new CompressedTensorsPacking(w.rows(), w.cols(), 4, (int) golden.entry(p + ".weight_scale").shape()[1],
          QuantStrategy.GROUP, DType.BF16, golden.readInts(p + ".weight_packed"), golden.readFloats(p + ".weight_scale"),
          golden.readInts(p + ".weight_zero_point"), null).unpack().weights();
      double oursError = error(w.data(), ours, h, w.cols());
      double referenceError = error(w.data(), reference, h, w.cols());
      double rtnError = error(w.data(), rtn, h, w.cols());
      assertTrue(oursError <= 1.005 * referenceError, linear + ": ours " + oursError + ", llm-compressor " + referenceError);
      assertTrue(oursError < 0.8 * rtnError, linear + ": ours " + oursError + ", RTN " + rtnError);
    }
  }

  /** tr(ΔW·H·ΔWᵀ), ΔW = W − Q (rows, n), H (n, n). */
  private static double error(float[] w, float[] q, double[] h, int n) {
    int rows = w.length / n;
    double sum = 0;
    double[] d = new double[n];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < n; c++) {
        d[c] = w[r * n + c] - q[r * n + c];
      }
      for (int i = 0; i < n; i++) {
        double t = 0;
        for (int j = 0; j < n; j++) {
          t += h[i * n + j] * d[j];
        }
        sum += d[i] * t;
      }
    }
    return sum;
  }
}
