package sparkslim.core.train;

import java.util.Collection;

/**
 * Global-norm clipping as torch's {@code clip_grad_norm_}: n = ‖all gradients‖₂ (summed in fp64 in the given order), and
 * when maxNorm/(n + 1e-6) &lt; 1 every gradient is multiplied by that factor.
 */
public final class GradientClipping {
  private GradientClipping() {}

  /** Clips in place; returns the norm before clipping. {@code maxNorm} ≤ 0 only measures. */
  public static double clip(Collection<float[]> gradients, double maxNorm) {
    double sum = 0;
    for (float[] g : gradients) {
      for (float x : g) {
        sum += (double) x * x;
      }
    }
    double norm = Math.sqrt(sum);
    double coef = maxNorm / (norm + 1e-6);
    if (maxNorm > 0 && coef < 1) {
      float c = (float) coef;
      for (float[] g : gradients) {
        for (int i = 0; i < g.length; i++) {
          g[i] *= c;
        }
      }
    }
    return norm;
  }
}
