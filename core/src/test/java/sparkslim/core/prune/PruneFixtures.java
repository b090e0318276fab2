package sparkslim.core.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.BitSet;
import java.util.Random;
import sparkslim.core.calib.HessianAccumulator;
import sparkslim.core.compress.CompressedLinear;

/** Random weights and calibration inputs with a fixed seed, and the invariants every solver must keep. */
final class PruneFixtures {
  private PruneFixtures() {}

  /** Calibration inputs and their statistics for one linear layer. */
  record Calibration(int numSamples, int tokensPerSample, int inFeatures, float[] x, double[] hessian, double[] columnNorms) {
    /** All tokens, (numSamples·tokensPerSample, inFeatures). */
    int numTokens() {
      return numSamples * tokensPerSample;
    }
  }

  static float[] randomWeights(int rows, int cols, long seed) {
    Random rnd = new Random(seed);
    float[] w = new float[rows * cols]; // (rows, cols)
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) rnd.nextGaussian();
    }
    return w;
  }

  /**
   * Correlated inputs with column scales from 0.25 to 4: X = Z·A with Z Gaussian, A = I + 0.5·Gaussian/√cols.
   * Columns listed in {@code deadColumns} are all zero. H = (2/numSamples)·Σ XᵀX through {@link HessianAccumulator}.
   */
  static Calibration calibration(int inFeatures, int numSamples, int tokensPerSample, long seed, int... deadColumns) {
    Random rnd = new Random(seed);
    double[] a = new double[inFeatures * inFeatures]; // (inFeatures, inFeatures)
    for (int i = 0; i < inFeatures; i++) {
      for (int j = 0; j < inFeatures; j++) {
        a[i * inFeatures + j] = (i == j ? 1 : 0) + 0.5 * rnd.nextGaussian() / Math.sqrt(inFeatures);
      }
    }
    double[] scale = new double[inFeatures];
    for (int c = 0; c < inFeatures; c++) {
      scale[c] = 0.25 * Math.pow(16, rnd.nextDouble());
    }
    for (int d : deadColumns) {
      scale[d] = 0;
    }
    int numTokens = numSamples * tokensPerSample;
    float[] x = new float[numTokens * inFeatures]; // (numTokens, inFeatures)
    double[] z = new double[inFeatures];
    for (int t = 0; t < numTokens; t++) {
      for (int k = 0; k < inFeatures; k++) {
        z[k] = rnd.nextGaussian();
      }
      for (int c = 0; c < inFeatures; c++) {
        double v = 0;
        for (int k = 0; k < inFeatures; k++) {
          v += z[k] * a[k * inFeatures + c];
        }
        x[t * inFeatures + c] = (float) (scale[c] * v);
      }
    }
    HessianAccumulator hessian = new HessianAccumulator(inFeatures);
    int perSample = tokensPerSample * inFeatures;
    for (int s = 0; s < numSamples; s++) {
      float[] sample = new float[perSample];
      System.arraycopy(x, s * perSample, sample, 0, perSample);
      hessian.add(sample, tokensPerSample);
    }
    return new Calibration(numSamples, tokensPerSample, inFeatures, x, hessian.finish(), WandaSolver.columnNorms(hessian.statistics()));
  }

  /** tr(ΔW·H·ΔWᵀ) with ΔW = w − q, in fp64: the layer-wise reconstruction error the solvers minimise. */
  static double hessianError(float[] w, float[] q, int rows, int cols, double[] h) {
    double total = 0;
    double[] delta = new double[cols];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        delta[c] = (double) w[r * cols + c] - q[r * cols + c];
      }
      for (int i = 0; i < cols; i++) {
        double hd = 0;
        for (int j = 0; j < cols; j++) {
          hd += h[i * cols + j] * delta[j];
        }
        total += delta[i] * hd;
      }
    }
    return total;
  }

  /** ‖ΔW·Xᵀ‖²_F with ΔW = w − q (rows, cols) and X (numTokens, cols), in fp64. */
  static double outputError(float[] w, float[] q, int rows, int cols, float[] x, int numTokens) {
    double total = 0;
    for (int r = 0; r < rows; r++) {
      for (int t = 0; t < numTokens; t++) {
        double y = 0;
        for (int c = 0; c < cols; c++) {
          y += ((double) w[r * cols + c] - q[r * cols + c]) * x[t * cols + c];
        }
        total += y * y;
      }
    }
    return total;
  }

  /** Masked entries are exactly 0, the sparsity field matches the mask, and the mask lies inside the matrix. */
  static void assertMaskedAreZero(CompressedLinear.Masked result, int rows, int cols) {
    BitSet mask = result.mask();
    assertEquals(-1, mask.nextSetBit(rows * cols), "mask bit beyond the matrix");
    for (int i = mask.nextSetBit(0); i >= 0; i = mask.nextSetBit(i + 1)) {
      assertEquals(0, Float.floatToRawIntBits(result.weights()[i]) & 0x7FFF_FFFF, "pruned entry " + i + " is " + result.weights()[i]);
    }
    assertEquals((double) mask.cardinality() / (rows * cols), result.sparsity(), 0.0);
  }

  /** Exactly {@code n} pruned entries, and each of them zero, in every group of m consecutive columns of each row. */
  static void assertNOfM(CompressedLinear.Masked result, int rows, int cols, int n, int m) {
    for (int r = 0; r < rows; r++) {
      for (int g = 0; g < cols; g += m) {
        int pruned = 0;
        int zeros = 0;
        for (int j = 0; j < m; j++) {
          pruned += result.mask().get(r * cols + g + j) ? 1 : 0;
          zeros += result.weights()[r * cols + g + j] == 0f ? 1 : 0;
        }
        assertEquals(n, pruned, "pruned in row " + r + ", group " + g);
        assertEquals(n, zeros, "zeros in row " + r + ", group " + g);
      }
    }
    assertEquals((double) n / m, result.sparsity(), 0.0);
  }
}
