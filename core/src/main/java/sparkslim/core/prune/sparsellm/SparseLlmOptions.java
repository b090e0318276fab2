package sparkslim.core.prune.sparsellm;

import java.io.Serializable;
import sparkslim.core.SparkslimException;

/**
 * Hyperparameters of the SparseLLM alternating optimisation of one FFN (docs/sparsellm.md §1.2, §1.3). The objective
 * (tokens as rows; m = W1·x + b1 or W_up·x, g = W_gate·x) is
 * <pre>
 *   OPT:   L = α‖z − m‖² + γ‖p − ReLU(z)‖² + β‖p·W2ᵀ + 1·b2ᵀ − Y‖²
 *   LLaMA: L = α‖z − m‖² + α‖s − g‖² + γ‖p − SiLU(s)⊙z‖² + β‖p·W_downᵀ − Y‖²
 * </pre>
 * Small enough to broadcast to executors; validated once, in the compact constructor.
 *
 * @param alpha α &gt; 0, weight of the linear-output penalties (z and s)
 * @param beta β &gt; 0, weight of the FFN output reconstruction
 * @param gamma γ &gt; 0, weight of the activation coupling (p against the activation of z, s)
 * @param iterations T ≥ 1 alternations; T = 1 is plain SparseGPT on the FFN linears
 * @param sGradientSteps gradient steps of the LLaMA s-update per alternation (≥ 0; 0 keeps s)
 * @param sLearningRate initial step size of each s gradient step (&gt; 0), halved while the step would increase the
 *     objective
 */
public record SparseLlmOptions(double alpha, double beta, double gamma, int iterations, int sGradientSteps,
                               double sLearningRate) implements Serializable {
  /** Config key of α. */
  public static final String ALPHA_KEY = "pruning.sparsellm.alpha";
  /** Config key of β. */
  public static final String BETA_KEY = "pruning.sparsellm.beta";
  /** Config key of γ. */
  public static final String GAMMA_KEY = "pruning.sparsellm.gamma";
  /** Config key of T. */
  public static final String ITERATIONS_KEY = "pruning.sparsellm.iterations";
  /** Config key of the s gradient step count. */
  public static final String S_GRADIENT_STEPS_KEY = "pruning.sparsellm.s-gradient-steps";
  /** Config key of the s learning rate. */
  public static final String S_LEARNING_RATE_KEY = "pruning.sparsellm.s-learning-rate";

  /** OPT: α = β = γ = 0.1, the released code since commit f4582cc (docs/sparsellm.md §1.2). */
  public static final double DEFAULT_OPT_PENALTY = 0.1;
  /** LLaMA: α = β = γ = 5.0 (docs/sparsellm.md §1.3). */
  public static final double DEFAULT_LLAMA_PENALTY = 5.0;
  /** T = 4 for both FFN kinds (the released code's {@code opt_epochs}; LLaMA layers 1, 30, 31 get 1 there). */
  public static final int DEFAULT_ITERATIONS = 4;
  /** Two s steps per alternation: the reference makes 2 passes over the tokens, one step each (§1.3 step 6). */
  public static final int DEFAULT_S_GRADIENT_STEPS = 2;
  /** The reference's s learning rate (§1.3 step 6). */
  public static final double DEFAULT_S_LEARNING_RATE = 0.01;

  private static final long serialVersionUID = 1L;

  public SparseLlmOptions {
    checkPositiveFinite(ALPHA_KEY, alpha);
    checkPositiveFinite(BETA_KEY, beta);
    checkPositiveFinite(GAMMA_KEY, gamma);
    if (iterations < 1) {
      throw new SparkslimException("'" + ITERATIONS_KEY + "' is set to " + iterations + " but must be >= 1");
    }
    if (sGradientSteps < 0) {
      throw new SparkslimException("'" + S_GRADIENT_STEPS_KEY + "' is set to " + sGradientSteps + " but must be >= 0");
    }
    checkPositiveFinite(S_LEARNING_RATE_KEY, sLearningRate);
  }

  /** The released code's constants for {@code kind}, with {@link #DEFAULT_ITERATIONS} alternations. */
  public static SparseLlmOptions defaults(FfnKind kind) {
    double penalty = kind == FfnKind.OPT_RELU ? DEFAULT_OPT_PENALTY : DEFAULT_LLAMA_PENALTY;
    return new SparseLlmOptions(penalty, penalty, penalty, DEFAULT_ITERATIONS, DEFAULT_S_GRADIENT_STEPS,
        DEFAULT_S_LEARNING_RATE);
  }

  /**
   * Options from config values, where {@code auto} (alpha, beta, gamma, iterations) takes {@link #defaults(FfnKind)}.
   *
   * @throws SparkslimException naming the key if a value is neither {@code auto} nor a valid number
   */
  public static SparseLlmOptions resolve(FfnKind kind, String alpha, String beta, String gamma, String iterations, int sGradientSteps,
                                         double sLearningRate) {
    SparseLlmOptions d = defaults(kind);
    return new SparseLlmOptions(number(ALPHA_KEY, alpha, d.alpha()), number(BETA_KEY, beta, d.beta()), number(GAMMA_KEY, gamma, d.gamma()),
        (int) wholeNumber(ITERATIONS_KEY, iterations, d.iterations()), sGradientSteps, sLearningRate);
  }

  private static double number(String key, String text, double auto) {
    String t = text.trim();
    if (t.equals("auto")) {
      return auto;
    }
    try {
      return Double.parseDouble(t);
    } catch (NumberFormatException e) {
      throw new SparkslimException("'" + key + "' is set to '" + text + "' but must be a number > 0 or 'auto'");
    }
  }

  private static long wholeNumber(String key, String text, int auto) {
    String t = text.trim();
    if (t.equals("auto")) {
      return auto;
    }
    try {
      return Integer.parseInt(t);
    } catch (NumberFormatException e) {
      throw new SparkslimException("'" + key + "' is set to '" + text + "' but must be a whole number >= 1 or 'auto'");
    }
  }

  private static void checkPositiveFinite(String key, double value) {
    if (!(value > 0)) { // also rejects NaN
      throw new SparkslimException("'" + key + "' is set to " + value + " but must be > 0");
    }
    if (Double.isInfinite(value)) {
      throw new SparkslimException("'" + key + "' is set to " + value + " but must be finite");
    }
  }
}
