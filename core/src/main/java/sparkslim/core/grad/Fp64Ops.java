package sparkslim.core.grad;

import sparkslim.core.linalg.Blas;

/**
 * fp64 kernels of the forward pass (the same math as {@link sparkslim.core.model.Ops} and
 * {@link sparkslim.core.model.Linear}) and their hand-written backward passes, on row-major double arrays.
 * Backward methods accumulate parameter gradients into the given arrays ({@code +=}) and return the input gradient.
 */
final class Fp64Ops {
  private Fp64Ops() {}

  /** y = x·Wᵀ + b. x: (rows, in), w: (out, in), b: (out) or null; returns (rows, out). */
  static double[] linear(double[] x, int rows, double[] w, int out, int in, double[] b) {
    double[] y = Blas.dmatmulTransposed(x, rows, in, w, out);
    if (b != null) {
      for (int r = 0; r < rows; r++) {
        int base = r * out;
        for (int c = 0; c < out; c++) {
          y[base + c] += b[c];
        }
      }
    }
    return y;
  }

  /**
   * Backward of {@link #linear}: dW (out, in) += dYᵀ·X; db (out) += Σ_rows dY when db is not null; dX (rows, in) += dY·W
   * when dx is not null. dy: (rows, out), x: (rows, in).
   */
  static void linearBackward(double[] dy, double[] x, int rows, double[] w, int out, int in, double[] dw, double[] db, double[] dx) {
    Blas.daddTransposedProduct(dw, 1.0, dy, rows, out, x, in);
    if (db != null) {
      for (int r = 0; r < rows; r++) {
        int base = r * out;
        for (int c = 0; c < out; c++) {
          db[c] += dy[base + c];
        }
      }
    }
    if (dx != null) {
      Blas.daddProduct(dx, 1.0, dy, rows, out, w, in);
    }
  }

  /** What a norm's backward needs: the normalised input x̂ (rows, cols), before the weight, and 1/σ per row (rows). */
  record NormCache(double[] xhat, double[] inv, int rows, int cols) {}

  /**
   * RMSNorm (centered = false: x̂ = x / sqrt(mean(x²) + eps)) or LayerNorm (centered = true: x̂ = (x − μ) / sqrt(var + eps),
   * biased variance); returns w ⊙ x̂ (+ b). x: (rows, cols); w, b: (cols), b may be null. Fills {@code cache[0]}.
   */
  static double[] norm(double[] x, int rows, int cols, double[] w, double[] b, double eps, boolean centered, NormCache[] cache) {
    double[] xhat = new double[x.length];
    double[] inv = new double[rows];
    double[] y = new double[x.length];
    for (int r = 0; r < rows; r++) {
      int base = r * cols;
      double mean = 0;
      if (centered) {
        for (int c = 0; c < cols; c++) {
          mean += x[base + c];
        }
        mean /= cols;
      }
      double ss = 0;
      for (int c = 0; c < cols; c++) {
        double v = x[base + c] - mean;
        ss += v * v;
      }
      double s = 1.0 / Math.sqrt(ss / cols + eps);
      inv[r] = s;
      for (int c = 0; c < cols; c++) {
        double xh = (x[base + c] - mean) * s;
        xhat[base + c] = xh;
        y[base + c] = w[c] * xh + (b == null ? 0.0 : b[c]);
      }
    }
    cache[0] = new NormCache(xhat, inv, rows, cols);
    return y;
  }

  /**
   * Backward of {@link #norm}. With g = dy ⊙ w per row: dx = s·(g − mean(g) − x̂·mean(g ⊙ x̂)) for LayerNorm and
   * dx = s·(g − x̂·mean(g ⊙ x̂)) for RMSNorm; dw += Σ_rows dy ⊙ x̂, db += Σ_rows dy (db may be null). Returns dx (rows, cols).
   */
  static double[] normBackward(double[] dy, NormCache cache, double[] w, double[] dw, double[] db, boolean centered) {
    int rows = cache.rows();
    int cols = cache.cols();
    double[] xhat = cache.xhat();
    double[] dx = new double[dy.length];
    double[] g = new double[cols];
    for (int r = 0; r < rows; r++) {
      int base = r * cols;
      double meanG = 0;
      double meanGx = 0;
      for (int c = 0; c < cols; c++) {
        double d = dy[base + c];
        dw[c] += d * xhat[base + c];
        if (db != null) {
          db[c] += d;
        }
        g[c] = d * w[c];
        meanG += g[c];
        meanGx += g[c] * xhat[base + c];
      }
      meanG = centered ? meanG / cols : 0.0;
      meanGx /= cols;
      double s = cache.inv()[r];
      for (int c = 0; c < cols; c++) {
        dx[base + c] = s * (g[c] - meanG - xhat[base + c] * meanGx);
      }
    }
    return dx;
  }

  /**
   * RoPE tables {cos, sin}, each (seqLen, headDim), HF "default" layout (frequency i at columns i and i + headDim/2).
   * inv_freq is computed in fp32 exactly as {@link sparkslim.core.model.Ops#ropeTables} computes it; the angles
   * p·inv_freq and their cos/sin are then taken in fp64.
   */
  static double[][] ropeTables(int seqLen, int headDim, double theta) {
    int half = headDim / 2;
    double[] cos = new double[seqLen * headDim];
    double[] sin = new double[seqLen * headDim];
    for (int i = 0; i < half; i++) {
      float exponent = (float) (2 * i) / headDim;
      double invFreq = 1.0f / (float) Math.pow(theta, exponent);
      for (int p = 0; p < seqLen; p++) {
        double c = Math.cos(p * invFreq);
        double s = Math.sin(p * invFreq);
        cos[p * headDim + i] = c;
        cos[p * headDim + i + half] = c;
        sin[p * headDim + i] = s;
        sin[p * headDim + i + half] = s;
      }
    }
    return new double[][] {cos, sin};
  }

  /**
   * RoPE in place on x (seqLen, numHeads·headDim): x ← x·cos + rotate_half(x)·sin. With inverse = true applies the
   * transposed rotation (angle −θ), which is the backward: dx1 = dy1·cos + dy2·sin, dx2 = dy2·cos − dy1·sin.
   */
  static void rope(double[] x, int seqLen, int numHeads, int headDim, double[][] tables, boolean inverse) {
    double[] cos = tables[0];
    double[] sin = tables[1];
    double sign = inverse ? -1.0 : 1.0;
    int half = headDim / 2;
    int width = numHeads * headDim;
    for (int p = 0; p < seqLen; p++) {
      int t = p * headDim;
      for (int h = 0; h < numHeads; h++) {
        int base = p * width + h * headDim;
        for (int i = 0; i < half; i++) {
          double x1 = x[base + i];
          double x2 = x[base + i + half];
          double s = sign * sin[t + i];
          x[base + i] = x1 * cos[t + i] - x2 * s;
          x[base + i + half] = x2 * cos[t + i] + x1 * s;
        }
      }
    }
  }

  /**
   * Causal attention with grouped KV heads: per head h (KV group g = h / (numHeads/numKvHeads)),
   * O_h = softmax(Q_h·K_gᵀ·scale + causal mask)·V_g. q: (seqLen, numHeads·headDim); k, v: (seqLen, numKvHeads·headDim);
   * returns (seqLen, numHeads·headDim).
   */
  static double[] attention(double[] q, double[] k, double[] v, int seqLen, int numHeads, int numKvHeads, int headDim, double scale) {
    int qWidth = numHeads * headDim;
    int kvWidth = numKvHeads * headDim;
    int group = numHeads / numKvHeads;
    double[] out = new double[seqLen * qWidth];
    for (int g = 0; g < numKvHeads; g++) {
      double[] kg = slice(k, seqLen, kvWidth, g * headDim, headDim); // (seqLen, headDim)
      double[] vg = slice(v, seqLen, kvWidth, g * headDim, headDim);
      for (int h = g * group; h < (g + 1) * group; h++) {
        double[] p = probabilities(slice(q, seqLen, qWidth, h * headDim, headDim), kg, seqLen, headDim, scale); // (seqLen, seqLen)
        unslice(Blas.dmatmul(p, seqLen, seqLen, vg, headDim), out, seqLen, qWidth, h * headDim, headDim);
      }
    }
    return out;
  }

  /**
   * Backward of {@link #attention}, recomputing the probabilities P per head (so no (seqLen)² array is kept across the
   * pass). dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P)); dQ = scale·dS·K; dK = scale·dSᵀ·Q and dV = Pᵀ·dO, each summed
   * over the query heads of the KV group. Returns {dq, dk, dv} with the shapes of q, k, v.
   */
  static double[][] attentionBackward(double[] dOut, double[] q, double[] k, double[] v, int seqLen, int numHeads, int numKvHeads,
                                      int headDim, double scale) {
    int qWidth = numHeads * headDim;
    int kvWidth = numKvHeads * headDim;
    int group = numHeads / numKvHeads;
    double[] dq = new double[q.length];
    double[] dk = new double[k.length];
    double[] dv = new double[v.length];
    for (int g = 0; g < numKvHeads; g++) {
      double[] kg = slice(k, seqLen, kvWidth, g * headDim, headDim); // (seqLen, headDim)
      double[] vg = slice(v, seqLen, kvWidth, g * headDim, headDim);
      double[] dkg = new double[seqLen * headDim];
      double[] dvg = new double[seqLen * headDim];
      for (int h = g * group; h < (g + 1) * group; h++) {
        double[] qh = slice(q, seqLen, qWidth, h * headDim, headDim);
        double[] doh = slice(dOut, seqLen, qWidth, h * headDim, headDim);
        double[] p = probabilities(qh, kg, seqLen, headDim, scale); // (seqLen, seqLen), zero above the diagonal
        double[] ds = Blas.dmatmulTransposed(doh, seqLen, headDim, vg, seqLen); // dP, then dS in place
        for (int i = 0; i < seqLen; i++) {
          int base = i * seqLen;
          double dot = 0;
          for (int j = 0; j <= i; j++) {
            dot += ds[base + j] * p[base + j];
          }
          for (int j = 0; j <= i; j++) {
            ds[base + j] = p[base + j] * (ds[base + j] - dot);
          }
          for (int j = i + 1; j < seqLen; j++) {
            ds[base + j] = 0.0;
          }
        }
        double[] dqh = Blas.dmatmul(ds, seqLen, seqLen, kg, headDim);
        for (int i = 0; i < dqh.length; i++) {
          dqh[i] *= scale;
        }
        unslice(dqh, dq, seqLen, qWidth, h * headDim, headDim);
        Blas.daddTransposedProduct(dkg, scale, ds, seqLen, seqLen, qh, headDim);
        Blas.daddTransposedProduct(dvg, 1.0, p, seqLen, seqLen, doh, headDim);
      }
      unslice(dkg, dk, seqLen, kvWidth, g * headDim, headDim);
      unslice(dvg, dv, seqLen, kvWidth, g * headDim, headDim);
    }
    return new double[][] {dq, dk, dv};
  }

  /** Causal softmax(qh·kgᵀ·scale) with qh, kg (seqLen, headDim); returns (seqLen, seqLen), zero above the diagonal. */
  private static double[] probabilities(double[] qh, double[] kg, int seqLen, int headDim, double scale) {
    double[] s = Blas.dmatmulTransposed(qh, seqLen, headDim, kg, seqLen);
    for (int i = 0; i < seqLen; i++) {
      int base = i * seqLen;
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j <= i; j++) {
        s[base + j] *= scale;
        max = Math.max(max, s[base + j]);
      }
      double sum = 0;
      for (int j = 0; j <= i; j++) {
        double e = Math.exp(s[base + j] - max);
        s[base + j] = e;
        sum += e;
      }
      double inv = 1.0 / sum;
      for (int j = 0; j <= i; j++) {
        s[base + j] *= inv;
      }
      for (int j = i + 1; j < seqLen; j++) {
        s[base + j] = 0.0;
      }
    }
    return s;
  }

  /** Columns [offset, offset + len) of x (rows, width); returns (rows, len). */
  private static double[] slice(double[] x, int rows, int width, int offset, int len) {
    double[] out = new double[rows * len];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(x, r * width + offset, out, r * len, len);
    }
    return out;
  }

  /** Writes part (rows, len) into columns [offset, offset + len) of x (rows, width). */
  private static void unslice(double[] part, double[] x, int rows, int width, int offset, int len) {
    for (int r = 0; r < rows; r++) {
      System.arraycopy(part, r * len, x, r * width + offset, len);
    }
  }

  /** SwiGLU forward: silu(g) ⊙ u, silu(g) = g·σ(g). g, u: (rows, intermediateSize). */
  static double[] siluMul(double[] g, double[] u) {
    double[] a = new double[g.length];
    for (int i = 0; i < g.length; i++) {
      a[i] = g[i] / (1.0 + Math.exp(-g[i])) * u[i];
    }
    return a;
  }

  /**
   * Backward of {@link #siluMul}: du = da ⊙ silu(g), dg = da ⊙ u ⊙ silu'(g) with silu'(g) = σ(g)·(1 + g·(1 − σ(g))).
   * Returns {dg, du}.
   */
  static double[][] siluMulBackward(double[] da, double[] g, double[] u) {
    double[] dg = new double[g.length];
    double[] du = new double[g.length];
    for (int i = 0; i < g.length; i++) {
      double sig = 1.0 / (1.0 + Math.exp(-g[i]));
      du[i] = da[i] * g[i] * sig;
      dg[i] = da[i] * u[i] * sig * (1.0 + g[i] * (1.0 - sig));
    }
    return new double[][] {dg, du};
  }

  /** max(x, 0) as a new array. */
  static double[] relu(double[] x) {
    double[] y = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      y[i] = x[i] > 0 ? x[i] : 0.0;
    }
    return y;
  }

  /** Backward of {@link #relu} from its output y: dx = dy where y > 0, else 0 (the subgradient 0 at the kink, as torch). */
  static double[] reluBackward(double[] dy, double[] y) {
    double[] dx = new double[dy.length];
    for (int i = 0; i < dy.length; i++) {
      dx[i] = y[i] > 0 ? dy[i] : 0.0;
    }
    return dx;
  }

  /** acc += x element-wise. */
  static void addInPlace(double[] acc, double[] x) {
    for (int i = 0; i < acc.length; i++) {
      acc[i] += x[i];
    }
  }
}
