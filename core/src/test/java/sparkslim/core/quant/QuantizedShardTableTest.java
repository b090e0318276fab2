package sparkslim.core.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;

class QuantizedShardTableTest {

  @Test
  void everySchemeRoundTripsExactly(@TempDir Path tmp) {
    Configuration conf = new Configuration();
    float[] w = IntPackingTest.random(24, 64, 4);
    QuantScheme[] schemes = {QuantScheme.group(4, 32, true, DType.BF16), QuantScheme.group(3, 16, false, DType.F16),
        new QuantScheme(8, true, QuantStrategy.CHANNEL, 0, QuantConvention.SIGNED_ZERO_POINT, DType.BF16),
        new QuantScheme(2, false, QuantStrategy.CHANNEL, 0, QuantConvention.SIGNED_ZERO_POINT, DType.F32),
        new QuantScheme(8, true, QuantStrategy.TENSOR, 0, QuantConvention.SIGNED_ZERO_POINT, DType.BF16)};
    for (QuantScheme s : schemes) {
      CompressedLinear.Quantized q = RtnSolver.quantize(w, 24, 64, s, DType.F32);
      BitSet mask = new BitSet();
      mask.set(3);
      CompressedLinear.Quantized withMask = new CompressedLinear.Quantized(q.rows(), q.cols(), q.bits(), q.groupSize(), q.scaleDtype(), q.codes(),
          q.scales(), q.zeroPoints(), null, mask, 1.5, null);
      org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(tmp.resolve(s.label() + ".parquet").toUri());
      QuantizedShardTable.write(file, List.of(new QuantizedShardTable.Row("run", "fp", 2, "model.layers.2.mlp.down_proj", s.strategy(), withMask)),
          conf);
      Map<String, QuantizedShardTable.Row> back = QuantizedShardTable.read(file, conf);
      CompressedLinear.Quantized r = back.get("model.layers.2.mlp.down_proj").q();
      assertArrayEquals(q.codes(), r.codes(), s.label());
      assertArrayEquals(q.scales(), r.scales(), s.label());
      assertArrayEquals(q.zeroPoints(), r.zeroPoints(), s.label());
      assertArrayEquals(q.weights(), r.weights(), s.label());
      assertEquals(mask, r.mask());
      assertEquals(1.5, r.loss());
      assertEquals(2, back.get("model.layers.2.mlp.down_proj").block());
    }
  }
}
