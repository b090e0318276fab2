package sparkslim.core.prune.sparsellm;

import static org.bytedeco.openblas.global.openblas.CblasLower;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;

import java.util.Arrays;
import org.bytedeco.openblas.global.openblas;
import sparkslim.core.SparkslimException;
import sparkslim.core.linalg.Blas;
import sparkslim.core.linalg.Lapack;

/**
 * The per-token SparseLLM updates of the auxiliary variables (Bai et al. 2024, arXiv 2402.17946; docs/sparsellm.md
 * §1.2 steps 4–5, §1.3 steps 4–6), run on executors on each sample's arrays, and the per-sample objective.
 * Layout: tokens as rows (the doc has features as rows), d = hidden, f = ffn, n = numTokens:
 * x, y (n, d); z, s, p, m, g, act (n, f); W1 / W_up / W_gate (f, d); W2 / W_down (d, f); b1 (f); b2 (d).
 * m = W1·x + b1 (OPT) or W_up·x (LLaMA) and g = W_gate·x use the <em>pruned</em> weights: see {@link #linear}.
 *
 * <p>Every update is the exact minimiser of L over its variable with the others fixed (p, z), or a monotone descent
 * step (s), for any α, β, γ &gt; 0: the alternation never increases L (up to fp32 storage of the variables).
 * Element-wise updates compute in fp64 and store fp32; the products use fp32 sgemm (see {@link #pUpdate}).
 */
public final class AuxiliaryUpdates {
  /** Backtracking limit of one s gradient step: the step is halved at most this many times, then skipped. */
  static final int MAX_STEP_HALVINGS = 20;

  private AuxiliaryUpdates() {}

  /** x·Wᵀ + 1·bᵀ (fp32 sgemm): x (n, in), W (out, in), bias (out) or null; returns (n, out). */
  public static float[] linear(float[] x, int numTokens, int in, float[] w, int out, float[] bias) {
    float[] result = numTokens == 0 ? new float[0] : Blas.matmulTransposed(x, numTokens, in, w, out); // (n, out)
    for (int t = 0; bias != null && t < numTokens; t++) {
      for (int o = 0; o < out; o++) {
        result[t * out + o] += bias[o];
      }
    }
    return result;
  }

  /** OPT's γ-term target ReLU(z), (n, f). */
  public static float[] reluActivation(float[] z) {
    float[] act = new float[z.length];
    for (int i = 0; i < z.length; i++) {
      act[i] = Math.max(z[i], 0f);
    }
    return act;
  }

  /** LLaMA's γ-term target SiLU(s)⊙z, (n, f), computed in fp64. */
  public static float[] swigluActivation(float[] s, float[] z) {
    float[] act = new float[z.length];
    for (int i = 0; i < z.length; i++) {
      act[i] = (float) (Silu.silu(s[i]) * z[i]);
    }
    return act;
  }

  /**
   * M⁻¹ with M = β·WᵀW + γI (in, in), symmetric positive definite for γ &gt; 0; computed once per alternation on
   * the driver, in fp64 (dsyrk, dpotrf, dpotri), and broadcast (convert with {@link Blas#toFloat} first to halve it).
   *
   * @param w (out, in) the pruned fc2 / down weight: out = d, in = f
   * @return M⁻¹ (in, in), full symmetric
   */
  public static double[] pUpdateMatrixInverse(float[] w, int out, int in, double beta, double gamma) {
    double[] wd = new double[out * in]; // (out, in), exact fp64 copy of W
    for (int i = 0; i < wd.length; i++) {
      wd[i] = w[i];
    }
    double[] m = new double[in * in]; // (in, in), lower triangle of β·WᵀW
    openblas.cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, in, out, beta, wd, in, 0.0, m, in);
    for (int i = 0; i < in; i++) {
      m[i * in + i] += gamma; // M = β·WᵀW + γI, doc §1.2 step 4
    }
    int info = Lapack.choleskyLower(m, in);
    if (info > 0) {
      throw new SparkslimException("Cannot invert β·WᵀW + γI of the p-update (Cholesky failed at column " + (info - 1)
          + "). Increase '" + SparseLlmOptions.GAMMA_KEY + "' (now " + gamma + ")");
    }
    info = info == 0 ? Lapack.inverseFromLowerCholesky(m, in) : info;
    if (info != 0) {
      throw new IllegalStateException("LAPACK dpotrf/dpotri failed with info " + info + " on a " + in + "×" + in + " matrix");
    }
    return m;
  }

  /** {@link #pUpdate(float[], float[], float[], float[], float[], float[], int, int, int, double, double)} with M⁻¹ in fp64 (rounded to fp32 here). */
  public static void pUpdate(float[] p, float[] y, float[] bias, float[] act, float[] w, double[] mInv, int numTokens,
                             int out, int in, double beta, double gamma) {
    pUpdate(p, y, bias, act, w, Blas.toFloat(mInv), numTokens, out, in, beta, gamma);
  }

  /**
   * The p-update (doc §1.2 step 4, §1.3 step 4), per token p = M⁻¹·(β·Wᵀ(y − b) + γ·act), the exact minimiser of
   * β‖W·p + b − y‖² + γ‖p − act‖². Tokens as rows: P = (β·(Y − 1bᵀ)·W + γ·ACT)·M⁻¹.
   *
   * <p>Precision: both products are fp32 sgemm (fp32 inputs, fp32 accumulation), with M⁻¹ from fp64 rounded to
   * fp32; the reference does them in fp16 (§1.4). The relative error of P is of order κ(M)·2⁻²⁴·√f, where
   * κ(M) ≤ (β‖W‖² + γ)/γ.
   *
   * @param p (n, in) output; overwritten (may be the same array as act)
   * @param y (n, out) the dense FFN output Y
   * @param bias (out) fc2 bias b2, or null
   * @param act (n, in) ReLU(z) (OPT) or SiLU(s)⊙z (LLaMA), from {@link #reluActivation} / {@link #swigluActivation}
   * @param w (out, in) the pruned fc2 / down weight
   * @param mInv (in, in) from {@link #pUpdateMatrixInverse} with the same W, β, γ
   */
  public static void pUpdate(float[] p, float[] y, float[] bias, float[] act, float[] w, float[] mInv, int numTokens,
                             int out, int in, double beta, double gamma) {
    if (p.length != (long) numTokens * in || act.length != p.length || y.length != (long) numTokens * out
        || w.length != (long) out * in || mInv.length != (long) in * in) {
      throw new IllegalArgumentException("Cannot update p for " + numTokens + " tokens, W (" + out + ", " + in + "): got p "
          + p.length + ", act " + act.length + ", y " + y.length + ", W " + w.length + ", M⁻¹ " + mInv.length + " values");
    }
    if (numTokens == 0) {
      return;
    }
    float[] target = y; // (n, out), Y − 1·bᵀ
    if (bias != null) {
      target = y.clone();
      for (int t = 0; t < numTokens; t++) {
        for (int o = 0; o < out; o++) {
          target[t * out + o] -= bias[o];
        }
      }
    }
    float[] r = new float[numTokens * in]; // (n, in), R = β·(Y − 1bᵀ)·W + γ·ACT
    for (int i = 0; i < r.length; i++) {
      r[i] = (float) (gamma * act[i]);
    }
    Blas.addProduct(r, (float) beta, target, numTokens, out, w, in); // R += β·(Y − 1bᵀ)·W, doc §1.2 step 4
    Arrays.fill(p, 0f);
    Blas.addProduct(p, 1f, r, numTokens, in, mInv, in); // P = R·M⁻¹ (M⁻¹ symmetric), doc §1.2 step 4
  }

  /**
   * OPT z-update (doc §1.2 step 5), element-wise and in place: the exact minimiser over z of
   * α(z − m)² + γ(p − ReLU(z))² for any α, γ &gt; 0, from its two convex branches.
   *
   * @param z (n, f) overwritten
   * @param m (n, f) the pruned fc1 output W1·x + b1
   * @param p (n, f) the current (already updated) p
   */
  public static void zUpdateOpt(float[] z, float[] m, float[] p, double alpha, double gamma) {
    checkSameLength("z-update", z, m, p);
    for (int i = 0; i < z.length; i++) {
      double mi = m[i];
      double pi = p[i];
      double z1 = Math.max((gamma * pi + alpha * mi) / (gamma + alpha), 0); // z ≥ 0 branch, doc §1.2 step 5
      double z2 = Math.min(mi, 0); // z ≤ 0 branch, doc §1.2 step 5
      double g1 = zObjectiveOpt(z1, mi, pi, alpha, gamma);
      double g2 = zObjectiveOpt(z2, mi, pi, alpha, gamma);
      z[i] = (float) (g1 <= g2 ? z1 : z2); // ties go to z1, as the reference
    }
  }

  /**
   * LLaMA z-update (doc §1.3 step 5), element-wise and in place: z = (α·m + γ·σ·p)/(α + γ·σ²) with σ = SiLU(s), the
   * exact minimiser of α(z − m)² + γ(p − σ·z)² for any α, γ &gt; 0 (the released code's (m + σp)/(σ² + 1) is this
   * only when α = γ).
   *
   * @param z (n, f) overwritten
   * @param m (n, f) the pruned up output W_up·x
   * @param p (n, f) the current (already updated) p
   * @param s (n, f) the current gate pre-activation
   */
  public static void zUpdateLlama(float[] z, float[] m, float[] p, float[] s, double alpha, double gamma) {
    checkSameLength("z-update", z, m, p, s);
    for (int i = 0; i < z.length; i++) {
      double sigma = Silu.silu(s[i]);
      z[i] = (float) ((alpha * m[i] + gamma * sigma * p[i]) / (alpha + gamma * sigma * sigma)); // doc §1.3 step 5, general α, γ
    }
  }

  /**
   * LLaMA s-update (doc §1.3 step 6), element-wise and in place: {@code options.sGradientSteps()} gradient steps on
   * h(s) = α(s − g)² + γ(p − SiLU(s)·z)². Each step starts at lr = {@code options.sLearningRate()} and is halved
   * (at most {@link #MAX_STEP_HALVINGS} times, else skipped) while h at the fp32-rounded candidate exceeds h at the
   * current s, so the stored objective never increases.
   *
   * @param s (n, f) overwritten
   * @param g (n, f) the pruned gate output W_gate·x
   * @param p (n, f) the updated p
   * @param z (n, f) the updated z
   */
  public static void sUpdateLlama(float[] s, float[] g, float[] p, float[] z, SparseLlmOptions options) {
    sUpdateLlama(s, g, p, z, null, options);
  }

  /**
   * {@link #sUpdateLlama(float[], float[], float[], float[], SparseLlmOptions)}, then, when {@code m} is given, the
   * element-wise terms of L at the new s in the same pass (σ of the new s is at hand): {Σ(z − m)², Σ(s − g)²,
   * Σ(p − SiLU(s)·z)²}, summed in fp64 in element order, the bits {@link #objectiveLlama} sums. Finish with
   * {@link #objectiveLlama(double[], float[], float[], float[], int, int, int, SparseLlmOptions)}.
   *
   * @param m (n, f) the pruned up output W_up·x, or null for no terms
   * @return the three sums, or null when {@code m} is null
   */
  public static double[] sUpdateLlama(float[] s, float[] g, float[] p, float[] z, float[] m, SparseLlmOptions options) {
    checkSameLength("s-update", s, g, p, z);
    if (m != null) {
      checkSameLength("objective", z, m);
    }
    double alpha = options.alpha();
    double gamma = options.gamma();
    int steps = options.sGradientSteps();
    double zTerm = 0;
    double sTerm = 0;
    double pTerm = 0;
    for (int i = 0; i < s.length && (steps > 0 || m != null); i++) {
      double gi = g[i];
      double pi = p[i];
      double zi = z[i];
      float current = s[i];
      // σ(current) and h(current) are carried from the accepted candidate to the next step: one exp per evaluation of
      // h, the same values (and bits) as sObjective and sGradient evaluated afresh
      double sig = Silu.sigmoid(current);
      double h0 = sObjective(current, sig, gi, pi, zi, alpha, gamma);
      for (int step = 0; step < steps; step++) {
        double gradient = 2 * alpha * (current - gi) - 2 * gamma * (pi - current * sig * zi) * zi * (sig * (1 + current * (1 - sig)));
        double lr = options.sLearningRate();
        for (int halving = 0; halving <= MAX_STEP_HALVINGS && gradient != 0; halving++, lr /= 2) {
          float candidate = (float) (current - lr * gradient); // gradient step, doc §1.3 step 6
          double candidateSig = Silu.sigmoid(candidate);
          double h = sObjective(candidate, candidateSig, gi, pi, zi, alpha, gamma);
          if (h <= h0) { // monotone: backtrack otherwise
            current = candidate;
            sig = candidateSig;
            h0 = h;
            break;
          }
        }
      }
      s[i] = current;
      if (m != null) { // the terms of objectiveLlama, same expressions
        zTerm += square(zi - m[i]);
        sTerm += square((double) current - gi);
        pTerm += square(pi - current * sig * zi);
      }
    }
    return m == null ? null : new double[] {zTerm, sTerm, pTerm};
  }

  /** h(s) with σ(s) given: α(s − g)² + γ(p − s·σ(s)·z)², the same expression as {@link #sObjective}. */
  private static double sObjective(double s, double sigmoid, double g, double p, double z, double alpha, double gamma) {
    return alpha * square(s - g) + gamma * square(p - s * sigmoid * z);
  }

  /**
   * L for one OPT sample (doc §1.2): α‖z − m‖² + γ‖p − ReLU(z)‖² + β‖p·W2ᵀ + 1·b2ᵀ − Y‖², summed in fp64;
   * p·W2ᵀ is an fp32 sgemm.
   *
   * @param m (n, f) the pruned fc1 output W1·x + b1
   * @param w2 (d, f) fc2 weight; b2 (d) its bias or null
   */
  public static double objectiveOpt(float[] z, float[] m, float[] p, float[] y, float[] w2, float[] b2, int numTokens,
                                    int hidden, int ffn, SparseLlmOptions options) {
    checkSameLength("objective", z, m, p);
    double zTerm = 0;
    double pTerm = 0;
    for (int i = 0; i < z.length; i++) {
      zTerm += square((double) z[i] - m[i]);
      pTerm += square((double) p[i] - Math.max(z[i], 0f));
    }
    return options.alpha() * zTerm + options.gamma() * pTerm + options.beta() * outputTerm(p, y, w2, b2, numTokens, hidden, ffn);
  }

  /**
   * L for one LLaMA sample (doc §1.3): α‖z − m‖² + α‖s − g‖² + γ‖p − SiLU(s)⊙z‖² + β‖p·W_downᵀ − Y‖², summed in
   * fp64; p·W_downᵀ is an fp32 sgemm.
   *
   * @param m (n, f) the pruned up output; g (n, f) the pruned gate output; wDown (d, f)
   */
  public static double objectiveLlama(float[] z, float[] m, float[] s, float[] g, float[] p, float[] y, float[] wDown,
                                      int numTokens, int hidden, int ffn, SparseLlmOptions options) {
    checkSameLength("objective", z, m, s, g, p);
    double zTerm = 0;
    double sTerm = 0;
    double pTerm = 0;
    for (int i = 0; i < z.length; i++) {
      zTerm += square((double) z[i] - m[i]);
      sTerm += square((double) s[i] - g[i]);
      pTerm += square(p[i] - Silu.silu(s[i]) * z[i]);
    }
    return options.alpha() * (zTerm + sTerm) + options.gamma() * pTerm
        + options.beta() * outputTerm(p, y, wDown, null, numTokens, hidden, ffn);
  }

  /**
   * L for one LLaMA sample from the element-wise terms {@link #sUpdateLlama(float[], float[], float[], float[], float[],
   * SparseLlmOptions)} returned: the same value as {@link #objectiveLlama(float[], float[], float[], float[], float[],
   * float[], float[], int, int, int, SparseLlmOptions)}.
   *
   * @param terms {Σ(z − m)², Σ(s − g)², Σ(p − SiLU(s)·z)²}
   */
  public static double objectiveLlama(double[] terms, float[] p, float[] y, float[] wDown, int numTokens, int hidden, int ffn,
                                      SparseLlmOptions options) {
    return options.alpha() * (terms[0] + terms[1]) + options.gamma() * terms[2]
        + options.beta() * outputTerm(p, y, wDown, null, numTokens, hidden, ffn);
  }

  /** ‖p·Wᵀ + 1·bᵀ − Y‖²: p (n, f), W (d, f), Y (n, d). */
  private static double outputTerm(float[] p, float[] y, float[] w, float[] bias, int numTokens, int hidden, int ffn) {
    if (p.length != (long) numTokens * ffn || y.length != (long) numTokens * hidden || w.length != (long) hidden * ffn) {
      throw new IllegalArgumentException("Cannot evaluate the objective for " + numTokens + " tokens, W (" + hidden + ", "
          + ffn + "): got p " + p.length + ", y " + y.length + ", W " + w.length + " values");
    }
    float[] q = linear(p, numTokens, ffn, w, hidden, bias); // (n, d)
    double sum = 0;
    for (int i = 0; i < q.length; i++) {
      sum += square((double) q[i] - y[i]);
    }
    return sum;
  }

  /** g(z) = α(z − m)² + γ(p − ReLU(z))², one element of the OPT z-subproblem. */
  static double zObjectiveOpt(double z, double m, double p, double alpha, double gamma) {
    return alpha * square(z - m) + gamma * square(p - Math.max(z, 0));
  }

  /** h(s) = α(s − g)² + γ(p − SiLU(s)·z)², one element of the LLaMA s-subproblem. */
  static double sObjective(double s, double g, double p, double z, double alpha, double gamma) {
    return alpha * square(s - g) + gamma * square(p - Silu.silu(s) * z);
  }

  /** h′(s) = 2α(s − g) − 2γ(p − SiLU(s)·z)·z·SiLU′(s), doc §1.3 step 6. */
  static double sGradient(double s, double g, double p, double z, double alpha, double gamma) {
    return 2 * alpha * (s - g) - 2 * gamma * (p - Silu.silu(s) * z) * z * Silu.derivative(s);
  }

  private static double square(double v) {
    return v * v;
  }

  private static void checkSameLength(String what, float[] first, float[]... others) {
    for (float[] other : others) {
      if (other.length != first.length) {
        throw new IllegalArgumentException("Cannot run the " + what + ": the per-token arrays differ in length ("
            + first.length + " and " + other.length + " values)");
      }
    }
  }
}
