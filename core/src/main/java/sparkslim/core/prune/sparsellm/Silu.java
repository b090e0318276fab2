package sparkslim.core.prune.sparsellm;

/** SiLU and its derivative in fp64, for LLaMA's SwiGLU FFN (docs/sparsellm.md §1.3). */
final class Silu {
  private Silu() {}

  /** σ(s) = 1/(1 + e^−s), evaluated without overflow. */
  static double sigmoid(double s) {
    if (s >= 0) {
      return 1 / (1 + Math.exp(-s));
    }
    double e = Math.exp(s);
    return e / (1 + e);
  }

  /** SiLU(s) = s·σ(s). */
  static double silu(double s) {
    return s * sigmoid(s);
  }

  /** SiLU′(s) = σ(s)(1 + s(1 − σ(s))), doc §1.3 step 6. */
  static double derivative(double s) {
    double sig = sigmoid(s);
    return sig * (1 + s * (1 - sig));
  }
}
