package sparkslim.core.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import sparkslim.core.Examples;
import sparkslim.core.io.SafetensorsFile;

/** The forward pass against PyTorch's fp32 reference tensors (examples/golden/*.golden.safetensors). */
class GoldenForwardTest {
  private static final double LOGIT_TOLERANCE = 1e-3;
  private static final double HIDDEN_TOLERANCE = 1e-3;
  private static final int GOLDEN_POSITIONS = 16;

  @ParameterizedTest
  @ValueSource(strings = {"tiny-llama-imdb", "tiny-opt-imdb"})
  void logitsAndHiddenStatesMatchGolden(String modelName) throws Exception {
    Configuration conf = new Configuration();
    CausalLm lm = ModelDirectory.open(Examples.model(modelName).toString(), conf).loadModel();
    SafetensorsFile golden = SafetensorsFile.open(FileSystem.getLocal(conf), new Path(Examples.golden(modelName + ".golden.safetensors").toString()));
    long[] ids = golden.readLongs("input_ids");
    long[] positions = golden.readLongs("logit_positions");
    float[] hidden = golden.readFloats("hidden_states_first16"); // (9, 16, hiddenSize)
    float[] logits = golden.readFloats("logits"); // (6, vocab)
    int[] tokens = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      tokens[i] = (int) ids[i];
    }
    int seqLen = tokens.length;
    int d = lm.spec().hiddenSize();
    int vocab = lm.spec().vocabSize();

    float[] h = lm.embed(tokens);
    assertHidden(hidden, 0, h, d, "embedding output");
    for (int i = 0; i < lm.numBlocks(); i++) {
      h = lm.block(i, h, seqLen);
      if (i < lm.numBlocks() - 1) {
        assertHidden(hidden, i + 1, h, d, "block " + i + " output");
      }
    }
    float[] last = lm.finalHidden(h, seqLen);
    assertHidden(hidden, lm.numBlocks(), last, d, "final norm output");
    float[] out = lm.logits(last, seqLen);
    double maxDiff = 0;
    for (int r = 0; r < positions.length; r++) {
      int p = (int) positions[r];
      for (int j = 0; j < vocab; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(out[p * vocab + j] - logits[r * vocab + j]));
      }
    }
    System.out.printf("%s: logits max |diff| = %.3g at positions %s%n", modelName, maxDiff, java.util.Arrays.toString(positions));
    assertTrue(maxDiff <= LOGIT_TOLERANCE, modelName + ": logits differ from golden by " + maxDiff);
  }

  private static void assertHidden(float[] golden, int entry, float[] actual, int d, String what) {
    double maxDiff = 0;
    for (int p = 0; p < GOLDEN_POSITIONS; p++) {
      for (int c = 0; c < d; c++) {
        float expected = golden[(entry * GOLDEN_POSITIONS + p) * d + c];
        maxDiff = Math.max(maxDiff, Math.abs(expected - actual[p * d + c]));
      }
    }
    System.out.printf("  hidden state %d (%s): max |diff| = %.3g%n", entry, what, maxDiff);
    assertTrue(maxDiff <= HIDDEN_TOLERANCE, what + " differs from golden hidden_states_first16[" + entry + "] by " + maxDiff);
  }
}
