package sparkslim.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/**
 * The vector kernels of {@link Ops}: the fp32 exponential against {@code Math.exp}, its vector form against the scalar
 * one bit for bit, and the RoPE, SwiGLU, softmax and RMSNorm kernels against scalar transcriptions of the same operations in
 * the documented order (lane i accumulates elements i mod 8, lanes summed left to right, then the tail), for lengths
 * with and without a tail.
 */
class OpsTest {
  private static final int LANES = Ops.LANES.length();

  @Test
  void expIsWithinOneUlpOfMathExpAndVectorEqualsScalar() {
    Random rnd = new Random(1);
    double maxUlps = 0;
    float[] x = new float[LANES];
    for (int trial = 0; trial < 200_000; trial++) {
      for (int i = 0; i < LANES; i++) {
        x[i] = (float) (rnd.nextDouble() * 175.6 - 87.3);
      }
      float[] v = new float[LANES];
      Ops.exp(FloatVector.fromArray(Ops.LANES, x, 0)).intoArray(v, 0);
      for (int i = 0; i < LANES; i++) {
        float scalar = Ops.exp(x[i]);
        assertEquals(Float.floatToRawIntBits(scalar), Float.floatToRawIntBits(v[i]), "x = " + x[i]);
        float reference = (float) Math.exp(x[i]);
        maxUlps = Math.max(maxUlps, Math.abs(scalar - reference) / Math.ulp(reference));
      }
    }
    assertTrue(maxUlps <= 1.0, "max error " + maxUlps + " ulp");
    assertEquals(1f, Ops.exp(0f));
    assertTrue(Ops.exp(-1000f) >= 0f && Ops.exp(-1000f) < 1e-37f);
    assertTrue(Float.isFinite(Ops.exp(1000f)));
  }

  @Test
  void ropeMatchesTheScalarFormulaForStackedWindowsAndItsTranspose() {
    Random rnd = new Random(5);
    for (int headDim : new int[] {64, 20}) { // 20: half = 10, a vector step and a tail
      int seqLen = 7;
      int heads = 3;
      int width = heads * headDim;
      float[][] tables = Ops.ropeTables(seqLen, headDim, 10000.0);
      float[] x = new float[2 * seqLen * width]; // two stacked windows
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) rnd.nextGaussian();
      }
      for (float sign : new float[] {1f, -1f}) {
        float[] out = x.clone();
        if (sign > 0) {
          Ops.applyRope(out, seqLen, heads, headDim, tables);
        } else {
          Ops.applyRopeBackward(out, seqLen, heads, headDim, tables);
        }
        int half = headDim / 2;
        for (int p = 0; p < 2 * seqLen; p++) {
          int t = (p % seqLen) * headDim; // each window at positions 0 … seqLen − 1
          for (int h = 0; h < heads; h++) {
            int base = p * width + h * headDim;
            for (int i = 0; i < half; i++) {
              float x1 = x[base + i];
              float x2 = x[base + i + half];
              float e1 = x1 * tables[0][t + i] - x2 * (sign * tables[1][t + i]);
              float e2 = x2 * tables[0][t + i + half] + x1 * (sign * tables[1][t + i + half]);
              assertEquals(Float.floatToRawIntBits(e1), Float.floatToRawIntBits(out[base + i]), "headDim " + headDim + " p " + p);
              assertEquals(Float.floatToRawIntBits(e2), Float.floatToRawIntBits(out[base + i + half]), "headDim " + headDim + " p " + p);
            }
          }
        }
      }
    }
  }

  @Test
  void siluMulMatchesTheScalarFormula() {
    Random rnd = new Random(2);
    for (int n : new int[] {1, 7, 8, 9, 768, 771}) {
      float[] gate = new float[n];
      float[] up = new float[n];
      for (int i = 0; i < n; i++) {
        gate[i] = (float) (rnd.nextGaussian() * 4);
        up[i] = (float) rnd.nextGaussian();
      }
      float[] out = gate.clone();
      Ops.siluMulInPlace(out, up);
      for (int i = 0; i < n; i++) {
        float expected = gate[i] / (Ops.exp(-gate[i]) + 1f) * up[i];
        assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(out[i]), "n = " + n + ", i = " + i);
        double exact = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
        assertEquals(exact, out[i], 1e-6 * Math.max(1, Math.abs(exact)));
      }
    }
  }

  @Test
  void softmaxRowMatchesTheScalarOrder() {
    Random rnd = new Random(3);
    int width = 40;
    for (int len = 1; len <= width; len++) {
      float[] s = new float[width];
      for (int j = 0; j < width; j++) {
        s[j] = (float) (rnd.nextGaussian() * 6);
      }
      float scale = 0.125f;
      float[] out = s.clone();
      Ops.softmaxRow(out, 0, len, width, scale);
      float[] v = new float[len];
      float max = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < len; j++) {
        v[j] = s[j] * scale;
        max = Math.max(max, v[j]);
      }
      float[] lanes = new float[LANES];
      int bound = len - len % LANES;
      float[] e = new float[len];
      for (int j = 0; j < len; j++) {
        e[j] = Ops.exp(v[j] - max);
        if (j < bound) {
          lanes[j % LANES] += e[j];
        }
      }
      float sum = 0f;
      for (float l : lanes) {
        sum += l;
      }
      for (int j = bound; j < len; j++) {
        sum += e[j];
      }
      float inv = 1f / sum;
      double total = 0;
      for (int j = 0; j < width; j++) {
        float expected = j < len ? e[j] * inv : 0f;
        assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(out[j]), "len = " + len + ", j = " + j);
        total += out[j];
      }
      assertEquals(1.0, total, 1e-5);
    }
  }

  @Test
  void rmsNormMatchesTheScalarOrder() {
    Random rnd = new Random(4);
    for (int cols : new int[] {5, 8, 13, 256}) {
      int rows = 3;
      float[] x = new float[rows * cols];
      float[] w = new float[cols];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) rnd.nextGaussian();
      }
      for (int c = 0; c < cols; c++) {
        w[c] = (float) (1 + 0.1 * rnd.nextGaussian());
      }
      float[] out = Ops.rmsNorm(x, rows, cols, w, 1e-5);
      int bound = cols - cols % LANES;
      for (int r = 0; r < rows; r++) {
        float[] lanes = new float[LANES];
        float sum = 0f;
        for (int c = 0; c < bound; c++) {
          float v = x[r * cols + c];
          lanes[c % LANES] += v * v;
        }
        for (float l : lanes) {
          sum += l;
        }
        for (int c = bound; c < cols; c++) {
          float v = x[r * cols + c];
          sum += v * v;
        }
        float inv = (float) (1.0 / Math.sqrt(sum / cols + 1e-5));
        for (int c = 0; c < cols; c++) {
          float expected = w[c] * (x[r * cols + c] * inv);
          assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(out[r * cols + c]), "cols = " + cols + ", c = " + c);
        }
      }
    }
  }

  @Test
  void blockedCausalAttentionMatchesTheDefinition() {
    Random rnd = new Random(5);
    int heads = 4;
    int kvHeads = 2;
    int headDim = 16;
    for (int seqLen : new int[] {1, 127, 128, 300}) {
      float[] q = new float[seqLen * heads * headDim];
      float[] k = new float[seqLen * kvHeads * headDim];
      float[] v = new float[seqLen * kvHeads * headDim];
      for (float[] a : new float[][] {q, k, v}) {
        for (int i = 0; i < a.length; i++) {
          a[i] = (float) rnd.nextGaussian();
        }
      }
      float scale = 0.25f;
      float[] out = Ops.causalAttention(q, k, v, seqLen, heads, kvHeads, headDim, scale);
      for (int h = 0; h < heads; h++) {
        int g = h / (heads / kvHeads);
        for (int i = 0; i < seqLen; i++) {
          double[] w = new double[i + 1];
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j <= i; j++) {
            double dot = 0;
            for (int c = 0; c < headDim; c++) {
              dot += q[i * heads * headDim + h * headDim + c] * k[j * kvHeads * headDim + g * headDim + c];
            }
            w[j] = dot * scale;
            max = Math.max(max, w[j]);
          }
          double sum = 0;
          for (int j = 0; j <= i; j++) {
            w[j] = Math.exp(w[j] - max);
            sum += w[j];
          }
          for (int c = 0; c < headDim; c++) {
            double expected = 0;
            for (int j = 0; j <= i; j++) {
              expected += w[j] / sum * v[j * kvHeads * headDim + g * headDim + c];
            }
            assertEquals(expected, out[i * heads * headDim + h * headDim + c], 1e-5, "seqLen " + seqLen + " head " + h + " row " + i);
          }
        }
      }
    }
    assertEquals(2L * 2 * 4 * (128L * 128 + 128 * 256 + 44 * 300) * 16, Ops.attentionFlops(300, 4, 16));
  }
}
