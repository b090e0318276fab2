package sparkslim.core.model;

import java.io.Serializable;
import java.util.Arrays;
import sparkslim.core.compress.CompressedLinear;

/** A dense fp32 tensor in row-major order. Plain arrays, so it serializes cheaply for Spark broadcasts. */
public record Tensor(long[] shape, float[] data) implements Serializable {
  public Tensor {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    if (n != data.length) {
      throw new IllegalArgumentException("Tensor shape " + Arrays.toString(shape) + " needs " + n + " values, found " + data.length);
    }
  }

  /** The (rows, cols) fp32 weights of a quantized linear, dequantized ({@link CompressedLinear.Quantized#weights()}). */
  public static Tensor dequantized(CompressedLinear.Quantized q) {
    return new Tensor(new long[] {q.rows(), q.cols()}, q.weights());
  }

  public int rows() {
    return (int) shape[0];
  }

  public int cols() {
    return shape.length > 1 ? (int) shape[1] : 1;
  }
}
