package sparkslim.core.model;

import java.io.Serializable;
import sparkslim.core.linalg.Blas;

/** y = x·Wᵀ + b for a HuggingFace Linear weight W (outFeatures, inFeatures), on the bundled OpenBLAS sgemm. */
public final class Linear implements Serializable {
  private static final long serialVersionUID = 1L;
  private final Tensor weight; // (outFeatures, inFeatures)
  private final float[] bias; // (outFeatures) or null

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

  /** x: (rows, inFeatures) row-major; returns (rows, outFeatures) row-major. */
  public float[] apply(float[] x, int rows) {
    int out = outFeatures();
    float[] result = Blas.matmulTransposed(x, rows, inFeatures(), weight.data(), out);
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

  /** Floating-point operations of one {@link #apply} call (2·rows·in·out). */
  public long flops(int rows) {
    return 2L * rows * inFeatures() * outFeatures();
  }
}
