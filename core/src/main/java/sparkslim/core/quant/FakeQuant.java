package sparkslim.core.quant;

import java.io.Serializable;
import java.util.SplittableRandom;
import sparkslim.core.io.DType;

/**
 * Fake quantization for quantization-aware training: a linear's forward uses W̃ = dequantize(quantize(W)) on the grids of
 * {@code scheme}, recomputed from the current W at every forward (min/max, RTN, exactly as {@link RtnSolver} and the
 * export compute them), and its backward passes the gradient of W̃ to W unchanged (the straight-through estimator,
 * Bengio et al. 2013). With Quant-Noise (Fan et al., ICLR 2021) a training forward quantizes only a random subset of
 * the blocks of {@code noiseBlock} consecutive input weights of each row, each with probability {@code noise}; the
 * others keep their full-precision values (the master weights are never overwritten). Inference always quantizes all.
 */
public record FakeQuant(QuantScheme scheme, DType working, double noise, int noiseBlock) implements Serializable {
  public FakeQuant {
    if (!(noise > 0 && noise <= 1) || noiseBlock <= 0) {
      throw new IllegalArgumentException("Quant-Noise needs 0 < p <= 1 and a block of at least one weight, found p " + noise
          + ", block " + noiseBlock);
    }
  }

  /**
   * W̃ for W (rows, cols) as a new array. {@code seed} null: inference, every weight quantized; else a training forward,
   * with p &lt; 1 each block of {@code noiseBlock} input weights of a row quantized with probability p, drawn from the
   * seed and the linear's {@code name}.
   */
  public float[] apply(float[] w, int rows, int cols, Long seed, String name) {
    float[] q = RtnSolver.quantize(w, rows, cols, scheme, working).weights(); // (rows, cols)
    if (seed == null || noise >= 1) {
      return q;
    }
    SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name.hashCode() * 31L + 17);
    for (int r = 0; r < rows; r++) {
      for (int c0 = 0; c0 < cols; c0 += noiseBlock) {
        if (rnd.nextDouble() >= noise) { // not drawn: this block keeps its full-precision weights
          System.arraycopy(w, r * cols + c0, q, r * cols + c0, Math.min(noiseBlock, cols - c0));
        }
      }
    }
    return q;
  }
}
