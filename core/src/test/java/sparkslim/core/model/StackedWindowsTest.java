package sparkslim.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import sparkslim.core.Examples;

/** Several windows stacked into one forward (one product per linear over all their rows) against one window at a time. */
class StackedWindowsTest {
  private static final int SEQLEN = 96;

  @ParameterizedTest
  @ValueSource(strings = {"tiny-llama-imdb", "tiny-opt-imdb"})
  void stackedWindowsGiveTheNllsOfSingleWindows(String modelName) {
    CausalLm lm = ModelDirectory.open(Examples.model(modelName).toString(), new Configuration()).loadModel();
    SplittableRandom random = new SplittableRandom(7);
    List<int[]> windows = new ArrayList<>();
    for (int w = 0; w < 3; w++) {
      windows.add(random.ints(SEQLEN, 0, lm.spec().vocabSize()).toArray());
    }
    double[] stacked = lm.windowNlls(windows);
    for (int w = 0; w < windows.size(); w++) {
      double single = lm.windowNll(windows.get(w));
      // the products' rows are summed over the same inner dimension in the same order whatever the row count, so the
      // NLLs agree to the last bits; allow for a BLAS that splits rows differently
      assertEquals(single, stacked[w], 1e-6 * single, modelName + " window " + w);
    }
  }

  @Test
  void windowsPerProductFollowsTheWidestActivation() {
    assertEquals(8, CausalLm.windowsPerProduct(RandomModel.spec(RandomModel.Options.of(RandomModel.Preset.TINY_LLAMA)), 512));
    assertEquals(2, CausalLm.windowsPerProduct(RandomModel.spec(RandomModel.Options.of(RandomModel.Preset.LLAMA_7B)), 512));
    assertEquals(1, CausalLm.windowsPerProduct(RandomModel.spec(RandomModel.Options.of(RandomModel.Preset.LLAMA_70B)), 2048));
  }

  @Test
  void stackedWindowsMustHaveOneLengthAndATapeTakesOneWindow() {
    CausalLm lm = ModelDirectory.open(Examples.model("tiny-llama-imdb").toString(), new Configuration()).loadModel();
    assertThrows(IllegalArgumentException.class, () -> lm.windowNlls(List.of(new int[8], new int[9])));
    int d = lm.spec().hiddenSize();
    assertThrows(IllegalArgumentException.class, () -> lm.blocks().get(0).forward(new float[2 * 8 * d], 8, null, new DecoderBlock.Tape()));
  }
}
