package sparkslim.core.prune.sparsellm;

import sparkslim.core.SparkslimException;
import sparkslim.core.model.Architecture;
import sparkslim.core.model.ModelSpec;

/**
 * The two FFN shapes SparseLLM handles (docs/sparsellm.md §1.2 and §1.3). Both map an input x of width d
 * ({@code hidden}) through an intermediate of width f ({@code ffn}) back to width d.
 */
public enum FfnKind {
  /**
   * OPT: {@code fc1: d→f} with bias b1, ReLU, {@code fc2: f→d} with bias b2. Auxiliary variables per token:
   * z = fc1 output before the ReLU and p = fc2 input.
   */
  OPT_RELU("fc1", null, "fc2"),
  /**
   * LLaMA: {@code gate: d→f}, {@code up: d→f}, SiLU(gate)⊙up, {@code down: f→d}, no biases. Auxiliary variables
   * per token: z = up output, s = gate output (before the SiLU) and p = down input.
   */
  LLAMA_SWIGLU("mlp.up_proj", "mlp.gate_proj", "mlp.down_proj");

  private final String inName;
  private final String gateName;
  private final String outName;

  FfnKind(String inName, String gateName, String outName) {
    this.inName = inName;
    this.gateName = gateName;
    this.outName = outName;
  }

  /** The linear whose output is z: fc1 (OPT) or up_proj (LLaMA), relative to the block prefix. */
  public String inName() {
    return inName;
  }

  /** The linear whose output is s: gate_proj (LLaMA); null for OPT. */
  public String gateName() {
    return gateName;
  }

  /** The linear whose input is p: fc2 (OPT) or down_proj (LLaMA). */
  public String outName() {
    return outName;
  }

  /** True for the FFN linears (the ones SparseLLM's alternation prunes), false for attention. */
  public boolean isFfnLinear(String linear) {
    return linear.equals(inName) || linear.equals(outName) || linear.equals(gateName);
  }

  /**
   * The FFN kind of a model, for SparseLLM.
   *
   * @param source the config file, for the error message
   * @throws SparkslimException if the model's FFN is not one of the supported kinds
   */
  public static FfnKind of(ModelSpec spec, String source) {
    if (spec.architecture() == Architecture.OPT) {
      return OPT_RELU;
    }
    if (spec.architecture() == Architecture.LLAMA && !spec.mlpBias()) {
      return LLAMA_SWIGLU;
    }
    throw new SparkslimException("Cannot prune with 'pruning.method' sparsellm: " + source + " describes a " + spec.architecture()
        + " FFN " + (spec.mlpBias() ? "with 'mlp_bias': true" : "") + ", but SparseLLM supports only " + OPT_RELU
        + " (fc1 → ReLU → fc2) and " + LLAMA_SWIGLU + " (SiLU(gate)·up → down, without biases)");
  }
}
