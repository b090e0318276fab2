package sparkslim.core.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;

/** The packers against the vectors of docs/depth_quant.md §2.6–2.7. */
class IntPackingTest {

  @Test
  void fourBitValuesOneToEightGiveTheDocumentedWord() {
    int[] packed = IntPacking.pack(new int[] {1, 2, 3, 4, 5, 6, 7, 8}, 1, 8, 4);
    assertArrayEquals(new int[] {0x87654321}, packed);
    assertEquals(-2023406815, packed[0]);
    assertArrayEquals(new int[] {1, 2, 3, 4, 5, 6, 7, 8}, IntPacking.unpack(packed, 1, 8, 4));
  }

  @Test
  void threeBitCodesCrossWordBoundariesAsTheDocumentSays() {
    // 32 values v_i = i mod 8 span 3 words: word 0 holds values 0..9 at bits 0..29 and the low 2 bits of value 10 at
    // bits 30..31; word 1 the high bit of value 10 at bit 0, values 11..20 at bits 1..30, the low bit of value 21 at
    // bit 31; word 2 the 2 high bits of value 21 at bits 0..1 and values 22..31 at bits 2..31.
    int[] v = new int[32];
    for (int i = 0; i < 32; i++) {
      v[i] = i % 8;
    }
    int[] w = IntPacking.pack(v, 1, 32, 3);
    assertEquals(3, w.length);
    for (int i = 0; i <= 9; i++) {
      assertEquals(v[i], (w[0] >>> (3 * i)) & 7, "value " + i);
    }
    assertEquals(v[10] & 3, w[0] >>> 30);
    assertEquals(v[10] >> 2, w[1] & 1);
    for (int i = 11; i <= 20; i++) {
      assertEquals(v[i], (w[1] >>> (1 + 3 * (i - 11))) & 7, "value " + i);
    }
    assertEquals(v[21] & 1, w[1] >>> 31);
    assertEquals(v[21] >> 1, w[2] & 3);
    for (int i = 22; i <= 31; i++) {
      assertEquals(v[i], (w[2] >>> (2 + 3 * (i - 22))) & 7, "value " + i);
    }
    assertArrayEquals(v, IntPacking.unpack(w, 1, 32, 3));
  }

  @Test
  void everyWidthRoundTripsOnWidthsThatLeaveAPartialWord() {
    Random rnd = new Random(3);
    for (int bits : new int[] {2, 3, 4, 8}) {
      for (int cols : new int[] {1, 7, 11, 32, 33, 100}) {
        int rows = 5;
        int[] v = new int[rows * cols];
        for (int i = 0; i < v.length; i++) {
          v[i] = rnd.nextInt(1 << bits);
        }
        int[] packed = IntPacking.pack(v, rows, cols, bits);
        assertEquals(rows * ((cols * bits + 31) / 32), packed.length);
        assertArrayEquals(v, IntPacking.unpack(packed, rows, cols, bits), bits + " bits, " + cols + " columns");
      }
    }
  }

  @Test
  void gptqSymmetricZerosAreTheDocumentedWords() {
    for (int[] bitsAndWord : new int[][] {{4, 0x77777777}, {8, 0x7F7F7F7F}}) {
      int bits = bitsAndWord[0];
      CompressedLinear.Quantized q = RtnSolver.quantize(random(16, 64, 1), 16, 64, new QuantScheme(bits, true, QuantStrategy.GROUP, 32,
          QuantConvention.UNSIGNED_ZERO, DType.F16), DType.F32);
      GptqPacking g = GptqPacking.of(q);
      for (int word : g.qzeros()) {
        assertEquals(bitsAndWord[1], word);
      }
      assertArrayEquals(new long[] {64 * bits / 32, 16}, g.qweightShape());
      assertArrayEquals(new long[] {2, 16 * bits / 32}, g.qzerosShape());
      CompressedLinear.Quantized back = g.unpack();
      assertArrayEquals(q.codes(), back.codes());
      assertArrayEquals(q.scales(), back.scales());
      assertArrayEquals(q.weights(), back.weights());
    }
  }

  @Test
  void symmetricFourBitGptqAndCompressedTensorsHoldTheSameNibblesTransposed() {
    // docs/depth_quant.md §2.7: weight_packed = repack(transpose(unpack(qweight))), weight_scale = scales^T
    CompressedLinear.Quantized q = RtnSolver.quantize(random(24, 256, 2), 24, 256, new QuantScheme(4, true, QuantStrategy.GROUP, 128,
        QuantConvention.SIGNED_ZERO_POINT, DType.F16), DType.F32);
    GptqPacking g = GptqPacking.of(q);
    CompressedTensorsPacking ct = CompressedTensorsPacking.of(q, QuantStrategy.GROUP);
    int[] unsignedInOut = IntPacking.transpose(IntPacking.unpack(IntPacking.transpose(g.qweight(), 32, 24), 24, 256, 4), 24, 256);
    assertArrayEquals(ct.packed(), IntPacking.pack(IntPacking.transpose(unsignedInOut, 256, 24), 24, 256, 4));
    for (int r = 0; r < 24; r++) {
      for (int grp = 0; grp < 2; grp++) {
        assertEquals(ct.scales()[r * 2 + grp], g.scales()[grp * 24 + r]);
      }
    }
  }

  @Test
  void compressedTensorsRoundTripsEveryScheme() {
    for (int bits : new int[] {2, 3, 4, 8}) {
      for (boolean symmetric : new boolean[] {true, false}) {
        for (QuantStrategy strategy : QuantStrategy.values()) {
          if (strategy == QuantStrategy.TENSOR && !symmetric) {
            continue;
          }
          QuantScheme s = new QuantScheme(bits, symmetric, strategy, strategy == QuantStrategy.GROUP ? 16 : 0, QuantConvention.SIGNED_ZERO_POINT,
              DType.BF16);
          CompressedLinear.Quantized q = RtnSolver.quantize(random(13, 48, bits), 13, 48, s, DType.F32);
          CompressedLinear.Quantized back = CompressedTensorsPacking.of(q, strategy).unpack();
          assertArrayEquals(q.codes(), back.codes(), s.label());
          assertArrayEquals(q.zeroPoints(), back.zeroPoints(), s.label());
          assertArrayEquals(q.weights(), back.weights(), s.label());
        }
      }
    }
  }

  static float[] random(int rows, int cols, long seed) {
    Random rnd = new Random(seed);
    float[] w = new float[rows * cols];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (0.02 * rnd.nextGaussian());
    }
    return w;
  }
}
