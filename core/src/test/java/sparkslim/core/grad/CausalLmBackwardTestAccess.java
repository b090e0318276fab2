package sparkslim.core.grad;

import java.util.Random;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.ModelSpec;

/** The random test models of {@link CausalLmBackwardTest} and the small shapes the training tests share. */
public final class CausalLmBackwardTestAccess {
  private CausalLmBackwardTestAccess() {}

  /** LLaMA: hidden 24, 4 heads of 12 (q width 48), 2 KV heads, FFN 40, vocab 61, 2 blocks, untied, no biases. */
  public static ModelSpec smallLlama() {
    return new ModelSpec(sparkslim.core.model.Architecture.LLAMA, 61, 24, 2, 4, 2, 12, 40, 64, 1e-5, 500.0, false, false, false, true, true,
        24, "float32");
  }

  /** OPT pre-LN: hidden 24, 4 heads of 6, FFN 40, vocab 61, 2 blocks, biases, tied head. */
  public static ModelSpec smallOpt() {
    return new ModelSpec(sparkslim.core.model.Architecture.OPT, 61, 24, 2, 4, 4, 6, 40, 32, 1e-5, 0, true, true, true, true, true, 24,
        "float32");
  }

  public static CausalLm randomModel(ModelSpec spec, Random rnd) {
    return CausalLmBackwardTest.randomModel(spec, rnd);
  }
}
