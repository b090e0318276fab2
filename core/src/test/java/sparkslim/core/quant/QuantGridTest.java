package sparkslim.core.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;
import sparkslim.core.io.HalfFloats;

/** RTN's dequantized weights against a direct transcription of docs/depth_quant.md §2.1, bit for bit. */
class QuantGridTest {
  private static final int ROWS = 6;
  private static final int COLS = 96;
  private static final int GROUP = 32;

  @Test
  void compressedTensorsSymmetricIsTheFormulaInBf16() {
    float[] w = bf16Weights();
    CompressedLinear.Quantized q = RtnSolver.quantize(w, ROWS, COLS, QuantScheme.group(4, GROUP, true, DType.BF16), DType.BF16);
    float[] expected = new float[w.length];
    for (int r = 0; r < ROWS; r++) {
      for (int g = 0; g < COLS / GROUP; g++) {
        float lo = Math.min(0, extreme(w, r, g, -1)); // the range widened to include 0
        float hi = Math.max(0, extreme(w, r, g, 1));
        float scale = bf16(Math.max(-lo, hi) / 7.5f); // absmax / ((qmax − qmin)/2)
        if (scale == 0) {
          scale = 0x1p-7f; // torch.finfo(bfloat16).eps
        }
        for (int c = g * GROUP; c < (g + 1) * GROUP; c++) {
          int code = (int) Math.rint(Math.min(Math.max(bf16(w[r * COLS + c] / scale), -8f), 7f)); // an int8 code: −0 becomes 0
          expected[r * COLS + c] = scale * code;
        }
      }
    }
    assertArrayEquals(expected, q.weights());
  }

  @Test
  void compressedTensorsAsymmetricIsTheFormulaInBf16() {
    float[] w = bf16Weights();
    CompressedLinear.Quantized q = RtnSolver.quantize(w, ROWS, COLS, QuantScheme.group(4, GROUP, false, DType.BF16), DType.BF16);
    float[] expected = new float[w.length];
    for (int r = 0; r < ROWS; r++) {
      for (int g = 0; g < COLS / GROUP; g++) {
        float lo = Math.min(0, extreme(w, r, g, -1)); // the range widened to include 0
        float hi = Math.max(0, extreme(w, r, g, 1));
        float scale = bf16(bf16(hi - lo) / 15f); // (max − min)/(qmax − qmin)
        if (scale == 0) {
          scale = 0x1p-7f;
        }
        float zp = (float) Math.rint(Math.min(Math.max(bf16(-8f - bf16(lo / scale)), -8f), 7f)); // round(clamp(qmin − min/scale))
        for (int c = g * GROUP; c < (g + 1) * GROUP; c++) {
          int code = (int) Math.rint(Math.min(Math.max(bf16(bf16(w[r * COLS + c] / scale) + zp), -8f), 7f));
          expected[r * COLS + c] = scale * (code - zp);
        }
      }
    }
    assertArrayEquals(expected, q.weights());
  }

  @Test
  void gptqConventionIsTheReferenceQuantizerInFp32() {
    float[] w = bf16Weights();
    QuantScheme s = new QuantScheme(4, false, QuantStrategy.GROUP, GROUP, QuantConvention.UNSIGNED_ZERO, DType.F32);
    CompressedLinear.Quantized q = RtnSolver.quantize(w, ROWS, COLS, s, DType.F32);
    float[] expected = new float[w.length];
    for (int r = 0; r < ROWS; r++) {
      for (int g = 0; g < COLS / GROUP; g++) {
        float xmin = Math.min(0, extreme(w, r, g, -1));
        float xmax = Math.max(0, extreme(w, r, g, 1));
        if (xmin == 0 && xmax == 0) {
          xmin = -1;
          xmax = 1;
        }
        float scale = (xmax - xmin) / 15;
        float zero = (float) Math.rint(-xmin / scale);
        for (int c = g * GROUP; c < (g + 1) * GROUP; c++) {
          float code = Math.min(Math.max((float) Math.rint(w[r * COLS + c] / scale) + zero, 0f), 15f);
          expected[r * COLS + c] = scale * (code - zero);
        }
      }
    }
    assertArrayEquals(expected, q.weights());
  }

  @Test
  void bothConventionsGiveTheSameSymmetricGrid() {
    float[] w = bf16Weights();
    for (int bits : new int[] {2, 3, 4, 8}) {
      QuantScheme signed = new QuantScheme(bits, true, QuantStrategy.CHANNEL, 0, QuantConvention.SIGNED_ZERO_POINT, DType.F16);
      QuantScheme unsigned = signed.with(QuantConvention.UNSIGNED_ZERO, DType.F16);
      // rows with a negative value (all of them here): the same scale and codes
      CompressedLinear.Quantized a = RtnSolver.quantize(w, ROWS, COLS, signed, DType.F32);
      CompressedLinear.Quantized b = RtnSolver.quantize(w, ROWS, COLS, unsigned, DType.F32);
      assertArrayEquals(a.scales(), b.scales(), bits + " bits");
      assertArrayEquals(a.codes(), b.codes(), bits + " bits");
    }
  }

  @Test
  void tiesRoundToEvenAfterTheClamp() {
    // absmax 7.5 gives scale 1: 7.5 clamps to 7, 2.5 rounds to 2, −1.5 to −2, 0.5 to 0, −8 stays −8 only through the clamp
    float[] w = {7.5f, 2.5f, -1.5f, 0.5f, -7.5f, 3.5f, 0f, -0.5f};
    CompressedLinear.Quantized q = RtnSolver.quantize(w, 1, 8, new QuantScheme(4, true, QuantStrategy.CHANNEL, 0,
        QuantConvention.SIGNED_ZERO_POINT, DType.BF16), DType.BF16);
    assertEquals(1f, q.scales()[0]);
    assertArrayEquals(new byte[] {7, 2, -2, 0, -8, 4, 0, 0}, q.codes());
  }

  @Test
  void aNonZeroCodeStepsOffTheZeroPointOnTheWeightsSide() {
    QuantScheme sym = new QuantScheme(4, true, QuantStrategy.CHANNEL, 0, QuantConvention.SIGNED_ZERO_POINT, DType.BF16);
    QuantGrid.Params p = new QuantGrid.Params(1f, 0);
    assertEquals(0, QuantGrid.code(0.3f, p, sym, DType.F32));
    assertEquals(1, QuantGrid.nonZeroCode(0.3f, p, sym, DType.F32));
    assertEquals(-1, QuantGrid.nonZeroCode(-0.3f, p, sym, DType.F32));
    assertEquals(1, QuantGrid.nonZeroCode(0f, p, sym, DType.F32));
    assertEquals(3, QuantGrid.nonZeroCode(2.6f, p, sym, DType.F32)); // not the zero point: unchanged
    QuantScheme asym = new QuantScheme(4, false, QuantStrategy.CHANNEL, 0, QuantConvention.SIGNED_ZERO_POINT, DType.BF16);
    assertEquals(-7, QuantGrid.nonZeroCode(-0.1f, new QuantGrid.Params(1f, -8), asym, DType.F32)); // zero point at qmin
    assertEquals(6, QuantGrid.nonZeroCode(0.1f, new QuantGrid.Params(1f, 7), asym, DType.F32)); // zero point at qmax
  }

  @Test
  void perTensorSharesOneScaleAndGroupsMustDivideTheWidth() {
    float[] w = bf16Weights();
    CompressedLinear.Quantized q = RtnSolver.quantize(w, ROWS, COLS, new QuantScheme(8, true, QuantStrategy.TENSOR, 0,
        QuantConvention.SIGNED_ZERO_POINT, DType.BF16), DType.BF16);
    for (float s : q.scales()) {
      assertEquals(q.scales()[0], s);
    }
    assertEquals(1, CompressedTensorsPacking.of(q, QuantStrategy.TENSOR).scales().length);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> RtnSolver.quantize(w, ROWS, COLS, QuantScheme.group(4, 40, true, DType.BF16), DType.BF16));
    assertEquals("group size 40 does not divide the input width 96", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> QuantScheme.group(5, 128, true, DType.BF16));
    assertEquals(4 + 16.0 / 128, QuantScheme.group(4, 128, true, DType.BF16).bitsPerWeight(8, 256), 1e-12);
    assertEquals(4 + 20.0 / 128, QuantScheme.group(4, 128, false, DType.BF16).bitsPerWeight(8, 256), 1e-12);
  }

  @Test
  void clipSearchNeverDoesWorseThanMinMaxInItsOwnNorm() {
    float[] w = bf16Weights();
    for (QuantScheme s : new QuantScheme[] {QuantScheme.group(3, GROUP, false, DType.BF16), QuantScheme.group(4, GROUP, true, DType.F16)}) {
      CompressedLinear.Quantized plain = RtnSolver.quantize(w, ROWS, COLS, s, DType.F32);
      CompressedLinear.Quantized searched = RtnSolver.quantize(w, ROWS, COLS, s, DType.F32, true);
      float[] p = plain.weights();
      float[] q = searched.weights();
      double plainError = 0;
      double searchedError = 0;
      for (int i = 0; i < w.length; i++) {
        plainError += Math.pow(Math.abs(p[i] - w[i]), 2.4);
        searchedError += Math.pow(Math.abs(q[i] - w[i]), 2.4);
      }
      assertTrue(searchedError <= plainError, s.label());
      assertTrue(searchedError < 0.95 * plainError, s.label() + ": the search finds better grids on Gaussian weights");
    }
  }

  /** The smallest (sign −1) or largest (sign 1) value of group g of row r. */
  private static float extreme(float[] w, int r, int g, int sign) {
    float m = sign * Float.NEGATIVE_INFINITY;
    for (int c = g * GROUP; c < (g + 1) * GROUP; c++) {
      m = sign > 0 ? Math.max(m, w[r * COLS + c]) : Math.min(m, w[r * COLS + c]);
    }
    return m;
  }

  /** Gaussian bf16 values, with an all-zero group and an all-positive group (the range widened to include 0). */
  private static float[] bf16Weights() {
    Random rnd = new Random(11);
    float[] w = new float[ROWS * COLS];
    for (int i = 0; i < w.length; i++) {
      w[i] = bf16((float) (0.03 * rnd.nextGaussian()));
    }
    for (int c = 0; c < GROUP; c++) {
      w[COLS + c] = 0;
      w[2 * COLS + GROUP + c] = Math.abs(w[2 * COLS + GROUP + c]);
    }
    return w;
  }

  private static float bf16(float v) {
    return HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(v));
  }
}
