package sparkslim.core.compress;

import java.util.BitSet;
import sparkslim.core.io.DType;

/**
 * What a per-linear solver ({@link LinearSolver}) makes of one linear layer: the one result type the driver, the part
 * and shard files and the exporter handle, whatever the method. A linear is kept {@link Dense}, {@link Masked}
 * (pruned: magnitude, Wanda, SparseGPT, SparseLLM) or {@link Quantized} (integer codes with per-group scales).
 * Every variant gives the fp32 weights the layer computes with ({@link #weights()}), so evaluation and propagation
 * need not know which it is; a writer that stores the compressed form switches over the variants.
 */
public sealed interface CompressedLinear {
  /** (outFeatures, inFeatures) row-major fp32 weights as the layer computes with them (dequantized for {@link Quantized}). */
  float[] weights();

  /** Pruned entries (bit {@code row·inFeatures + col} set = pruned, and that weight is exactly 0), or null if none are. */
  BitSet mask();

  /** The solver's own loss estimate, NaN if it measures none. */
  double loss();

  /** A short tag if the solver fell back to another method (e.g. {@code "identity-hessian"}), else null. */
  String fallback();

  /** True if the solver fell back to another method; {@link #fallback()} says which. */
  default boolean usedFallback() {
    return fallback() != null;
  }

  /** A linear kept as it was (e.g. outside 'pruning.layers'). */
  record Dense(float[] weights) implements CompressedLinear {
    @Override
    public BitSet mask() {
      return null;
    }

    @Override
    public double loss() {
      return 0;
    }

    @Override
    public String fallback() {
      return null;
    }
  }

  /**
   * A pruned linear. The arrays are not copied: the solver hands over fresh ones.
   *
   * @param weights (outFeatures, inFeatures) pruned weights; every entry in {@code mask} is exactly 0
   * @param mask pruned entries, bit {@code row·inFeatures + col} set = pruned
   * @param loss SparseGPT: Σ (w − q)²/d²/2 over all entries (kept ones add 0) as in the reference, which equals
   *     ½·tr(ΔW·H·ΔWᵀ) for the damped Hessian H, i.e. ‖ΔW·Xᵀ‖²_F / numSamples for H = (2 / numSamples)·Σ XᵀX and
   *     negligible dampening. Magnitude and Wanda measure no loss: NaN.
   * @param sparsity the fraction of entries pruned, {@code mask.cardinality() / (outFeatures·inFeatures)}
   */
  record Masked(float[] weights, BitSet mask, double loss, double sparsity, String fallback) implements CompressedLinear {
    /** A result without fallback, the sparsity computed from the mask. */
    public static Masked of(float[] weights, BitSet mask, double loss) {
      return new Masked(weights, mask, loss, (double) mask.cardinality() / weights.length, null);
    }
  }

  /**
   * A quantized linear (docs/depth_quant.md §2.1, §2.8): signed integer codes, one scale (and for asymmetric schemes one
   * zero point) per group of {@code groupSize} consecutive input columns of a row, and the dequantized weights
   * w[r, c] = scale[r, g]·(code[r, c] − zeroPoint[r, g]) with g = gIdx[c] (or c / groupSize), in fp32 (exact for BF16
   * and F16 scales; what transformers computes loading the checkpoint in fp32). Per-channel quantization has groupSize =
   * cols; per-tensor quantization repeats its one scale on every row. The arrays are not copied.
   *
   * @param bits code width; codes and zero points lie in [−2^(bits−1), 2^(bits−1) − 1]
   * @param scaleDtype the dtype the scales are stored in (every scale is exactly representable in it)
   * @param codes (rows, cols) signed codes
   * @param scales (rows, cols / groupSize)
   * @param zeroPoints (rows, cols / groupSize) signed zero points, or null for a symmetric scheme (all 0)
   * @param gIdx (cols) the group of each input column when GPTQ's dynamic act-order permuted them, or null for c / groupSize
   * @param mask pruned entries (their dequantized weight is exactly 0), or null
   * @param loss the solver's loss estimate (GPTQ: Σ (w − q)²/d²/2, as SparseGPT), NaN if none
   */
  record Quantized(int rows, int cols, int bits, int groupSize, DType scaleDtype, byte[] codes, float[] scales,
                   byte[] zeroPoints, int[] gIdx, BitSet mask, double loss, String fallback)
      implements CompressedLinear, java.io.Serializable {
    public Quantized {
      if (bits < 1 || bits > 8 || groupSize < 1 || cols % groupSize != 0 || codes.length != (long) rows * cols
          || scales.length != (long) rows * (cols / groupSize) || (zeroPoints != null && zeroPoints.length != scales.length)
          || (gIdx != null && gIdx.length != cols)) {
        throw new IllegalArgumentException("Inconsistent quantized linear (" + rows + ", " + cols + "), " + bits + " bits, group "
            + groupSize + ": " + codes.length + " codes, " + scales.length + " scales, "
            + (zeroPoints == null ? "no" : String.valueOf(zeroPoints.length)) + " zero points, "
            + (gIdx == null ? "no" : String.valueOf(gIdx.length)) + " group indices");
      }
    }

    /** The number of groups per row, cols / groupSize. */
    public int groupsPerRow() {
      return cols / groupSize;
    }

    /** The group of input column {@code c}. */
    public int group(int c) {
      return gIdx != null ? gIdx[c] : c / groupSize;
    }

    /** The dequantized fp32 weights (rows, cols), a new array. */
    @Override
    public float[] weights() {
      int groups = groupsPerRow();
      float[] w = new float[codes.length]; // (rows, cols)
      for (int r = 0; r < rows; r++) {
        if (gIdx != null) {
          for (int c = 0; c < cols; c++) {
            int g = r * groups + gIdx[c];
            int zero = zeroPoints == null ? 0 : zeroPoints[g];
            w[r * cols + c] = scales[g] * (codes[r * cols + c] - zero);
          }
          continue;
        }
        for (int g = 0; g < groups; g++) { // contiguous groups: one scale and zero point per run of groupSize columns
          float scale = scales[r * groups + g];
          int zero = zeroPoints == null ? 0 : zeroPoints[r * groups + g];
          int from = r * cols + g * groupSize;
          for (int i = from; i < from + groupSize; i++) {
            w[i] = scale * (codes[i] - zero);
          }
        }
      }
      return w;
    }
  }
  /**
   * A low-rank linear (docs/depth_quant.md §5): W′ = U·V with U (rows, rank) and V (rank, cols), computed as
   * y = U·(V·x) by a factored model, or multiplied back by {@link #product} (fp32 sgemm) for a dense one. The arrays
   * are not copied.
   *
   * @param u (rows, rank) W_u = U_k·Σ_k^½
   * @param v (rank, cols) W_v = Σ_k^½·V_kᵀ·S⁻¹ (SVD-LLM) or Σ_k^½·V_kᵀ (SVD)
   * @param loss the truncation loss Σ_{i&gt;k} σ_i² of the dropped singular values: ‖(W − W′)·Xᵀ‖²_F over the
   *     calibration tokens for SVD-LLM (with the shifted Gram matrix if {@code fallback} says so), ‖W − W′‖²_F for SVD
   * @param fallback {@code "gram-shift <λ>"} when Σ XᵀX was not positive definite and was shifted by λ·I, else null
   */
  record Factored(int rows, int cols, int rank, float[] u, float[] v, double loss, String fallback) implements CompressedLinear {
    public Factored {
      if (rank < 1 || u.length != (long) rows * rank || v.length != (long) rank * cols) {
        throw new IllegalArgumentException("Inconsistent factored linear (" + rows + ", " + cols + ") of rank " + rank + ": U has "
            + u.length + " values, V " + v.length);
      }
    }

    /** W′ = U·V (rows, cols), a new array: the one product every reader of factors uses, so they agree to the bit. */
    public static float[] product(float[] u, int rows, int rank, float[] v, int cols) {
      return sparkslim.core.linalg.Blas.matmul(u, rows, rank, v, cols);
    }

    @Override
    public float[] weights() {
      return product(u, rows, rank, v, cols);
    }

    @Override
    public BitSet mask() {
      return null;
    }

    /** The parameters the factors hold, rank·(rows + cols). */
    public long parameters() {
      return (long) rank * (rows + cols);
    }
  }
}
