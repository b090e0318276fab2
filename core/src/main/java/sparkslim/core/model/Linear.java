package sparkslim.core.model;

import java.io.Serializable;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.linalg.Blas;

/**
 * y = x·Wᵀ + b for a HuggingFace Linear weight W (outFeatures, inFeatures), on the bundled OpenBLAS sgemm. W is held in
 * fp32, or in its stored 16-bit dtype and widened for each {@link #apply} (exact, so the result is the same), or as integer codes with scales, dequantized for each {@link #apply}.
 */
public final class Linear implements Serializable {
  private static final long serialVersionUID = 1L;
  private final Tensor weight; // (outFeatures, inFeatures), or null when held as half
  private final HalfTensor half; // (outFeatures, inFeatures), or null when held in fp32
  private final CompressedLinear.Quantized codes; // (outFeatures, inFeatures) codes and scales, or null
  private final float[] bias; // (outFeatures) or null

  public Linear(Tensor weight, Tensor bias) {
    this.weight = weight;
    this.half = null;
    this.codes = null;
    this.bias = bias == null ? null : bias.data();
  }

  /** A linear whose weight stays 16-bit in memory and is widened where used. */
  public Linear(HalfTensor weight, Tensor bias) {
    this.weight = null;
    this.half = weight;
    this.codes = null;
    this.bias = bias == null ? null : bias.data();
  }

  /**
   * A linear whose weight stays quantized in memory (a byte per code, the scales) and is dequantized for each
   * {@link #apply}, exactly as {@link CompressedLinear.Quantized#weights()}: the result is that of the fp32 weights.
   */
  public Linear(CompressedLinear.Quantized weight, Tensor bias) {
    this.weight = null;
    this.half = null;
    this.codes = weight;
    this.bias = bias == null ? null : bias.data();
  }

  /** The same bias with fp32 weights {@code w} (outFeatures, inFeatures) instead (a fake-quantized forward's). */
  public Linear withWeight(float[] w) {
    Linear l = new Linear(new Tensor(new long[] {outFeatures(), inFeatures()}, w), null);
    return bias == null ? l : new Linear(l.weight, new Tensor(new long[] {bias.length}, bias));
  }

  /** A linear held 16-bit when {@code half} is given, else in fp32 from {@code weight}. */
  public static Linear of(Tensor weight, HalfTensor half, Tensor bias) {
    return half != null ? new Linear(half, bias) : new Linear(weight, bias);
  }

  public int inFeatures() {
    return weight != null ? weight.cols() : half != null ? half.cols() : codes.cols();
  }

  public int outFeatures() {
    return weight != null ? weight.rows() : half != null ? half.rows() : codes.rows();
  }

  /** Whether the weight is held in fp32 (not widened from 16 bits or codes at each use). */
  public boolean heldInFp32() {
    return weight != null;
  }

  /** The weight in fp32 (widened into a new array when held as half). */
  public Tensor weight() {
    if (codes != null) {
      return Tensor.dequantized(codes);
    }
    return weight != null ? weight : half.toTensor();
  }

  /** x: (rows, inFeatures) row-major; returns (rows, outFeatures) row-major. */
  public float[] apply(float[] x, int rows) {
    int out = outFeatures();
    int in = inFeatures();
    Blas.Workspace ws = Blas.workspace();
    writeWeight(ws);
    float[] result = Blas.linear(ws, x, rows, in, out);
    if (bias != null) {
      for (int r = 0; r < rows; r++) {
        int base = r * out;
        for (int c = 0; c < out; c++) {
          result[base + c] += bias[c];
        }
      }
    }
    return result;
  }

  /**
   * Backward of {@link #apply}: x its input (rows, inFeatures), dy (rows, outFeatures). Accumulates, for each array
   * given (null ones are skipped, so a frozen weight costs no product): dx (rows, inFeatures) += dy·W,
   * dW (outFeatures, inFeatures) += dyᵀ·x, db (outFeatures) += Σ_rows dy.
   */
  public void backward(float[] dy, float[] x, int rows, float[] dx, float[] dW, float[] db) {
    int in = inFeatures();
    int out = outFeatures();
    if (dx != null) {
      Blas.Workspace ws = Blas.workspace();
      writeWeight(ws);
      Blas.addLinearInputGradient(ws, dx, dy, rows, out, in);
    }
    if (dW != null) {
      Blas.addLinearWeightGradient(Blas.workspace(), dW, dy, rows, out, x, in);
    }
    if (db != null) {
      for (int r = 0; r < rows; r++) {
        for (int c = 0; c < out; c++) {
          db[c] += dy[r * out + c];
        }
      }
    }
  }

  /** Writes W (outFeatures, inFeatures) into {@code ws}'s weight operand, widened or dequantized there when held so. */
  private void writeWeight(Blas.Workspace ws) {
    org.bytedeco.javacpp.FloatPointer w = ws.weight((long) outFeatures() * inFeatures());
    if (half != null) {
      half.widenInto(w);
    } else {
      Blas.put(w, weight != null ? weight.data() : codes.weights());
    }
  }

  /** Floating-point operations of one {@link #apply} call (2·rows·in·out). */
  public long flops(int rows) {
    return 2L * rows * inFeatures() * outFeatures();
  }
}
