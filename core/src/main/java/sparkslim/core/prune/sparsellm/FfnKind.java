package sparkslim.core.prune.sparsellm;

/**
 * The two FFN shapes SparseLLM handles (docs/sparsellm.md §1.2 and §1.3). Both map an input x of width d
 * ({@code hidden}) through an intermediate of width f ({@code ffn}) back to width d.
 */
public enum FfnKind {
  /**
   * OPT: {@code fc1: d→f} with bias b1, ReLU, {@code fc2: f→d} with bias b2. Auxiliary variables per token:
   * z = fc1 output before the ReLU and p = fc2 input.
   */
  OPT_RELU,
  /**
   * LLaMA: {@code gate: d→f}, {@code up: d→f}, SiLU(gate)⊙up, {@code down: f→d}, no biases. Auxiliary variables
   * per token: z = up output, s = gate output (before the SiLU) and p = down input.
   */
  LLAMA_SWIGLU
}
