package sparkslim.core.quant;

import java.util.ArrayList;
import java.util.List;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsWriter;
import sparkslim.core.io.TensorShardTable;

/**
 * The safetensors tensors that stand for one quantized linear's {@code <linear>.weight} in an exported checkpoint
 * (docs/depth_quant.md §2.6–2.7); names are {@code linear + suffix}, relative as the caller gives {@code linear}.
 */
public final class QuantizedTensors {
  private QuantizedTensors() {}

  /** compressed-tensors {@code pack-quantized}: weight_packed, weight_scale, [weight_zero_point], [weight_g_idx], weight_shape. */
  public static List<SafetensorsWriter.Tensor> compressedTensors(String linear, CompressedLinear.Quantized q, QuantStrategy strategy) {
    CompressedTensorsPacking p = CompressedTensorsPacking.of(q, strategy);
    List<SafetensorsWriter.Tensor> out = new ArrayList<>();
    out.add(ints(linear + ".weight_packed", p.packedShape(), p.packed()));
    out.add(SafetensorsWriter.Tensor.ofEncoded(linear + ".weight_scale", p.scaleDtype(), p.scaleShape(),
        () -> TensorShardTable.encode(p.scales(), p.scaleDtype())));
    if (p.zeroPoint() != null) {
      out.add(ints(linear + ".weight_zero_point", p.zeroPointShape(), p.zeroPoint()));
    }
    if (p.gIdx() != null) {
      out.add(ints(linear + ".weight_g_idx", new long[] {p.in()}, p.gIdx()));
    }
    out.add(SafetensorsWriter.Tensor.ofLongs(linear + ".weight_shape", new long[] {2}, new long[] {p.out(), p.in()}));
    return out;
  }

  /** GPTQ v1: qweight, qzeros, scales (F16), g_idx. */
  public static List<SafetensorsWriter.Tensor> gptq(String linear, CompressedLinear.Quantized q) {
    GptqPacking p = GptqPacking.of(q);
    List<SafetensorsWriter.Tensor> out = new ArrayList<>();
    out.add(ints(linear + ".qweight", p.qweightShape(), p.qweight()));
    out.add(ints(linear + ".qzeros", p.qzerosShape(), p.qzeros()));
    out.add(SafetensorsWriter.Tensor.ofEncoded(linear + ".scales", DType.F16, p.scalesShape(), () -> TensorShardTable.encode(p.scales(), DType.F16)));
    out.add(ints(linear + ".g_idx", new long[] {p.in()}, p.gIdx()));
    return out;
  }

  private static SafetensorsWriter.Tensor ints(String name, long[] shape, int[] values) {
    return SafetensorsWriter.Tensor.ofEncoded(name, DType.I32, shape, () -> IntPacking.toLittleEndian(values));
  }
}
