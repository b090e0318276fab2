package sparkslim.core.quant;

import java.io.Serializable;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import sparkslim.core.io.DType;

/**
 * Fake quantization for quantization-aware training: a linear's forward uses W̃ = dequantize(quantize(W)) on the grids of
 * {@code scheme}, computed from the current W (min/max, RTN, exactly as {@link RtnSolver} and the export compute them),
 * and its backward passes the gradient of W̃ to W unchanged (the straight-through estimator, Bengio et al. 2013). With
 * Quant-Noise (Fan et al., ICLR 2021) a training forward quantizes only a random subset of the blocks of
 * {@code noiseBlock} consecutive input weights of each row, each with probability {@code noise}; the others keep their
 * full-precision values (the master weights are never overwritten). Inference always quantizes all.
 *
 * <p>W changes only when the optimizer steps, so W̃ is computed once per weight version, not once per window: whoever
 * changes the weights calls {@link #weightsChanged} (the trainer after each step and after loading parameters), and the
 * next forward recomputes W̃ from the new values. One extra fp32 copy of the blocks' linears is held for it.
 */
public final class FakeQuant implements Serializable {
  private static final long serialVersionUID = 1L;
  private final QuantScheme scheme;
  private final DType working;
  private final double noise;
  private final int noiseBlock;
  private final AtomicLong version = new AtomicLong();
  private transient Map<float[], Cached> cache; // by weight array identity

  private record Cached(long version, float[] quantized) {}

  public FakeQuant(QuantScheme scheme, DType working, double noise, int noiseBlock) {
    if (!(noise > 0 && noise <= 1) || noiseBlock <= 0) {
      throw new IllegalArgumentException("Quant-Noise needs 0 < p <= 1 and a block of at least one weight, found p " + noise
          + ", block " + noiseBlock);
    }
    this.scheme = scheme;
    this.working = working;
    this.noise = noise;
    this.noiseBlock = noiseBlock;
  }

  public QuantScheme scheme() {
    return scheme;
  }

  public DType working() {
    return working;
  }

  public double noise() {
    return noise;
  }

  public int noiseBlock() {
    return noiseBlock;
  }

  /** The weights were changed in place: the next forward recomputes W̃ of every linear. */
  public void weightsChanged() {
    version.incrementAndGet();
  }

  /**
   * W̃ for W (rows, cols). {@code seed} null: inference, every weight quantized; else a training forward, with
   * p &lt; 1 each block of {@code noiseBlock} input weights of a row quantized with probability p, drawn from the seed
   * and the linear's {@code name}. The result is shared between forwards of the same weight version: read it only.
   */
  public float[] apply(float[] w, int rows, int cols, Long seed, String name) {
    float[] q = quantized(w, rows, cols); // (rows, cols)
    if (seed == null || noise >= 1) {
      return q;
    }
    float[] mixed = q.clone();
    SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name.hashCode() * 31L + 17);
    for (int r = 0; r < rows; r++) {
      for (int c0 = 0; c0 < cols; c0 += noiseBlock) {
        if (rnd.nextDouble() >= noise) { // not drawn: this block keeps its full-precision weights
          System.arraycopy(w, r * cols + c0, mixed, r * cols + c0, Math.min(noiseBlock, cols - c0));
        }
      }
    }
    return mixed;
  }

  /** RTN of the current {@code w}, computed once per {@link #weightsChanged version} (concurrent forwards wait for it). */
  private float[] quantized(float[] w, int rows, int cols) {
    long v = version.get();
    Map<float[], Cached> c;
    synchronized (this) {
      if (cache == null) {
        cache = new IdentityHashMap<>();
      }
      c = cache;
    }
    synchronized (w) { // one computation per weight; forwards of other linears go on
      Cached hit;
      synchronized (this) {
        hit = c.get(w);
      }
      if (hit != null && hit.version() == v) {
        return hit.quantized();
      }
      float[] q = RtnSolver.quantize(w, rows, cols, scheme, working).weights();
      synchronized (this) {
        c.put(w, new Cached(v, q));
      }
      return q;
    }
  }
}
