package sparkslim.core.linalg;

/** The dampening (ridge) term that SparseGPT, GPTQ and SparseLLM's refits add to a Gram matrix before they factor it. */
public final class Ridge {
  private Ridge() {}

  /**
   * m += λ·I with λ = fraction·mean(diag m) (SparseGPT's and GPTQ's {@code percdamp}), in place.
   *
   * @param m (n, n) row-major
   * @return λ
   */
  public static double addFractionOfMeanDiagonal(double[] m, int n, double fraction) {
    double meanDiagonal = 0;
    for (int i = 0; i < n; i++) {
      meanDiagonal += m[i * n + i];
    }
    double lambda = fraction * meanDiagonal / n;
    for (int i = 0; i < n; i++) {
      m[i * n + i] += lambda;
    }
    return lambda;
  }
}
