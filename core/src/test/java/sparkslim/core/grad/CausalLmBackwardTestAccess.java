package sparkslim.core.grad;

import java.util.Random;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.ModelSpec;

/** The random test models of {@link CausalLmBackwardTest}, for tests in other packages. */
public final class CausalLmBackwardTestAccess {
  private CausalLmBackwardTestAccess() {}

  public static CausalLm randomModel(ModelSpec spec, Random rnd) {
    return CausalLmBackwardTest.randomModel(spec, rnd);
  }
}
