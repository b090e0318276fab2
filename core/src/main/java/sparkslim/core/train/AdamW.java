package sparkslim.core.train;

import java.io.Serializable;

/**
 * AdamW (Loshchilov and Hutter, ICLR 2019) on one fp32 parameter array, in fp32 as torch's {@code torch.optim.AdamW}
 * computes it: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², p ← p − (lr/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε), then the
 * decoupled weight decay p ← p − lr·λ·p (applied first, as torch does; λ = 0 by default).
 */
public final class AdamW implements Serializable {
  private static final long serialVersionUID = 1L;
  public static final double BETA1 = 0.9;
  public static final double BETA2 = 0.999;
  public static final double EPSILON = 1e-8;

  private final float[] m; // first moment, the parameter's layout
  private final float[] v; // second moment
  private final double weightDecay;
  private int step;

  public AdamW(int size, double weightDecay) {
    this.m = new float[size];
    this.v = new float[size];
    this.weightDecay = weightDecay;
  }

  /** Restores a state written by {@link #firstMoment()}, {@link #secondMoment()} and {@link #steps()}. */
  public AdamW(float[] m, float[] v, int steps, double weightDecay) {
    if (m.length != v.length || steps < 0) {
      throw new IllegalArgumentException("AdamW state of " + m.length + " and " + v.length + " values at step " + steps);
    }
    this.m = m;
    this.v = v;
    this.step = steps;
    this.weightDecay = weightDecay;
  }

  /** One update of {@code p} with gradient {@code g} (same length) at learning rate {@code lr}. */
  public void update(float[] p, float[] g, double lr) {
    if (p.length != m.length || g.length != m.length) {
      throw new IllegalArgumentException("AdamW of " + m.length + " values got a parameter of " + p.length + " and a gradient of " + g.length);
    }
    step++;
    float b1 = (float) BETA1;
    float b2 = (float) BETA2;
    double bc1 = 1 - Math.pow(BETA1, step);
    double bc2 = 1 - Math.pow(BETA2, step);
    float stepSize = (float) (lr / bc1);
    float bc2Sqrt = (float) Math.sqrt(bc2);
    float eps = (float) EPSILON;
    float decay = (float) (1 - lr * weightDecay);
    for (int i = 0; i < p.length; i++) {
      float gi = g[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      float denom = (float) Math.sqrt(v[i]) / bc2Sqrt + eps;
      p[i] = p[i] * decay - stepSize * m[i] / denom;
    }
  }

  public float[] firstMoment() {
    return m;
  }

  public float[] secondMoment() {
    return v;
  }

  /** Updates done so far (t of the bias corrections). */
  public int steps() {
    return step;
  }
}
