package sparkslim.core.model;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.bytedeco.javacpp.FloatPointer;
import sparkslim.core.linalg.Blas;

/**
 * Element-wise and attention kernels of the forward pass, on row-major fp32 arrays.
 *
 * <p>The loops that dominated the forward's Java time (a JFR profile of {@code quantize}: the softmax and SwiGLU
 * exponentials through {@code Math.exp}, 14 ns each, and the RMSNorm sums) run on the Java Vector API with a fixed
 * 8-lane shape ({@link #LANES}): only IEEE additions, multiplications, divisions, comparisons and bit operations, never
 * a fused multiply-add or an unordered reduction, and reductions in a fixed order (lane i accumulates the elements
 * i mod 8, then the lanes are added left to right, then the tail). So the bits are the same interpreted or compiled, on
 * every x86 or ARM CPU, for any partitioning, as the OpenBLAS kernels are pinned by {@code OPENBLAS_CORETYPE}.
 */
public final class Ops {
  private Ops() {}

  /** 8 fp32 lanes (AVX2 width); fixed, not the CPU's preferred width, so that reductions do not depend on the CPU. */
  static final VectorSpecies<Float> LANES = FloatVector.SPECIES_256;
  private static final FloatVector ONE = FloatVector.broadcast(LANES, 1f);
  private static final float LOG2E = 1.44269504088896341f;
  private static final float LN2_HI = 0.693359375f; // Cody–Waite split of ln 2: LN2_HI + LN2_LO = ln 2 to 2^-37
  private static final float LN2_LO = -2.12194440e-4f;
  private static final float ROUND_MAGIC = 0x1.8p23f; // adding it rounds a float of magnitude < 2^22 to an integer
  private static final float EXP_MIN = -87.3f; // e^x underflows below; clamped (result ~1e-38 instead of 0)
  private static final float EXP_MAX = 88.3f; // e^x overflows above; clamped

  /**
   * e^x in fp32: x = n·ln 2 + r with |r| ≤ ln 2 / 2 (Cody–Waite), e^r by the Cephes {@code expf} polynomial, times 2^n
   * through the exponent bits. Within 1 ulp of {@code (float) Math.exp(x)} on [−87.3, 88.3] ({@code OpsTest}); x is
   * clamped to that range. The vector form {@link #exp(FloatVector)} gives the same bits lane by lane.
   */
  public static float exp(float x) {
    x = x < EXP_MIN ? EXP_MIN : x;
    x = x > EXP_MAX ? EXP_MAX : x;
    float t = x * LOG2E + ROUND_MAGIC;
    float n = t - ROUND_MAGIC;
    int scale = (Float.floatToRawIntBits(t) - Float.floatToRawIntBits(ROUND_MAGIC) + 127) << 23;
    float r = x - n * LN2_HI - n * LN2_LO;
    float y = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r
        + 1.6666665459e-1f) * r + 5.0000001201e-1f;
    y = y * r * r + r + 1f;
    return y * Float.intBitsToFloat(scale);
  }

  /** {@link #exp(float)} in every lane, the same operations in the same order. */
  static FloatVector exp(FloatVector x) {
    x = x.max(EXP_MIN).min(EXP_MAX);
    FloatVector t = x.mul(LOG2E).add(ROUND_MAGIC);
    FloatVector n = t.sub(ROUND_MAGIC);
    IntVector scale = ((IntVector) t.reinterpretAsInts()).sub(Float.floatToRawIntBits(ROUND_MAGIC) - 127)
        .lanewise(VectorOperators.LSHL, 23);
    FloatVector r = x.sub(n.mul(LN2_HI)).sub(n.mul(LN2_LO));
    FloatVector y = r.mul(1.9875691500e-4f).add(1.3981999507e-3f).mul(r).add(8.3334519073e-3f).mul(r).add(4.1665795894e-2f)
        .mul(r).add(1.6666665459e-1f).mul(r).add(5.0000001201e-1f);
    y = y.mul(r).mul(r).add(r).add(1f);
    return y.mul(scale.reinterpretAsFloats());
  }

  /** Σ lanes of {@code acc} left to right: the fixed-order end of an 8-lane reduction. */
  private static float sumLanes(FloatVector acc) {
    float sum = 0f;
    for (int i = 0; i < LANES.length(); i++) {
      sum += acc.lane(i);
    }
    return sum;
  }

  /** max of x[base, base + len) (exact in any order). */
  static float max(float[] x, int base, int len) {
    int bound = LANES.loopBound(len);
    FloatVector acc = FloatVector.broadcast(LANES, Float.NEGATIVE_INFINITY);
    int j = 0;
    for (; j < bound; j += LANES.length()) {
      acc = acc.max(FloatVector.fromArray(LANES, x, base + j));
    }
    float max = acc.reduceLanes(VectorOperators.MAX);
    for (; j < len; j++) {
      max = Math.max(max, x[base + j]);
    }
    return max;
  }

  /** Elements per fp32 partial sum of {@link #expShiftedInPlace} before it is added in fp64. */
  private static final int EXP_SUM_BLOCK = 128;

  /**
   * x[j] ← {@link #exp}(x[j] − shift) for j in [base, base + len), and their sum: 8 fp32 lanes over each block of
   * {@link #EXP_SUM_BLOCK} elements (16 terms per lane), the blocks' sums added in fp64, all in a fixed order.
   */
  static double expShiftedInPlace(float[] x, int base, int len, float shift) {
    double sum = 0;
    int j = 0;
    for (int blockEnd = EXP_SUM_BLOCK; blockEnd <= len; blockEnd += EXP_SUM_BLOCK) {
      FloatVector acc = FloatVector.zero(LANES);
      for (; j < blockEnd; j += LANES.length()) {
        FloatVector e = exp(FloatVector.fromArray(LANES, x, base + j).sub(shift));
        e.intoArray(x, base + j);
        acc = acc.add(e);
      }
      sum += sumLanes(acc);
    }
    for (; j < len; j++) {
      float e = exp(x[base + j] - shift);
      x[base + j] = e;
      sum += e;
    }
    return sum;
  }

  /** x[j] ← x[j]·factor for j in [base, base + len). */
  static void scaleInPlace(float[] x, int base, int len, float factor) {
    int bound = LANES.loopBound(len);
    int j = 0;
    for (; j < bound; j += LANES.length()) {
      FloatVector.fromArray(LANES, x, base + j).mul(factor).intoArray(x, base + j);
    }
    for (; j < len; j++) {
      x[base + j] *= factor;
    }
  }

  /** LLaMA RMSNorm: w ⊙ x / sqrt(mean(x²) + eps), per row. x: (rows, cols). */
  public static float[] rmsNorm(float[] x, int rows, int cols, float[] w, double eps) {
    float[] out = new float[x.length];
    int bound = LANES.loopBound(cols);
    for (int r = 0; r < rows; r++) {
      int base = r * cols;
      FloatVector acc = FloatVector.zero(LANES);
      int c = 0;
      for (; c < bound; c += LANES.length()) {
        FloatVector v = FloatVector.fromArray(LANES, x, base + c);
        acc = acc.add(v.mul(v));
      }
      float sum = sumLanes(acc);
      for (; c < cols; c++) {
        float v = x[base + c];
        sum += v * v;
      }
      float inv = (float) (1.0 / Math.sqrt(sum / cols + eps));
      c = 0;
      for (; c < bound; c += LANES.length()) {
        FloatVector.fromArray(LANES, w, c).mul(FloatVector.fromArray(LANES, x, base + c).mul(inv)).intoArray(out, base + c);
      }
      for (; c < cols; c++) {
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

  /** SwiGLU: silu(gate) ⊙ up = gate / (1 + e^−gate) ⊙ up, written into gate. */
  public static void siluMulInPlace(float[] gate, float[] up) {
    int i = 0;
    for (int bound = LANES.loopBound(gate.length); i < bound; i += LANES.length()) {
      FloatVector g = FloatVector.fromArray(LANES, gate, i);
      g.div(exp(g.neg()).add(1f)).mul(FloatVector.fromArray(LANES, up, i)).intoArray(gate, i);
    }
    for (; i < gate.length; i++) {
      float g = gate[i];
      gate[i] = g / (exp(-g) + 1f) * up[i];
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

  /**
   * Applies RoPE in place: x ← x·cos + rotate_half(x)·sin, for x of shape (windows·seqLen, numHeads·headDim): one or
   * more windows stacked, each at positions 0 … seqLen − 1.
   */
  public static void applyRope(float[] x, int seqLen, int numHeads, int headDim, float[][] tables) {
    rotate(x, seqLen, numHeads, headDim, tables, 1f);
  }

  /**
   * The RoPE rotation by angle sign·θ in place: x1 ← x1·cos − x2·sign·sin, x2 ← x2·cos + x1·sign·sin (sign 1: the
   * forward, exactly; sign −1: its transpose, the backward).
   */
  private static void rotate(float[] x, int seqLen, int numHeads, int headDim, float[][] tables, float sign) {
    float[] cos = tables[0];
    float[] sin = tables[1];
    int half = headDim / 2;
    int width = numHeads * headDim;
    int rows = x.length / width;
    for (int p = 0; p < rows; p++) {
      for (int h = 0; h < numHeads; h++) {
        int base = p * width + h * headDim;
        int t = (p % seqLen) * headDim;
        for (int i = 0; i < half; i++) {
          float x1 = x[base + i];
          float x2 = x[base + i + half];
          x[base + i] = x1 * cos[t + i] - x2 * (sign * sin[t + i]);
          x[base + i + half] = x2 * cos[t + i + half] + x1 * (sign * sin[t + i + half]);
        }
      }
    }
  }

  private static volatile boolean warm;

  /**
   * Runs the forward's vector kernels (softmax, exp-sum, SwiGLU, RMSNorm, maximum) on small arrays until the JIT has
   * compiled them, once per JVM. Before that, the Vector API runs each lane operation as an object in the interpreter,
   * hundreds of times slower; an evaluation of 64 windows spent about a tenth of its samples there. Called at the
   * start of a task; the values computed are discarded.
   */
  public static void warmUp() {
    if (warm) {
      return;
    }
    synchronized (Ops.class) {
      if (warm) {
        return;
      }
      float[] x = new float[64];
      float[] w = new float[64];
      for (int i = 0; i < x.length; i++) {
        x[i] = (i % 7) * 0.25f - 0.5f;
        w[i] = 1f;
      }
      float sink = 0;
      for (int r = 0; r < 12_000; r++) {
        float[] s = x.clone();
        softmaxRow(s, 0, 60, 64, 0.125f);
        float[] g = x.clone();
        siluMulInPlace(g, w);
        sink += s[1] + g[2] + rmsNorm(x, 1, 64, w, 1e-5)[3] + max(x, 0, 64) + (float) expShiftedInPlace(g, 0, 64, 1f);
      }
      warm = sink != Float.MIN_VALUE; // always true; keeps the loop's results live
    }
  }

  /** Query rows per score block of {@link #causalAttention}. */
  static final int ATTENTION_ROW_BLOCK = 128;

  /**
   * Causal multi-head attention with grouped KV heads. q: (seqLen, numHeads·headDim); k, v: (seqLen, numKvHeads·headDim).
   * softmax(q·kᵀ·scale + causal mask)·v per head; returns (seqLen, numHeads·headDim). Several windows stacked
   * (windows·seqLen rows) attend each within itself. Queries go in blocks of
   * {@link #ATTENTION_ROW_BLOCK} rows, each against the keys it can see (the first i1 of them), so the products above
   * the diagonal's blocks are never computed (5/8 of the full products at 512 tokens).
   */
  public static float[] causalAttention(float[] q, float[] k, float[] v, int seqLen, int numHeads, int numKvHeads, int headDim, float scale) {
    int qWidth = numHeads * headDim;
    int kvWidth = numKvHeads * headDim;
    int group = numHeads / numKvHeads;
    int windows = q.length / (seqLen * qWidth);
    Blas.Workspace ws = Blas.workspace();
    FloatPointer qn = ws.buffer(Blas.Workspace.ATTENTION_Q, q.length); // (windows·seqLen, numHeads·headDim)
    FloatPointer kn = ws.buffer(Blas.Workspace.ATTENTION_K, k.length); // (windows·seqLen, numKvHeads·headDim)
    FloatPointer vn = ws.buffer(Blas.Workspace.ATTENTION_V, v.length);
    FloatPointer sn = ws.buffer(Blas.Workspace.ATTENTION_SCORES, (long) Math.min(seqLen, ATTENTION_ROW_BLOCK) * seqLen);
    FloatPointer on = ws.buffer(Blas.Workspace.ATTENTION_OUT, q.length);
    Blas.put(qn, q);
    Blas.put(kn, k);
    Blas.put(vn, v);
    float[] s = new float[Math.min(seqLen, ATTENTION_ROW_BLOCK) * seqLen]; // (rows, i1) scores of one row block
    for (int w = 0; w < windows; w++) {
      long qBase = (long) w * seqLen * qWidth;
      long kvBase = (long) w * seqLen * kvWidth;
      for (int h = 0; h < numHeads; h++) {
        int g = h / group;
        for (int i0 = 0; i0 < seqLen; i0 += ATTENTION_ROW_BLOCK) {
          int i1 = Math.min(seqLen, i0 + ATTENTION_ROW_BLOCK);
          int rows = i1 - i0;
          // (rows, i1) = q[i0:i1, head h] · k[0:i1, kv head g]ᵀ: keys 0 … i1 − 1
          Blas.gemm(true, rows, i1, headDim, qn, qBase + (long) i0 * qWidth + h * headDim, qWidth, kn, kvBase + g * headDim, kvWidth,
              sn, 0, i1);
          sn.get(s, 0, rows * i1);
          for (int i = 0; i < rows; i++) {
            softmaxRow(s, i * i1, i0 + i + 1, i1, scale);
          }
          sn.put(s, 0, rows * i1);
          // out[i0:i1, head h] (rows, headDim) = scores · v[0:i1, kv head g]
          Blas.gemm(false, rows, headDim, i1, sn, 0, i1, vn, kvBase + g * headDim, kvWidth, on, qBase + (long) i0 * qWidth + h * headDim,
              qWidth);
        }
      }
    }
    float[] out = new float[q.length];
    on.get(out, 0, out.length);
    return out;
  }

  /**
   * Causal softmax of one row of scores in place: s[base + j] ← softmax(scale·s[base + j]) over j < len, and 0 for
   * len ≤ j < width.
   */
  static void softmaxRow(float[] s, int base, int len, int width, float scale) {
    int bound = LANES.loopBound(len);
    FloatVector maxAcc = FloatVector.broadcast(LANES, Float.NEGATIVE_INFINITY);
    int j = 0;
    for (; j < bound; j += LANES.length()) {
      FloatVector v = FloatVector.fromArray(LANES, s, base + j).mul(scale);
      v.intoArray(s, base + j);
      maxAcc = maxAcc.max(v);
    }
    float max = maxAcc.reduceLanes(VectorOperators.MAX); // exact: the order of a maximum does not matter
    for (; j < len; j++) {
      float v = s[base + j] * scale;
      s[base + j] = v;
      max = v > max ? v : max;
    }
    FloatVector sumAcc = FloatVector.zero(LANES);
    j = 0;
    for (; j < bound; j += LANES.length()) {
      FloatVector e = exp(FloatVector.fromArray(LANES, s, base + j).sub(max));
      e.intoArray(s, base + j);
      sumAcc = sumAcc.add(e);
    }
    float sum = sumLanes(sumAcc);
    for (; j < len; j++) {
      float e = exp(s[base + j] - max);
      s[base + j] = e;
      sum += e;
    }
    float inv = 1f / sum;
    j = 0;
    for (; j < bound; j += LANES.length()) {
      FloatVector.fromArray(LANES, s, base + j).mul(inv).intoArray(s, base + j);
    }
    for (; j < len; j++) {
      s[base + j] *= inv;
    }
    Arrays.fill(s, base + len, base + width, 0f);
  }

  /** FLOPs of {@link #causalAttention}'s matrix products as computed (the causal row blocks, masked entries included). */
  public static long attentionFlops(int seqLen, int numHeads, int headDim) {
    long keyRows = 0; // Σ over row blocks of rows · keys seen
    for (int i0 = 0; i0 < seqLen; i0 += ATTENTION_ROW_BLOCK) {
      int i1 = Math.min(seqLen, i0 + ATTENTION_ROW_BLOCK);
      keyRows += (long) (i1 - i0) * i1;
    }
    return 2L * 2L * numHeads * keyRows * headDim;
  }

  // ---- Backward passes (training). Each is the derivative of the forward of the same name above; the element-wise
  // steps and the reductions over a row in 8 fp32 lanes summed in a fixed order (as the forward's RMSNorm and softmax),
  // the matrix products through the same sgemm as the forward.

  /**
   * Backward of {@link #rmsNorm}: with x̂ = x·s, s = 1/sqrt(mean(x²) + eps) and g = dy ⊙ w,
   * dx = s·(g − x̂·mean(g ⊙ x̂)); dw += Σ_rows dy ⊙ x̂ when {@code dw} is given. x: its input (rows, cols).
   */
  public static float[] rmsNormBackward(float[] dy, float[] x, int rows, int cols, float[] w, double eps, float[] dw) {
    return normBackward(dy, x, rows, cols, w, eps, dw, null, false);
  }

  /**
   * Backward of {@link #layerNorm}: with x̂ = (x − μ)·s and g = dy ⊙ w, dx = s·(g − mean(g) − x̂·mean(g ⊙ x̂));
   * dw += Σ_rows dy ⊙ x̂, db += Σ_rows dy when given. x: its input (rows, cols).
   */
  public static float[] layerNormBackward(float[] dy, float[] x, int rows, int cols, float[] w, double eps, float[] dw, float[] db) {
    return normBackward(dy, x, rows, cols, w, eps, dw, db, true);
  }

  private static float[] normBackward(float[] dy, float[] x, int rows, int cols, float[] w, double eps, float[] dw, float[] db,
      boolean centered) {
    float[] dx = new float[x.length]; // (rows, cols)
    float[] xhat = new float[cols];
    int bound = LANES.loopBound(cols);
    for (int r = 0; r < rows; r++) {
      int base = r * cols;
      float mean = 0f;
      if (centered) {
        mean = sum(x, base, cols) / cols;
      }
      FloatVector acc = FloatVector.zero(LANES);
      int c = 0;
      for (; c < bound; c += LANES.length()) {
        FloatVector v = FloatVector.fromArray(LANES, x, base + c).sub(mean);
        acc = v.fma(v, acc);
      }
      float ss = sumLanes(acc);
      for (; c < cols; c++) {
        float v = x[base + c] - mean;
        ss += v * v;
      }
      float inv = (float) (1.0 / Math.sqrt((double) ss / cols + eps));
      FloatVector accG = FloatVector.zero(LANES);
      FloatVector accGx = FloatVector.zero(LANES);
      c = 0;
      for (; c < bound; c += LANES.length()) {
        FloatVector xh = FloatVector.fromArray(LANES, x, base + c).sub(mean).mul(inv);
        xh.intoArray(xhat, c);
        FloatVector d = FloatVector.fromArray(LANES, dy, base + c);
        if (dw != null) {
          d.fma(xh, FloatVector.fromArray(LANES, dw, c)).intoArray(dw, c);
        }
        if (db != null) {
          d.add(FloatVector.fromArray(LANES, db, c)).intoArray(db, c);
        }
        FloatVector g = d.mul(FloatVector.fromArray(LANES, w, c));
        accG = accG.add(g);
        accGx = g.fma(xh, accGx);
      }
      float sumG = sumLanes(accG);
      float sumGx = sumLanes(accGx);
      for (; c < cols; c++) {
        float xh = (x[base + c] - mean) * inv;
        xhat[c] = xh;
        float d = dy[base + c];
        if (dw != null) {
          dw[c] += d * xh;
        }
        if (db != null) {
          db[c] += d;
        }
        float g = d * w[c];
        sumG += g;
        sumGx += g * xh;
      }
      float meanG = centered ? sumG / cols : 0f;
      float meanGx = sumGx / cols;
      c = 0;
      for (; c < bound; c += LANES.length()) {
        FloatVector.fromArray(LANES, dy, base + c).mul(FloatVector.fromArray(LANES, w, c)).sub(meanG)
            .sub(FloatVector.fromArray(LANES, xhat, c).mul(meanGx)).mul(inv).intoArray(dx, base + c);
      }
      for (; c < cols; c++) {
        dx[base + c] = (dy[base + c] * w[c] - meanG - xhat[c] * meanGx) * inv;
      }
    }
    return dx;
  }

  /** Σ x[base, base + len) in 8 fp32 lanes, summed in a fixed order. */
  static float sum(float[] x, int base, int len) {
    int bound = LANES.loopBound(len);
    FloatVector acc = FloatVector.zero(LANES);
    int j = 0;
    for (; j < bound; j += LANES.length()) {
      acc = acc.add(FloatVector.fromArray(LANES, x, base + j));
    }
    float s = sumLanes(acc);
    for (; j < len; j++) {
      s += x[base + j];
    }
    return s;
  }

  /**
   * Backward of {@link #siluMulInPlace}: a = silu(g)·u with silu(g) = g·σ(g); dg = da·u·σ(g)·(1 + g·(1 − σ(g))),
   * du = da·silu(g). gate, up: the forward's inputs (before it overwrote gate). Returns {dGate, dUp}.
   */
  public static float[][] siluMulBackward(float[] dAct, float[] gate, float[] up) {
    float[] dg = new float[gate.length];
    float[] du = new float[gate.length];
    int i = 0;
    for (int bound = LANES.loopBound(gate.length); i < bound; i += LANES.length()) {
      FloatVector g = FloatVector.fromArray(LANES, gate, i);
      FloatVector da = FloatVector.fromArray(LANES, dAct, i);
      FloatVector sig = ONE.div(exp(g.neg()).add(1f));
      da.mul(FloatVector.fromArray(LANES, up, i)).mul(sig).mul(g.mul(sig.neg().add(1f)).add(1f)).intoArray(dg, i);
      da.mul(g).mul(sig).intoArray(du, i);
    }
    for (; i < gate.length; i++) {
      float g = gate[i];
      float sig = 1f / (exp(-g) + 1f);
      dg[i] = dAct[i] * up[i] * sig * (g * (1f - sig) + 1f);
      du[i] = dAct[i] * g * sig;
    }
    return new float[][] {dg, du};
  }

  /** Backward of {@link #reluInPlace} in place: dy ← 0 where the forward's output y is 0. */
  public static void reluBackwardInPlace(float[] dy, float[] y) {
    for (int i = 0; i < dy.length; i++) {
      if (!(y[i] > 0f)) {
        dy[i] = 0f;
      }
    }
  }

  /**
   * Backward of {@link #applyRope} in place: the transposed rotation (angle −θ), dx1 = dy1·cos + dy2·sin,
   * dx2 = dy2·cos − dy1·sin. dx: (seqLen, numHeads·headDim).
   */
  public static void applyRopeBackward(float[] dx, int seqLen, int numHeads, int headDim, float[][] tables) {
    rotate(dx, seqLen, numHeads, headDim, tables, -1f);
  }

  /**
   * Backward of {@link #causalAttention}, recomputing each head's probabilities P a block of
   * {@link #ATTENTION_ROW_BLOCK} query rows at a time against the keys the block sees (no (seqLen)² array is kept, and
   * the products above the diagonal's blocks are never computed): dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P));
   * dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO, the last two summed over the row blocks and the query heads of a KV
   * group. q, k (after RoPE), v: the forward's inputs. Returns {dq, dk, dv}.
   */
  public static float[][] causalAttentionBackward(float[] dOut, float[] q, float[] k, float[] v, int seqLen, int numHeads,
      int numKvHeads, int headDim, float scale) {
    int qWidth = numHeads * headDim;
    int kvWidth = numKvHeads * headDim;
    int group = numHeads / numKvHeads;
    int maxRows = Math.min(seqLen, ATTENTION_ROW_BLOCK);
    Blas.Workspace ws = Blas.workspace();
    FloatPointer qn = ws.buffer(Blas.Workspace.ATTENTION_Q, q.length); // (seqLen, numHeads·headDim)
    FloatPointer kn = ws.buffer(Blas.Workspace.ATTENTION_K, k.length); // (seqLen, numKvHeads·headDim)
    FloatPointer vn = ws.buffer(Blas.Workspace.ATTENTION_V, v.length);
    FloatPointer don = ws.buffer(Blas.Workspace.ATTENTION_GRAD_OUT, dOut.length); // (seqLen, numHeads·headDim)
    FloatPointer pn = ws.buffer(Blas.Workspace.ATTENTION_SCORES, (long) maxRows * seqLen); // (rows, i1): P
    FloatPointer dsn = ws.buffer(Blas.Workspace.ATTENTION_GRAD_SCORES, (long) maxRows * seqLen); // (rows, i1): dS
    FloatPointer dqn = ws.buffer(Blas.Workspace.ATTENTION_GRAD_Q, (long) maxRows * headDim); // (rows, headDim)
    FloatPointer dkn = ws.buffer(Blas.Workspace.ATTENTION_GRAD_K, k.length); // (seqLen, numKvHeads·headDim), accumulated
    FloatPointer dvn = ws.buffer(Blas.Workspace.ATTENTION_GRAD_V, v.length);
    Blas.put(qn, q);
    Blas.put(kn, k);
    Blas.put(vn, v);
    Blas.put(don, dOut);
    float[] zeros = new float[k.length];
    Blas.put(dkn, zeros);
    Blas.put(dvn, zeros);
    float[] p = new float[maxRows * seqLen];
    float[] ds = new float[maxRows * seqLen];
    float[] dqb = new float[maxRows * headDim];
    float[] dq = new float[q.length];
    for (int g = 0; g < numKvHeads; g++) {
      long kvCol = (long) g * headDim; // kv head g: columns [g·headDim, (g + 1)·headDim) of k, v, dk, dv
      for (int h = g * group; h < (g + 1) * group; h++) {
        for (int i0 = 0; i0 < seqLen; i0 += ATTENTION_ROW_BLOCK) {
          int i1 = Math.min(seqLen, i0 + ATTENTION_ROW_BLOCK);
          int rows = i1 - i0;
          long qRows = (long) i0 * qWidth + h * headDim; // rows [i0, i1) of head h in q and dOut
          Blas.gemm(true, rows, i1, headDim, qn, qRows, qWidth, kn, kvCol, kvWidth, pn, 0, i1); // scores, then P
          pn.get(p, 0, rows * i1);
          for (int i = 0; i < rows; i++) {
            softmaxRow(p, i * i1, i0 + i + 1, i1, scale);
          }
          pn.put(p, 0, rows * i1);
          Blas.gemm(true, rows, i1, headDim, don, qRows, qWidth, vn, kvCol, kvWidth, dsn, 0, i1); // dP, then dS in place
          dsn.get(ds, 0, rows * i1);
          for (int i = 0; i < rows; i++) {
            softmaxBackwardRow(ds, p, i * i1, i0 + i + 1, i1);
          }
          dsn.put(ds, 0, rows * i1);
          Blas.gemm(false, rows, headDim, i1, dsn, 0, i1, kn, kvCol, kvWidth, dqn, 0, headDim); // (rows, headDim)
          dqn.get(dqb, 0, rows * headDim);
          for (int r = 0; r < rows; r++) {
            int to = (i0 + r) * qWidth + h * headDim;
            for (int c = 0; c < headDim; c++) {
              dq[to + c] = dqb[r * headDim + c] * scale;
            }
          }
          // dk[0, i1) += scale·dSᵀ·Q, dv[0, i1) += Pᵀ·dO, in kv head g's columns
          Blas.gemm(true, false, i1, headDim, rows, scale, dsn, 0, i1, qn, qRows, qWidth, 1f, dkn, kvCol, kvWidth);
          Blas.gemm(true, false, i1, headDim, rows, 1f, pn, 0, i1, don, qRows, qWidth, 1f, dvn, kvCol, kvWidth);
        }
      }
    }
    float[] dk = new float[k.length];
    float[] dv = new float[v.length];
    dkn.get(dk, 0, dk.length);
    dvn.get(dv, 0, dv.length);
    return new float[][] {dq, dk, dv};
  }


  /**
   * Backward of one row of {@link #softmaxRow} in place: ds[j] ← p[j]·(ds[j] − Σ_j' ds[j']·p[j']) for j < len (the dot
   * in 8 fp32 lanes, summed in a fixed order), 0 for len ≤ j < width.
   */
  static void softmaxBackwardRow(float[] ds, float[] p, int base, int len, int width) {
    int bound = LANES.loopBound(len);
    FloatVector acc = FloatVector.zero(LANES);
    int j = 0;
    for (; j < bound; j += LANES.length()) {
      acc = FloatVector.fromArray(LANES, ds, base + j).fma(FloatVector.fromArray(LANES, p, base + j), acc);
    }
    float dot = sumLanes(acc);
    for (; j < len; j++) {
      dot += ds[base + j] * p[base + j];
    }
    j = 0;
    for (; j < bound; j += LANES.length()) {
      FloatVector.fromArray(LANES, ds, base + j).sub(dot).mul(FloatVector.fromArray(LANES, p, base + j)).intoArray(ds, base + j);
    }
    for (; j < len; j++) {
      ds[base + j] = p[base + j] * (ds[base + j] - dot);
    }
    Arrays.fill(ds, base + len, base + width, 0f);
  }
}
