package sparkslim.jobs.driver;

import java.io.Serializable;
import java.util.Random;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.prune.sparsellm.FfnKind;
import sparkslim.core.prune.sparsellm.FfnWeights;
import sparkslim.jobs.spark.ExecutorModels;

/**
 * Where the tasks of a SparseLLM alternation read one block's dense FFN from, one tensor at a time: a task reads what
 * its step needs (the solve of the input fit reads fc1/up and gate, the solve of the output fit reads fc2/down), so no
 * JVM loads the FFN whole unless it runs it (the capture of the dense variables).
 */
public interface DenseFfn extends Serializable {
  FfnKind kind();

  int hidden();

  int ffn();

  /** The dense weight of {@code linear} (a name of {@link #kind()}), fp32: (ffn, hidden) for fc1/up/gate, (hidden, ffn) for fc2/down. */
  float[] weight(String linear);

  /** The bias of {@code linear} (fc1: (ffn), fc2: (hidden)), or null if the layer has none. */
  float[] bias(String linear);

  /** The whole dense FFN. */
  default FfnWeights weights() {
    FfnKind k = kind();
    return new FfnWeights(k, hidden(), ffn(), weight(k.inName()), bias(k.inName()), k.gateName() == null ? null : weight(k.gateName()),
        weight(k.outName()), bias(k.outName()));
  }

  /** The same FFN with other matrices: the biases stay the dense ones (docs/sparsellm.md §1.2: b1, b2 are not refit). */
  default FfnWeights withMatrices(float[] in, float[] gate, float[] out) {
    FfnKind k = kind();
    return new FfnWeights(k, hidden(), ffn(), in, bias(k.inName()), gate, out, bias(k.outName()));
  }

  /** Block {@code block}'s FFN in the model files at {@code location} (as given to the job), read by each executor. */
  static DenseFfn ofModel(String location, int block, ModelSpec spec, FfnKind kind) {
    return new ModelFfn(location, block, kind, spec.hiddenSize(), spec.intermediateSize());
  }

  /** The model files' FFN of one block. */
  record ModelFfn(String location, int block, FfnKind kind, int hidden, int ffn) implements DenseFfn {
    @Override
    public float[] weight(String linear) {
      long[] shape = linear.equals(kind.outName()) ? new long[] {hidden, ffn} : new long[] {ffn, hidden};
      var model = ExecutorModels.open(location);
      return model.tensor(model.spec().blockPrefix(block) + linear + ".weight", shape).data();
    }

    @Override
    public float[] bias(String linear) {
      var model = ExecutorModels.open(location);
      String name = linear + ".bias";
      if (!model.spec().blockTensorShapes().containsKey(name)) {
        return null;
      }
      return model.tensor(model.spec().blockPrefix(block) + name, new long[] {linear.equals(kind.outName()) ? hidden : ffn}).data();
    }
  }

  /**
   * A LLaMA FFN of Gaussian weights (std 1/√fan-in, one seed per matrix, no biases), the same on every JVM: the
   * SparseLLM scale benchmark's dense FFN.
   */
  record Seeded(int hidden, int ffn, long seed) implements DenseFfn {
    @Override
    public FfnKind kind() {
      return FfnKind.LLAMA_SWIGLU;
    }

    @Override
    public float[] weight(String linear) {
      boolean out = linear.equals(kind().outName());
      long offset = linear.equals(kind().inName()) ? 0 : linear.equals(kind().gateName()) ? 1 : 2;
      Random rnd = new Random(seed + offset);
      int size = hidden * ffn;
      double scale = 1 / Math.sqrt(out ? ffn : hidden);
      float[] values = new float[size]; // (ffn, hidden) or (hidden, ffn)
      for (int i = 0; i < size; i++) {
        values[i] = (float) (rnd.nextGaussian() * scale);
      }
      return values;
    }

    @Override
    public float[] bias(String linear) {
      return null;
    }
  }
}
