package sparkslim.core.prune.sparsellm;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import sparkslim.core.linalg.ExactSums;

/**
 * Mergeable statistics of one FFN for one SparseLLM alternation: what executors compute from the per-token
 * variables they hold (x, z, s, p, y) and the driver needs to refit the weights (docs/sparsellm.md §1.2 step 1,
 * §1.3 step 1) and to check the objective. All tokens-as-rows; d = {@code hidden}, f = {@code ffn}.
 * <ul>
 *   <li>{@link #input()}: A = X (n, d); B = z (n, f) for OPT (fits fc1, bias b1), B = [z | s] (n, 2f) for LLaMA
 *       (rows [0, f) of the fit are W_up, rows [f, 2f) are W_gate; both share ΣXᵀX).</li>
 *   <li>{@link #output()}: A = p (n, f), B = Y (n, d), the dense FFN output (fits fc2 / down; ΣpᵀP is also the
 *       refreshed fc2 / down Hessian, §1.2 step 2).</li>
 *   <li>{@link #objective()}: Σ over samples of the per-sample objective values added with {@link #addObjective}.</li>
 * </ul>
 * Every sum is an {@link ExactSums}, so the result does not depend on partitioning or merge order (see
 * {@link LeastSquaresAccumulator}). Zero value: {@code new FfnStatistics(kind, hidden, ffn)}; seqOp: {@link #add};
 * combOp: {@link #merge}.
 */
public final class FfnStatistics implements Serializable {
  private static final long serialVersionUID = 1L;
  /** Components of each least-squares fit in {@link #components()}: 6 (see {@link LeastSquaresAccumulator#components()}). */
  public static final int INPUT_COMPONENTS = 6;
  public static final int OUTPUT_COMPONENTS = 6;

  private final FfnKind kind;
  private final int hidden;
  private final int ffn;
  private final LeastSquaresAccumulator input; // A = X (n, d); B = z or [z | s]
  private final LeastSquaresAccumulator output; // A = p (n, f); B = Y (n, d)
  private final ExactSums objective; // (1)

  /** Empty statistics for an FFN d → f → d. */
  public FfnStatistics(FfnKind kind, int hidden, int ffn) {
    this.kind = kind;
    this.hidden = hidden;
    this.ffn = ffn;
    this.input = emptyInput(kind, hidden, ffn);
    this.output = emptyOutput(hidden, ffn);
    this.objective = new ExactSums(1);
  }

  /**
   * Adds one sample's variables.
   *
   * @param x (numTokens, hidden) FFN input (constant)
   * @param z (numTokens, ffn) fc1 pre-activation (OPT) or up output (LLaMA)
   * @param s (numTokens, ffn) gate pre-activation for LLaMA; must be null for OPT
   * @param p (numTokens, ffn) fc2 / down input
   * @param y (numTokens, hidden) dense FFN output (constant)
   * @return this
   */
  public FfnStatistics add(float[] x, float[] z, float[] s, float[] p, float[] y, int numTokens) {
    if ((kind == FfnKind.LLAMA_SWIGLU) != (s != null)) {
      throw new IllegalArgumentException("Cannot accumulate " + kind + " FFN statistics: the gate pre-activation s must be "
          + (kind == FfnKind.LLAMA_SWIGLU ? "given" : "null"));
    }
    checkShape("z", z, numTokens, ffn);
    checkShape("p", p, numTokens, ffn);
    checkShape("y", y, numTokens, hidden);
    if (s == null) {
      input.add(x, z, numTokens);
    } else {
      checkShape("s", s, numTokens, ffn);
      input.addStacked(x, numTokens, z, s);
    }
    output.add(p, y, numTokens);
    return this;
  }

  /** An empty accumulator of the fc1 / stacked up-gate fit ({@link #input()}) for statistics of this kind and shape. */
  public static LeastSquaresAccumulator emptyInput(FfnKind kind, int hidden, int ffn) {
    return new LeastSquaresAccumulator(hidden, kind == FfnKind.LLAMA_SWIGLU ? 2 * ffn : ffn);
  }

  /** An empty accumulator of the fc2 / down fit ({@link #output()}). */
  public static LeastSquaresAccumulator emptyOutput(int hidden, int ffn) {
    return new LeastSquaresAccumulator(ffn, hidden);
  }

  /** Adds one sample's objective value (from {@link AuxiliaryUpdates#objectiveOpt} / {@code objectiveLlama}). */
  public FfnStatistics addObjective(double value) {
    objective.add(0, value);
    return this;
  }

  /**
   * Adds another partial into this one (the combOp). Either side may be empty.
   *
   * @throws IllegalArgumentException if the kinds or sizes differ; the message names both
   */
  public FfnStatistics merge(FfnStatistics other) {
    if (other.kind != kind || other.hidden != hidden || other.ffn != ffn) {
      throw new IllegalArgumentException("Cannot merge FFN statistics of different shapes: this is " + kind + " (" + hidden
          + " → " + ffn + "), other is " + other.kind + " (" + other.hidden + " → " + other.ffn + ")");
    }
    input.merge(other.input);
    output.merge(other.output);
    objective.merge(other.objective);
    return this;
  }

  /**
   * Every live exact sum, in a fixed order: {@link #input()}'s components, {@link #output()}'s, then the objective.
   * The driver merges them slice by slice (so no single message holds the whole statistics) and rebuilds
   * {@link Sums} with {@link #decode(FfnKind, int, int, List)}.
   */
  public List<ExactSums> components() {
    List<ExactSums> all = new ArrayList<>(input.components());
    all.addAll(output.components());
    all.add(objective);
    return all;
  }

  /** The decoded statistics (what the driver holds): fp64 arrays of the weights' and Gram matrices' sizes. */
  public record Sums(FfnKind kind, int hidden, int ffn, LeastSquaresSums input, LeastSquaresSums output, double objective) {}

  /** Decodes these statistics. */
  public Sums decode() {
    List<double[]> decoded = new ArrayList<>();
    for (ExactSums c : components()) {
      decoded.add(c.toDoubles());
    }
    return decode(kind, hidden, ffn, decoded);
  }

  /** {@link Sums} from the decoded {@link #components()} of statistics of this kind and shape. */
  public static Sums decode(FfnKind kind, int hidden, int ffn, List<double[]> components) {
    int inputOut = kind == FfnKind.LLAMA_SWIGLU ? 2 * ffn : ffn;
    return new Sums(kind, hidden, ffn, LeastSquaresSums.decode(hidden, inputOut, components.subList(0, 6)),
        LeastSquaresSums.decode(ffn, hidden, components.subList(6, 12)), components.get(12)[0]);
  }

  /** Component sizes, in the order of {@link #components()}, for statistics of this kind and shape. */
  public static int[] componentSizes(FfnKind kind, int hidden, int ffn) {
    int inputOut = kind == FfnKind.LLAMA_SWIGLU ? 2 * ffn : ffn;
    return new int[] {LeastSquaresAccumulator.packedSize(hidden), inputOut * hidden, hidden, inputOut, inputOut, 2,
        LeastSquaresAccumulator.packedSize(ffn), hidden * ffn, ffn, hidden,
        hidden, 2, 1};
  }

  /** Statistics of the fc1 (OPT) or stacked up/gate (LLaMA) fit; the live accumulator, not a copy. */
  public LeastSquaresAccumulator input() {
    return input;
  }

  /** Statistics of the fc2 / down fit; the live accumulator, not a copy. */
  public LeastSquaresAccumulator output() {
    return output;
  }

  /** Σ of the objective values added. */
  public double objective() {
    return objective.toDouble(0);
  }

  public FfnKind kind() {
    return kind;
  }

  public int hidden() {
    return hidden;
  }

  public int ffn() {
    return ffn;
  }

  private static void checkShape(String name, float[] values, int numTokens, int width) {
    if (values.length != (long) numTokens * width) {
      throw new IllegalArgumentException("Cannot accumulate FFN statistics: expected " + name + " of shape (" + numTokens
          + ", " + width + ") = " + (long) numTokens * width + " values, got " + values.length);
    }
  }
}
