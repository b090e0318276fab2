package sparkslim.core.prune.sparsellm;

import java.util.Random;

/** Small random data for the SparseLLM tests: d = 16, f = 48, 200 tokens in samples of 5..44 tokens. */
final class SparseLlmFixtures {
  static final int HIDDEN = 16;
  static final int FFN = 48;
  static final int NUM_TOKENS = 200;
  /** Token counts of the samples; they sum to {@link #NUM_TOKENS}. */
  static final int[] SAMPLE_TOKENS = {44, 5, 37, 29, 41, 44};

  private SparseLlmFixtures() {}

  /** Independent N(0, scale²) entries. */
  static float[] gaussian(Random rnd, int size, double scale) {
    float[] values = new float[size];
    for (int i = 0; i < size; i++) {
      values[i] = (float) (rnd.nextGaussian() * scale);
    }
    return values;
  }

  /** A copy with about half of the entries set to 0 at random (a stand-in for a SparseGPT mask). */
  static float[] halfPruned(Random rnd, float[] w) {
    float[] pruned = w.clone();
    for (int i = 0; i < pruned.length; i++) {
      if (rnd.nextBoolean()) {
        pruned[i] = 0f;
      }
    }
    return pruned;
  }

  /** Rows [from, to) of a row-major matrix of width {@code width}. */
  static float[] slice(float[] values, int width, int from, int to) {
    float[] part = new float[(to - from) * width];
    System.arraycopy(values, from * width, part, 0, part.length);
    return part;
  }

  /** x·Wᵀ + 1·bᵀ in fp64: x (n, in), w (out, in), bias (out) or null; returns (n, out). */
  static double[] linear64(double[] x, int n, int in, float[] w, int out, float[] bias) {
    double[] result = new double[n * out];
    for (int t = 0; t < n; t++) {
      for (int o = 0; o < out; o++) {
        double sum = bias == null ? 0 : bias[o];
        for (int i = 0; i < in; i++) {
          sum += x[t * in + i] * w[o * in + i];
        }
        result[t * out + o] = sum;
      }
    }
    return result;
  }

  static double[] toDouble(float[] values) {
    double[] result = new double[values.length];
    for (int i = 0; i < values.length; i++) {
      result[i] = values[i];
    }
    return result;
  }
}
