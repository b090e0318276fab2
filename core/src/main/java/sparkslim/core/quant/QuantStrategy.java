package sparkslim.core.quant;

/**
 * How many weights share one scale (and zero point): compressed-tensors' {@code strategy} values
 * (docs/depth_quant.md §2.1, "Granularity").
 */
public enum QuantStrategy {
  /** One scale for the whole matrix. */
  TENSOR("tensor"),
  /** One scale per output row (scale shape (out, 1)). */
  CHANNEL("channel"),
  /** One scale per (output row, group of {@code groupSize} consecutive input columns). */
  GROUP("group");

  private final String configName;

  QuantStrategy(String configName) {
    this.configName = configName;
  }

  /** The name in compressed-tensors' {@code quantization_config} ({@code "strategy"}). */
  public String configName() {
    return configName;
  }
}
