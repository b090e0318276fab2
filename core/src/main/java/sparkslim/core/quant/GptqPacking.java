package sparkslim.core.quant;

import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;

/**
 * One quantized linear in the GPTQ v1 layout (AutoGPTQ / GPTQModel {@code checkpoint_format: "gptq"},
 * docs/depth_quant.md §2.6), for symmetric schemes:
 * <ul>
 *   <li>{@code qweight} I32 (in·b/32, out): the unsigned codes q = code + 2^(b−1) of the transposed weight (in, out),
 *       packed along the input axis (input row r·f + t at bits b·t of word row r, f = 32/b);</li>
 *   <li>{@code qzeros} I32 (groups, out·b/32): zero − 1 per (group, output column), packed along the output axis;
 *       symmetric 4-bit gives 0x77777777 in every word;</li>
 *   <li>{@code scales} F16 (groups, out);</li>
 *   <li>{@code g_idx} I32 (in): the group of each input column.</li>
 * </ul>
 * A loader computes w[c, i] = scales[g_idx[i], c]·(q[i, c] − (qzeros[g_idx[i], c] + 1)) in fp16.
 *
 * @param qweight (in·b/32, out)
 * @param qzeros (groups, out·b/32)
 * @param scales (groups, out), fp16 values
 * @param gIdx (in)
 */
public record GptqPacking(int out, int in, int bits, int groups, int[] qweight, int[] qzeros, float[] scales, int[] gIdx) {

  /** Packs a symmetric quantized linear whose scales are stored as F16. */
  public static GptqPacking of(CompressedLinear.Quantized q) {
    if (q.zeroPoints() != null) {
      throw new IllegalArgumentException("the GPTQ v1 layout is written for symmetric schemes only (an asymmetric zero of 0 "
          + "would encode as −1 and overflow into its neighbours)");
    }
    if (q.scaleDtype() != DType.F16) {
      throw new IllegalArgumentException("GPTQ scales are F16, found " + q.scaleDtype());
    }
    int rows = q.rows();
    int cols = q.cols();
    int offset = 1 << (q.bits() - 1);
    int[] uT = new int[rows * cols]; // (in, out)
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        uT[c * rows + r] = q.codes()[r * cols + c] + offset;
      }
    }
    // packing the rows of (out, in) equals packing (in, out) along dim 0
    int[] packedRows = IntPacking.pack(IntPacking.transpose(uT, cols, rows), rows, cols, q.bits()); // (out, words)
    int[] qweight = IntPacking.transpose(packedRows, rows, IntPacking.words(cols, q.bits())); // (words, out)
    int groups = q.groupsPerRow();
    int[] zeroMinusOne = new int[groups * rows]; // (groups, out)
    java.util.Arrays.fill(zeroMinusOne, offset - 1);
    int[] qzeros = IntPacking.pack(zeroMinusOne, groups, rows, q.bits());
    float[] scalesT = new float[groups * rows]; // (groups, out)
    for (int r = 0; r < rows; r++) {
      for (int g = 0; g < groups; g++) {
        scalesT[g * rows + r] = q.scales()[r * groups + g];
      }
    }
    int[] gIdx = new int[cols];
    for (int c = 0; c < cols; c++) {
      gIdx[c] = q.group(c);
    }
    return new GptqPacking(rows, cols, q.bits(), groups, qweight, qzeros, scalesT, gIdx);
  }

  public long[] qweightShape() {
    return new long[] {IntPacking.words(in, bits), out};
  }

  public long[] qzerosShape() {
    return new long[] {groups, IntPacking.words(out, bits)};
  }

  public long[] scalesShape() {
    return new long[] {groups, out};
  }

  /**
   * Unpacks to a quantized linear with signed codes: zero points are read back from {@code qzeros} (+1), and are
   * omitted when every one is 2^(b−1) (a symmetric scheme).
   */
  public CompressedLinear.Quantized unpack() {
    int offset = 1 << (bits - 1);
    int words = IntPacking.words(in, bits);
    int[] u = IntPacking.unpack(IntPacking.transpose(qweight, words, out), out, in, bits); // (out, in)
    byte[] codes = new byte[u.length];
    for (int i = 0; i < u.length; i++) {
      codes[i] = (byte) (u[i] - offset);
    }
    int[] z = IntPacking.unpack(qzeros, groups, out, bits); // (groups, out): zero − 1
    boolean symmetric = true;
    byte[] zeros = new byte[groups * out]; // (out, groups)
    float[] s = new float[groups * out]; // (out, groups)
    for (int g = 0; g < groups; g++) {
      for (int c = 0; c < out; c++) {
        int zero = ((z[g * out + c] + 1) & ((1 << bits) - 1)) - offset;
        symmetric &= zero == 0;
        zeros[c * groups + g] = (byte) zero;
        s[c * groups + g] = scales[g * out + c];
      }
    }
    boolean trivial = true;
    for (int i = 0; i < in && trivial; i++) {
      trivial = gIdx[i] == i / (in / groups);
    }
    return new CompressedLinear.Quantized(out, in, bits, in / groups, DType.F16, codes, s, symmetric ? null : zeros,
        trivial ? null : gIdx.clone(), null, Double.NaN, null);
  }
}
