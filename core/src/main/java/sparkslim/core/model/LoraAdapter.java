package sparkslim.core.model;

import java.io.Serializable;
import java.util.BitSet;
import java.util.SplittableRandom;
import sparkslim.core.linalg.Blas;

/**
 * A LoRA adapter of one linear (Hu et al., ICLR 2022, Eq. 3): y = x·Wᵀ + (α/r)·dropout(x)·Aᵀ·Bᵀ with A (r, in) and
 * B (out, r), so the merged weight is W' = W + (α/r)·B·A. New adapters start as PEFT's do: A uniform in
 * ±1/√in (kaiming_uniform with a = √5), B = 0, so training starts from the unadapted model. Dropout (inverted, the kept
 * inputs scaled by 1/(1 − p)) runs only in a training forward (a {@link DecoderBlock.Tape} with a dropout seed), its
 * mask drawn from that seed and the linear's name, so a recomputed forward draws the same mask.
 */
public final class LoraAdapter implements Serializable {
  private static final long serialVersionUID = 1L;
  private final int rank;
  private final int in;
  private final int out;
  private final double alpha;
  private final float scale; // α/r
  private final float dropout;
  private final float[] a; // (rank, in)
  private final float[] b; // (out, rank)

  public LoraAdapter(int rank, int in, int out, double alpha, double dropout, float[] a, float[] b) {
    if (rank <= 0 || a.length != (long) rank * in || b.length != (long) out * rank || !(dropout >= 0 && dropout < 1)) {
      throw new IllegalArgumentException("LoRA adapter of rank " + rank + " for (" + out + ", " + in + "): A has " + a.length
          + " values, B " + b.length + ", dropout " + dropout);
    }
    this.rank = rank;
    this.in = in;
    this.out = out;
    this.alpha = alpha;
    this.scale = (float) (alpha / rank);
    this.dropout = (float) dropout;
    this.a = a;
    this.b = b;
  }

  /** A new adapter: A uniform in ±1/√in from {@code seed}, B = 0. */
  public static LoraAdapter initial(int rank, int in, int out, double alpha, double dropout, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] a = new float[rank * in];
    double bound = 1 / Math.sqrt(in);
    for (int i = 0; i < a.length; i++) {
      a[i] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
    }
    return new LoraAdapter(rank, in, out, alpha, dropout, a, new float[out * rank]);
  }

  public float[] a() {
    return a;
  }

  public float[] b() {
    return b;
  }

  public int rank() {
    return rank;
  }

  public double alpha() {
    return alpha;
  }

  public float scale() {
    return scale;
  }

  /** y (rows, out) += (α/r)·dropout(x)·Aᵀ·Bᵀ for x (rows, in); keeps what {@link #backward} needs on the tape. */
  void forward(float[] x, int rows, float[] y, DecoderBlock.Tape tape, String name) {
    float[] xd = x;
    BitSet dropped = null;
    if (tape != null && tape.dropoutSeed() != null && dropout > 0) {
      SplittableRandom rnd = new SplittableRandom(tape.dropoutSeed() * 0x9E3779B97F4A7C15L + name.hashCode());
      xd = new float[x.length];
      dropped = new BitSet(x.length);
      float keep = 1 / (1 - dropout);
      for (int i = 0; i < x.length; i++) {
        if (rnd.nextDouble() < dropout) {
          dropped.set(i);
        } else {
          xd[i] = x[i] * keep;
        }
      }
    }
    float[] t = Blas.matmulTransposed(xd, rows, in, a, rank); // (rows, rank)
    Blas.addProductTransposed(y, scale, t, rows, rank, b, out);
    if (tape != null) {
      tape.put(name + ".lora.xd", xd);
      tape.put(name + ".lora.t", t);
      if (dropped != null) {
        tape.putMask(name + ".lora.dropped", dropped);
      }
    }
  }

  /**
   * Backward of {@link #forward}: with dT = (α/r)·dy·B, dB (out, r) += (α/r)·dyᵀ·T, dA (r, in) += dTᵀ·dropout(x) and
   * dx (rows, in) += dropout'(dT·A), each when given.
   */
  void backward(float[] dy, int rows, DecoderBlock.Tape tape, String name, float[] dx, float[] dA, float[] dB) {
    float[] t = tape.get(name + ".lora.t");
    if (dB != null) {
      Blas.addTransposedProduct(dB, scale, dy, rows, out, t, rank);
    }
    float[] dt = new float[rows * rank]; // (rows, rank)
    Blas.addProduct(dt, scale, dy, rows, out, b, rank);
    if (dA != null) {
      Blas.addTransposedProduct(dA, 1f, dt, rows, rank, tape.get(name + ".lora.xd"), in);
    }
    if (dx != null) {
      float[] dxd = Blas.matmul(dt, rows, rank, a, in); // (rows, in)
      BitSet dropped = tape.mask(name + ".lora.dropped");
      float keep = dropped == null ? 1f : 1 / (1 - dropout);
      for (int i = 0; i < dxd.length; i++) {
        dx[i] += dropped != null && dropped.get(i) ? 0f : dxd[i] * keep;
      }
    }
  }

  /** W' = W + (α/r)·B·A for W (out, in), a new array. */
  public float[] merged(float[] w) {
    float[] m = w.clone();
    Blas.addProduct(m, scale, b, out, rank, a, in);
    return m;
  }
}
