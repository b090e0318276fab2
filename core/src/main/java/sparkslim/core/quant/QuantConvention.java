package sparkslim.core.quant;

/**
 * The two conventions of uniform linear quantization (docs/depth_quant.md §2.1). They give the same grid for
 * symmetric quantization, and differ for asymmetric quantization in how the zero point is rounded and clamped.
 * Internally every quantized linear holds signed codes with a signed zero point
 * ({@link sparkslim.core.compress.CompressedLinear.Quantized}); a writer
 * adds the offset 2^(bits−1) where its format stores unsigned values.
 */
public enum QuantConvention {
  /**
   * compressed-tensors / llm-compressor (§2.1 B): codes in [−2^(b−1), 2^(b−1) − 1]; symmetric scale = absmax /
   * ((qmax − qmin)/2) with zero point 0; asymmetric scale = (max − min)/(qmax − qmin), zero point =
   * round(clamp(qmin − min/scale)); q = round(clamp(x/scale + zp, qmin, qmax)).
   */
  SIGNED_ZERO_POINT,
  /**
   * GPTQ / AutoGPTQ (§2.1 A): codes in [0, 2^b − 1]; symmetric zero = 2^(b−1) (from the widened range, xmin = −xmax
   * when xmin &lt; 0); asymmetric scale = (xmax − xmin)/qmax, zero = round(−xmin/scale); q = clamp(round(x/scale) +
   * zero, 0, qmax); an all-zero range becomes [−1, 1].
   */
  UNSIGNED_ZERO
}
