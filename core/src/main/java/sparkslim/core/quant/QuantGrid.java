package sparkslim.core.quant;

import sparkslim.core.io.DType;
import sparkslim.core.io.HalfFloats;

/**
 * The uniform grid of one group of weights (docs/depth_quant.md §2.1): its scale and zero point, a weight's code, and
 * the dequantized value. Every arithmetic step is rounded to a working dtype as PyTorch computes it for tensors of
 * that dtype (each operation in fp32, then rounded): llm-compressor quantizes a bf16 weight in bf16, so x/scale is
 * rounded to bf16 before it is rounded to a code, and GPTQ works in fp32. Scales are rounded to the scheme's storage
 * dtype before the codes are computed. Codes and zero points are returned in the signed convention (§2.1 B) whatever
 * the convention that computed them: code − zeroPoint is the same in both.
 */
public final class QuantGrid {
  private QuantGrid() {}

  /**
   * A group's grid: w ≈ scale·(code − zeroPoint), codes and zero point signed, in [qmin, qmax].
   *
   * @param zeroPoint 0 for symmetric schemes of the signed convention
   */
  public record Params(float scale, int zeroPoint) {}

  /** PyTorch's {@code torch.finfo(dtype).eps}: the scale that replaces a zero scale. */
  public static float eps(DType dtype) {
    switch (dtype) {
      case BF16:
        return 0x1p-7f;
      case F16:
        return 0x1p-10f;
      default:
        return Math.ulp(1f);
    }
  }

  /**
   * The grid of a group whose values span [min, max], computed in {@code working} arithmetic.
   *
   * @param min the smallest value of the group (the range is widened to include 0)
   * @param max the largest value of the group
   */
  public static Params params(float min, float max, QuantScheme s, DType working) {
    float lo = Math.min(min, 0f);
    float hi = Math.max(max, 0f);
    return s.convention() == QuantConvention.SIGNED_ZERO_POINT ? signedParams(lo, hi, s, working) : unsignedParams(lo, hi, s, working);
  }

  /** The grid of the group {@code x[from], …, x[from + n − 1]} from its min and max ({@link #params(float, float, QuantScheme, DType)}). */
  public static Params params(float[] x, int from, int n, QuantScheme s, DType working) {
    float[] range = range(x, from, n);
    return params(range[0], range[1], s, working);
  }

  /** {min, max} of {@code x[from], …, x[from + n − 1]}. */
  private static float[] range(float[] x, int from, int n) {
    float lo = Float.POSITIVE_INFINITY;
    float hi = Float.NEGATIVE_INFINITY;
    for (int i = from; i < from + n; i++) {
      lo = Math.min(lo, x[i]);
      hi = Math.max(hi, x[i]);
    }
    return new float[] {lo, hi};
  }

  // compressed-tensors calculate_qparams (docs/depth_quant.md §2.1 B)
  private static Params signedParams(float lo, float hi, QuantScheme s, DType working) {
    int qmin = s.qmin();
    int qmax = s.qmax();
    float range = qmax - qmin;
    if (s.symmetric()) {
      float absmax = Math.max(Math.abs(lo), Math.abs(hi));
      float scale = stored(HalfFloats.round(absmax / (range / 2f), working), s);
      return new Params(scale, 0);
    }
    float scale = stored(HalfFloats.round(HalfFloats.round(hi - lo, working) / range, working), s);
    float zp = HalfFloats.round(qmin - HalfFloats.round(lo / scale, working), working);
    return new Params(scale, (int) Math.rint(Math.min(Math.max(zp, qmin), qmax)));
  }

  // the GPTQ repository's Quantizer.find_params (docs/depth_quant.md §2.1 A), returned in the signed convention
  private static Params unsignedParams(float lo, float hi, QuantScheme s, DType working) {
    int maxq = (1 << s.bits()) - 1;
    int offset = 1 << (s.bits() - 1);
    if (s.symmetric()) {
      hi = Math.max(Math.abs(lo), hi);
      if (lo < 0) {
        lo = -hi;
      }
    }
    if (lo == 0 && hi == 0) {
      lo = -1;
      hi = 1;
    }
    float scale = stored(HalfFloats.round(HalfFloats.round(hi - lo, working) / maxq, working), s);
    int zero = s.symmetric() ? (maxq + 1) / 2 : (int) Math.rint(HalfFloats.round(-lo / scale, working));
    return new Params(scale, zero - offset);
  }

  /** The scale rounded to the storage dtype, a zero scale replaced by that dtype's eps (compressed-tensors). */
  private static float stored(float scale, QuantScheme s) {
    float r = HalfFloats.round(scale, s.scaleDtype());
    return r == 0 ? eps(s.scaleDtype()) : r;
  }

  /**
   * The GPTQ repository's MSE grid search (docs/depth_quant.md §2.2; {@code Quantizer.configure(mse=True, norm=2.4,
   * grid=100, maxshrink=0.8)}): the range shrunk by p = 1 − i/100 for i = 0..79, the grid of each, and the one with the
   * smallest Σ |q(x) − x|^2.4 over the group kept (the first on ties). Weight-only: needs no data.
   *
   * @param x the group's values {@code x[from], x[from + 1], …, x[from + n − 1]}
   */
  public static Params searchParams(float[] x, int from, int n, QuantScheme s, DType working) {
    float[] range = range(x, from, n);
    float lo = range[0];
    float hi = range[1];
    Params best = null;
    double bestError = Double.POSITIVE_INFINITY;
    for (int i = 0; i < 80; i++) {
      float p = 1f - i / 100f;
      Params candidate = params(p * Math.min(lo, 0f), p * Math.max(hi, 0f), s, working);
      double error = 0;
      for (int k = from; k < from + n; k++) {
        float d = dequantize(code(x[k], candidate, s, working), candidate.scale(), candidate.zeroPoint()) - x[k];
        error += Math.pow(Math.abs(d), 2.4);
      }
      if (error < bestError) {
        bestError = error;
        best = candidate;
      }
    }
    return best;
  }

  /** The signed code of {@code x} on the grid {@code p}. */
  public static int code(float x, Params p, QuantScheme s, DType working) {
    int qmin = s.qmin();
    int qmax = s.qmax();
    if (s.convention() == QuantConvention.SIGNED_ZERO_POINT) {
      // q = round(clamp(x/scale + zp, qmin, qmax)): the clamp before the round (forward_helpers._quantize)
      float v = HalfFloats.round(x / p.scale(), working);
      if (p.zeroPoint() != 0) {
        v = HalfFloats.round(v + p.zeroPoint(), working);
      }
      return (int) Math.rint(Math.min(Math.max(v, qmin), qmax));
    }
    // q = clamp(HalfFloats.round(x/scale) + zero, 0, maxq), in unsigned codes; zero = zeroPoint + offset
    int offset = 1 << (s.bits() - 1);
    float q = (float) Math.rint(HalfFloats.round(x / p.scale(), working)) + (p.zeroPoint() + offset);
    return (int) Math.min(Math.max(q, 0f), (float) ((1 << s.bits()) - 1)) - offset;
  }

  /**
   * The code of {@code x} on the grid {@code p} ({@link #code}) unless that is the zero point, whose value is 0: then the
   * code on x's side of it (above it for x = 0 or at the bottom of the range, below it at the top), so that a weight
   * that must stay non-zero (one the joint SparseGPT + GPTQ mask keeps) does.
   */
  public static int nonZeroCode(float x, Params p, QuantScheme s, DType working) {
    int code = code(x, p, s, working);
    if (code != p.zeroPoint()) {
      return code;
    }
    boolean up = x >= 0 ? code < s.qmax() : code == s.qmin();
    return up ? code + 1 : code - 1;
  }

  /**
   * The dequantized weight scale·(code − zeroPoint) in fp32: exact for BF16 and F16 scales (at most 11 + 8 significant
   * bits), so it is what compressed-tensors computes when transformers loads the checkpoint in fp32. A loader working
   * in bf16 or fp16 rounds it to that dtype.
   */
  public static float dequantize(int code, float scale, int zeroPoint) {
    return scale * (code - zeroPoint);
  }
}
