package sparkslim.core.model;

import java.io.Serializable;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * y = x·Wᵀ + b on ND4J's sgemm. Holds the HuggingFace weight (outFeatures, inFeatures); the transposed
 * off-heap copy is built lazily on first use, so instances travel in Spark broadcasts as plain arrays.
 */
public final class Linear implements Serializable {
  private static final long serialVersionUID = 1L;
  private final Tensor weight; // (outFeatures, inFeatures)
  private final float[] bias; // (outFeatures) or null
  private transient volatile INDArray weightT; // (inFeatures, outFeatures), 'c' order

  public Linear(Tensor weight, Tensor bias) {
    this.weight = weight;
    this.bias = bias == null ? null : bias.data();
  }

  public int inFeatures() {
    return weight.cols();
  }

  public int outFeatures() {
    return weight.rows();
  }

  public Tensor weight() {
    return weight;
  }

  private INDArray weightT() {
    INDArray w = weightT;
    if (w == null) {
      synchronized (this) {
        if (weightT == null) {
          weightT = Nd4j.create(weight.data(), new long[] {weight.rows(), weight.cols()}, 'c').transpose().dup('c');
        }
        w = weightT;
      }
    }
    return w;
  }

  /** x: (rows, inFeatures) row-major; returns (rows, outFeatures) row-major. */
  public float[] apply(float[] x, int rows) {
    int in = inFeatures();
    int out = outFeatures();
    INDArray xs = Nd4j.create(x, new long[] {rows, in}, 'c');
    INDArray y = Nd4j.createUninitialized(DataType.FLOAT, new long[] {rows, out}, 'c');
    xs.mmul(weightT(), y);
    float[] result = y.data().asFloat();
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

  /** Multiply-add count of one {@link #apply} call, for FLOP accounting. */
  public long flops(int rows) {
    return 2L * rows * inFeatures() * outFeatures();
  }
}
