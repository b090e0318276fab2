package sparkslim.core.compress;

import java.io.Serializable;
import sparkslim.core.calib.InputStatistics;

/**
 * The one per-linear solver interface: weight + statistics of the linear's input + the solver's own settings → a
 * {@link CompressedLinear}. Magnitude, Wanda, SparseGPT, RTN and GPTQ implement it; the Spark task that
 * solves a linear where its statistics meet ({@code jobs/driver/LinearSolveTask}) calls only this. SparseLLM is a
 * block-level step built from the same pieces (SparseGPT on refit weights), not a solver of one linear.
 *
 * <p>Not {@code sealed}: the implementations live in the packages of their methods ({@code prune},
 * {@code quant}), and a sealed interface of an unnamed module may only permit classes of its own package. The result
 * type is sealed.
 */
public interface LinearSolver extends Serializable {
  /**
   * Compresses a copy of {@code w}; {@code w} is not modified.
   *
   * @param w (rows, cols) row-major weights, rows = outFeatures, cols = inFeatures
   * @param stats the statistics of the linear's input (cols wide): Σ XᵀX, the number of sequences and of tokens
   * @param scratch (cols, cols), or null: a solver that needs a full cols×cols matrix (the Hessian) may use it and
   *     leaves it garbage, so the caller can reuse it (e.g. for {@link InputStatistics#gramInto}) and a solve holds one
   */
  CompressedLinear solve(float[] w, int rows, int cols, InputStatistics stats, double[] scratch);

  /**
   * Whether {@link #solve} reads {@code stats}. A solver that does not (RTN) accepts null there, and a
   * driver may run it without calibration data.
   */
  default boolean readsStatistics() {
    return true;
  }
}
