package sparkslim.core.depth;

import java.util.Map;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.Tensor;

/**
 * Block scores of the Taylor and magnitude criteria (Shortened LLaMA, Kim et al. 2024, §3.1 and the reference's
 * {@code block_prune.py}): a block's score is the sum over its weight tensors of an element-wise salience.
 */
public final class BlockImportance {
  private static final String WEIGHT_SUFFIX = ".weight";

  private BlockImportance() {}

  /**
   * A block tensor counts toward the Taylor and magnitude scores when it is a weight: the linears' weights and the norm
   * weights, not the biases (the reference keeps the parameters named "*weight*").
   */
  public static boolean isScored(String tensor) {
    return tensor.endsWith(WEIGHT_SUFFIX);
  }

  /** Magnitude criterion: Σ |W| over the block's scored tensors, in fp64. */
  public static double magnitude(DecoderBlock block) {
    double sum = 0;
    for (Map.Entry<String, Tensor> e : block.tensors().entrySet()) {
      if (isScored(e.getKey())) {
        for (float w : e.getValue().data()) {
          sum += Math.abs(w);
        }
      }
    }
    return sum;
  }

  /**
   * Taylor criterion for entries [offset, offset + gradientSum.length) of one tensor: Σ |W ⊙ ∂L/∂W| with
   * ∂L/∂W = gradientSum / predictions, where gradientSum is the gradient of the summed next-token NLL over all
   * calibration windows and predictions the number of predicted tokens (L is their mean). The absolute value is taken
   * after the sum over windows, as the reference does.
   *
   * @param w the tensor's values (row-major), e.g. (outFeatures, inFeatures)
   */
  public static double taylor(float[] w, int offset, double[] gradientSum, long predictions) {
    double sum = 0;
    for (int i = 0; i < gradientSum.length; i++) {
      sum += Math.abs(w[offset + i] * gradientSum[i]);
    }
    return sum / predictions;
  }
}
