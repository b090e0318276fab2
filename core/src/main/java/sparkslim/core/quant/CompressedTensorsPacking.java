package sparkslim.core.quant;

import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;

/**
 * One quantized linear in compressed-tensors' {@code pack-quantized} layout (docs/depth_quant.md §2.7), as
 * compressed-tensors 0.18 writes it:
 * <ul>
 *   <li>{@code weight_packed} I32 (out, ceil(in·b/32)): the signed codes plus 2^(b−1), as a bit stream along each row
 *       ({@link IntPacking});</li>
 *   <li>{@code weight_scale} in the model's dtype: (out, groups) per group, (out, 1) per channel, (1) per tensor;</li>
 *   <li>{@code weight_zero_point} I32 (ceil(out·b/32), groups), asymmetric group and channel schemes only: the signed
 *       zero points plus 2^(b−1), packed the same way along the output axis (dim 0);</li>
 *   <li>{@code weight_g_idx} I32 (in), dynamic act-order only;</li>
 *   <li>{@code weight_shape} I64 (2) = [out, in].</li>
 * </ul>
 *
 * @param packed (out, ceil(in·b/32))
 * @param zeroPoint (ceil(out·b/32), groups), or null
 * @param gIdx (in), or null
 */
public record CompressedTensorsPacking(int out, int in, int bits, int groups, QuantStrategy strategy, DType scaleDtype, int[] packed,
                                       float[] scales, int[] zeroPoint, int[] gIdx) {

  /** Packs a quantized linear; {@code strategy} says how its scales are stored (per tensor: one scale). */
  public static CompressedTensorsPacking of(CompressedLinear.Quantized q, QuantStrategy strategy) {
    int offset = 1 << (q.bits() - 1);
    int[] u = new int[q.codes().length]; // (out, in)
    for (int i = 0; i < u.length; i++) {
      u[i] = q.codes()[i] + offset;
    }
    int groups = q.groupsPerRow();
    float[] scales = strategy == QuantStrategy.TENSOR ? new float[] {q.scales()[0]} : q.scales();
    int[] zp = null;
    if (q.zeroPoints() != null) {
      if (strategy == QuantStrategy.TENSOR) {
        throw new IllegalArgumentException("an asymmetric per-tensor scheme has no pack-quantized zero-point layout");
      }
      int[] z = new int[q.zeroPoints().length]; // (out, groups)
      for (int i = 0; i < z.length; i++) {
        z[i] = q.zeroPoints()[i] + offset;
      }
      // packed along dim 0: pack the rows of the transpose (groups, out), then transpose back
      int[] packedT = IntPacking.pack(IntPacking.transpose(z, q.rows(), groups), groups, q.rows(), q.bits());
      zp = IntPacking.transpose(packedT, groups, IntPacking.words(q.rows(), q.bits()));
    }
    return new CompressedTensorsPacking(q.rows(), q.cols(), q.bits(), groups, strategy, q.scaleDtype(),
        IntPacking.pack(u, q.rows(), q.cols(), q.bits()), scales, zp, q.gIdx());
  }

  /** The shape of {@code weight_packed}. */
  public long[] packedShape() {
    return new long[] {out, IntPacking.words(in, bits)};
  }

  /** The shape of {@code weight_scale}. */
  public long[] scaleShape() {
    return strategy == QuantStrategy.TENSOR ? new long[] {1} : new long[] {out, groups};
  }

  /** The shape of {@code weight_zero_point}. */
  public long[] zeroPointShape() {
    return new long[] {IntPacking.words(out, bits), groups};
  }

  /** Unpacks to the quantized linear it was packed from (codes, scales, zero points, g_idx). */
  public CompressedLinear.Quantized unpack() {
    int offset = 1 << (bits - 1);
    int[] u = IntPacking.unpack(packed, out, in, bits);
    byte[] codes = new byte[u.length];
    for (int i = 0; i < u.length; i++) {
      codes[i] = (byte) (u[i] - offset);
    }
    float[] s = scales;
    if (strategy == QuantStrategy.TENSOR) {
      s = new float[out];
      java.util.Arrays.fill(s, scales[0]);
    }
    byte[] z = null;
    if (zeroPoint != null) {
      int[] t = IntPacking.unpack(IntPacking.transpose(zeroPoint, IntPacking.words(out, bits), groups), groups, out, bits);
      int[] zz = IntPacking.transpose(t, groups, out); // (out, groups)
      z = new byte[zz.length];
      for (int i = 0; i < zz.length; i++) {
        z[i] = (byte) (zz[i] - offset);
      }
    }
    return new CompressedLinear.Quantized(out, in, bits, in / groups, scaleDtype, codes, s, z, gIdx, null, Double.NaN, null);
  }
}
