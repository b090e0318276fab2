package sparkslim.core.model;

import sparkslim.core.linalg.Blas;

/** Element-wise and attention kernels of the forward pass, on row-major fp32 arrays. */
public final class Ops {
  private Ops() {}

  /** LLaMA RMSNorm: w ⊙ x / sqrt(mean(x²) + eps), per row. x: (rows, cols). */
  public static float[] rmsNorm(float[] x, int rows, int cols, float[] w, double eps) {
    float[] out = new float[x.length];
    for (int r = 0; r < rows; r++) {
      int base = r * cols;
      float sum = 0f;
      for (int c = 0; c < cols; c++) {
        float v = x[base + c];
        sum += v * v;
      }
      float inv = (float) (1.0 / Math.sqrt(sum / cols + eps));
      for (int c = 0; c < cols; c++) {
        out[base + c] = w[c] * (x[base + c] * inv);
      }
    }
    return out;
  }

  /** LayerNorm over the last dimension (biased variance, as torch). x: (rows, cols). */
  public static float[] layerNorm(float[] x, int rows, int cols, float[] w, float[] b, double eps) {
    float[] out = new float[x.length];
    for (int r = 0; r < rows; r++) {
      int base = r * cols;
      double mean = 0;
      for (int c = 0; c < cols; c++) {
        mean += x[base + c];
      }
      mean /= cols;
      double var = 0;
      for (int c = 0; c < cols; c++) {
        double d = x[base + c] - mean;
        var += d * d;
      }
      var /= cols;
      double inv = 1.0 / Math.sqrt(var + eps);
      for (int c = 0; c < cols; c++) {
        out[base + c] = (float) ((x[base + c] - mean) * inv) * w[c] + b[c];
      }
    }
    return out;
  }

  public static void addInPlace(float[] acc, float[] x) {
    for (int i = 0; i < acc.length; i++) {
      acc[i] += x[i];
    }
  }

  public static void reluInPlace(float[] x) {
    for (int i = 0; i < x.length; i++) {
      if (x[i] < 0f) {
        x[i] = 0f;
      }
    }
  }

  /** SwiGLU: silu(gate) ⊙ up, written into gate. */
  public static void siluMulInPlace(float[] gate, float[] up) {
    for (int i = 0; i < gate.length; i++) {
      float g = gate[i];
      gate[i] = (float) (g / (1.0 + Math.exp(-g))) * up[i];
    }
  }

  /** RoPE tables for positions 0..seqLen-1, HuggingFace "default" layout: cos/sin of shape (seqLen, headDim). */
  public static float[][] ropeTables(int seqLen, int headDim, double theta) {
    int halfDim = headDim / 2;
    float[] invFreq = new float[halfDim];
    for (int i = 0; i < halfDim; i++) {
      float exponent = (float) (2 * i) / headDim; // fp32, as transformers computes inv_freq
      invFreq[i] = 1.0f / (float) Math.pow(theta, exponent);
    }
    float[] cos = new float[seqLen * headDim];
    float[] sin = new float[seqLen * headDim];
    for (int p = 0; p < seqLen; p++) {
      for (int i = 0; i < halfDim; i++) {
        float f = (float) p * invFreq[i];
        float c = (float) Math.cos(f);
        float s = (float) Math.sin(f);
        cos[p * headDim + i] = c;
        cos[p * headDim + i + halfDim] = c;
        sin[p * headDim + i] = s;
        sin[p * headDim + i + halfDim] = s;
      }
    }
    return new float[][] {cos, sin};
  }

  /** Applies RoPE in place: x ← x·cos + rotate_half(x)·sin, for x of shape (seqLen, numHeads·headDim). */
  public static void applyRope(float[] x, int seqLen, int numHeads, int headDim, float[][] tables) {
    float[] cos = tables[0];
    float[] sin = tables[1];
    int half = headDim / 2;
    int width = numHeads * headDim;
    for (int p = 0; p < seqLen; p++) {
      for (int h = 0; h < numHeads; h++) {
        int base = p * width + h * headDim;
        int t = p * headDim;
        for (int i = 0; i < half; i++) {
          float x1 = x[base + i];
          float x2 = x[base + i + half];
          x[base + i] = x1 * cos[t + i] - x2 * sin[t + i];
          x[base + i + half] = x2 * cos[t + i + half] + x1 * sin[t + i + half];
        }
      }
    }
  }

  /**
   * Causal multi-head attention with grouped KV heads. q: (seqLen, numHeads·headDim); k, v: (seqLen, numKvHeads·headDim).
   * softmax(q·kᵀ·scale + causal mask)·v per head; returns (seqLen, numHeads·headDim).
   */
  public static float[] causalAttention(float[] q, float[] k, float[] v, int seqLen, int numHeads, int numKvHeads, int headDim, float scale) {
    int qWidth = numHeads * headDim;
    int kvWidth = numKvHeads * headDim;
    int group = numHeads / numKvHeads;
    float[] out = new float[seqLen * qWidth];
    float[][] ks = new float[numKvHeads][];
    float[][] vs = new float[numKvHeads][];
    for (int g = 0; g < numKvHeads; g++) {
      ks[g] = slice(k, seqLen, kvWidth, g * headDim, headDim); // (seqLen, headDim)
      vs[g] = slice(v, seqLen, kvWidth, g * headDim, headDim);
    }
    for (int h = 0; h < numHeads; h++) {
      int g = h / group;
      float[] qh = slice(q, seqLen, qWidth, h * headDim, headDim);
      float[] s = Blas.matmulTransposed(qh, seqLen, headDim, ks[g], seqLen); // (seqLen, seqLen)
      for (int i = 0; i < seqLen; i++) {
        int base = i * seqLen;
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j <= i; j++) {
          float val = s[base + j] * scale;
          s[base + j] = val;
          if (val > max) {
            max = val;
          }
        }
        float sum = 0f;
        for (int j = 0; j <= i; j++) {
          float e = (float) Math.exp(s[base + j] - max);
          s[base + j] = e;
          sum += e;
        }
        float inv = 1f / sum;
        for (int j = 0; j <= i; j++) {
          s[base + j] *= inv;
        }
        for (int j = i + 1; j < seqLen; j++) {
          s[base + j] = 0f;
        }
      }
      float[] o = Blas.matmul(s, seqLen, seqLen, vs[g], headDim); // (seqLen, headDim)
      for (int p = 0; p < seqLen; p++) {
        System.arraycopy(o, p * headDim, out, p * qWidth + h * headDim, headDim);
      }
    }
    return out;
  }

  private static float[] slice(float[] x, int rows, int width, int offset, int len) {
    float[] out = new float[rows * len];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(x, r * width + offset, out, r * len, len);
    }
    return out;
  }

  /** FLOPs of {@link #causalAttention}'s two matrix products (full, unmasked, as computed). */
  public static long attentionFlops(int seqLen, int numHeads, int headDim) {
    return 2L * 2L * numHeads * (long) seqLen * seqLen * headDim;
  }
}
