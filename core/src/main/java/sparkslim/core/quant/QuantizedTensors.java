package sparkslim.core.quant;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsWriter;
import sparkslim.core.io.TensorShardTable;

/**
 * The safetensors tensors that stand for one quantized linear's {@code <linear>.weight} in an exported checkpoint
 * (docs/depth_quant.md §2.6–2.7); names are {@code linear + suffix}, relative as the caller gives {@code linear}.
 *
 * <p>Each tensor's header (name, dtype, shape) follows from the linear's {@link Layout} alone, and its bytes are fetched
 * when the writer reaches it: the linear is read and packed at its first tensor and forgotten after its last, so an
 * exporter that lists a whole model's tensors first holds one linear's codes at a time.
 */
public final class QuantizedTensors {
  private QuantizedTensors() {}

  /**
   * What a quantized linear's tensors look like, known before its codes are read.
   *
   * @param rows outFeatures
   * @param cols inFeatures
   * @param gIdx whether the linear stores its column-to-group map (compressed-tensors: dynamic act-order only; GPTQ: always)
   */
  public record Layout(int rows, int cols, QuantScheme scheme, boolean gIdx) {
    /** Scale groups per row. */
    int groups() {
      return scheme.strategy() == QuantStrategy.TENSOR ? 1 : cols / scheme.groupWidth(cols);
    }
  }

  /** compressed-tensors {@code pack-quantized} for {@code q} as it is (a test and a one-off writer's entry). */
  public static List<SafetensorsWriter.Tensor> compressedTensors(String linear, CompressedLinear.Quantized q, QuantStrategy strategy) {
    QuantScheme scheme = new QuantScheme(q.bits(), q.zeroPoints() == null, strategy, strategy == QuantStrategy.GROUP ? q.groupSize() : 0,
        QuantConvention.SIGNED_ZERO_POINT, q.scaleDtype());
    return compressedTensors(linear, new Layout(q.rows(), q.cols(), scheme, q.gIdx() != null), () -> q);
  }

  /**
   * compressed-tensors {@code pack-quantized}: weight_packed, weight_scale, [weight_zero_point], [weight_g_idx],
   * weight_shape; {@code source} is called once, when the first of them is written.
   */
  public static List<SafetensorsWriter.Tensor> compressedTensors(String linear, Layout layout, Supplier<CompressedLinear.Quantized> source) {
    QuantScheme scheme = layout.scheme();
    int bits = scheme.bits();
    int groups = layout.groups();
    int count = 2 + (scheme.symmetric() ? 0 : 1) + (layout.gIdx() ? 1 : 0);
    Once<CompressedTensorsPacking> packing = new Once<>(() -> CompressedTensorsPacking.of(source.get(), scheme.strategy()), count);
    List<SafetensorsWriter.Tensor> out = new ArrayList<>();
    out.add(ints(linear + ".weight_packed", new long[] {layout.rows(), IntPacking.words(layout.cols(), bits)}, packing,
        CompressedTensorsPacking::packedShape, CompressedTensorsPacking::packed));
    long[] scaleShape = scheme.strategy() == QuantStrategy.TENSOR ? new long[] {1} : new long[] {layout.rows(), groups};
    out.add(SafetensorsWriter.Tensor.ofEncoded(linear + ".weight_scale", scheme.scaleDtype(), scaleShape, () -> {
      CompressedTensorsPacking p = packing.get(scaleShape, CompressedTensorsPacking::scaleShape);
      return TensorShardTable.encode(p.scales(), p.scaleDtype());
    }));
    if (!scheme.symmetric()) {
      out.add(ints(linear + ".weight_zero_point", new long[] {IntPacking.words(layout.rows(), bits), groups}, packing,
          CompressedTensorsPacking::zeroPointShape, CompressedTensorsPacking::zeroPoint));
    }
    if (layout.gIdx()) {
      out.add(ints(linear + ".weight_g_idx", new long[] {layout.cols()}, packing, p -> new long[] {p.in()}, CompressedTensorsPacking::gIdx));
    }
    out.add(SafetensorsWriter.Tensor.ofLongs(linear + ".weight_shape", new long[] {2}, new long[] {layout.rows(), layout.cols()}));
    return out;
  }

  /** GPTQ v1 for {@code q} as it is. */
  public static List<SafetensorsWriter.Tensor> gptq(String linear, CompressedLinear.Quantized q) {
    QuantStrategy strategy = q.groupSize() == q.cols() ? QuantStrategy.CHANNEL : QuantStrategy.GROUP;
    QuantScheme scheme = new QuantScheme(q.bits(), true, strategy, strategy == QuantStrategy.GROUP ? q.groupSize() : 0,
        QuantConvention.SIGNED_ZERO_POINT, DType.F16);
    return gptq(linear, new Layout(q.rows(), q.cols(), scheme, true), () -> q);
  }

  /** GPTQ v1: qweight, qzeros, scales (F16), g_idx; {@code source} is called once, when the first of them is written. */
  public static List<SafetensorsWriter.Tensor> gptq(String linear, Layout layout, Supplier<CompressedLinear.Quantized> source) {
    int bits = layout.scheme().bits();
    int groups = layout.groups();
    Once<GptqPacking> packing = new Once<>(() -> GptqPacking.of(source.get()), 4);
    List<SafetensorsWriter.Tensor> out = new ArrayList<>();
    out.add(ints(linear + ".qweight", new long[] {IntPacking.words(layout.cols(), bits), layout.rows()}, packing, GptqPacking::qweightShape,
        GptqPacking::qweight));
    out.add(ints(linear + ".qzeros", new long[] {groups, IntPacking.words(layout.rows(), bits)}, packing, GptqPacking::qzerosShape,
        GptqPacking::qzeros));
    long[] scalesShape = {groups, layout.rows()};
    out.add(SafetensorsWriter.Tensor.ofEncoded(linear + ".scales", DType.F16, scalesShape,
        () -> TensorShardTable.encode(packing.get(scalesShape, GptqPacking::scalesShape).scales(), DType.F16)));
    out.add(ints(linear + ".g_idx", new long[] {layout.cols()}, packing, p -> new long[] {p.in()}, GptqPacking::gIdx));
    return out;
  }

  private static <P> SafetensorsWriter.Tensor ints(String name, long[] shape, Once<P> packing, Function<P, long[]> actualShape,
                                                   Function<P, int[]> values) {
    return SafetensorsWriter.Tensor.ofEncoded(name, DType.I32, shape, () -> IntPacking.toLittleEndian(values.apply(packing.get(shape, actualShape))));
  }

  /** A packing computed at the first of {@code uses} fetches and dropped after the last. */
  private static final class Once<P> {
    private final Supplier<P> compute;
    private int remaining;
    private P value;

    Once(Supplier<P> compute, int uses) {
      this.compute = compute;
      this.remaining = uses;
    }

    /** The packing, after checking that the tensor's declared shape is the one it packs to. */
    synchronized P get(long[] declared, Function<P, long[]> actualShape) {
      if (remaining <= 0) {
        throw new IllegalStateException("quantized linear fetched more often than it has tensors");
      }
      P p = value != null ? value : compute.get();
      value = --remaining == 0 ? null : p;
      long[] actual = actualShape.apply(p);
      if (!Arrays.equals(declared, actual)) {
        throw new IllegalStateException("quantized tensor declared " + Arrays.toString(declared) + " but packs to " + Arrays.toString(actual));
      }
      return p;
    }
  }
}
