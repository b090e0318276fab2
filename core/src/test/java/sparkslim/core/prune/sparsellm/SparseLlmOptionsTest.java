package sparkslim.core.prune.sparsellm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import sparkslim.core.SparkslimException;

/** Validation of {@link SparseLlmOptions}, by exact message. */
class SparseLlmOptionsTest {
  private static void assertMessage(String expected, Executable build) {
    assertEquals(expected, assertThrows(SparkslimException.class, build).getMessage());
  }

  @Test
  void defaultsAreTheReleasedConstants() {
    SparseLlmOptions opt = SparseLlmOptions.defaults(FfnKind.OPT_RELU);
    assertEquals(new SparseLlmOptions(0.1, 0.1, 0.1, 4, 2, 0.01), opt);
    SparseLlmOptions llama = SparseLlmOptions.defaults(FfnKind.LLAMA_SWIGLU);
    assertEquals(new SparseLlmOptions(5.0, 5.0, 5.0, 4, 2, 0.01), llama);
  }

  @Test
  void rejectsNonPositivePenalties() {
    assertMessage("'pruning.sparsellm.alpha' is set to 0.0 but must be > 0", () -> new SparseLlmOptions(0.0, 1, 1, 4, 2, 0.01));
    assertMessage("'pruning.sparsellm.beta' is set to -1.0 but must be > 0", () -> new SparseLlmOptions(1, -1.0, 1, 4, 2, 0.01));
    assertMessage("'pruning.sparsellm.gamma' is set to 0.0 but must be > 0", () -> new SparseLlmOptions(1, 1, 0.0, 4, 2, 0.01));
    assertMessage("'pruning.sparsellm.gamma' is set to NaN but must be > 0", () -> new SparseLlmOptions(1, 1, Double.NaN, 4, 2, 0.01));
  }

  @Test
  void rejectsInfinitePenalties() {
    assertMessage("'pruning.sparsellm.alpha' is set to Infinity but must be finite",
        () -> new SparseLlmOptions(Double.POSITIVE_INFINITY, 1, 1, 4, 2, 0.01));
  }

  @Test
  void rejectsIterationsBelowOne() {
    assertMessage("'pruning.sparsellm.iterations' is set to 0 but must be >= 1", () -> new SparseLlmOptions(1, 1, 1, 0, 2, 0.01));
  }

  @Test
  void rejectsBadSGradientSettings() {
    assertMessage("'pruning.sparsellm.s-gradient-steps' is set to -1 but must be >= 0", () -> new SparseLlmOptions(1, 1, 1, 1, -1, 0.01));
    assertMessage("'pruning.sparsellm.s-learning-rate' is set to 0.0 but must be > 0", () -> new SparseLlmOptions(1, 1, 1, 1, 2, 0.0));
  }
}
