package sparkslim.core.grad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import sparkslim.core.Examples;
import sparkslim.core.calib.CalibrationWindows;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.ModelDirectory;

/**
 * Golden check of the Taylor block importance of Shortened LLaMA (Kim et al. 2024) against examples/golden/depth_taylor.json,
 * which was computed in PyTorch fp32 (see its "protocol" field). Windows: rows 0..9, columns 0..127 of calibration_windows.
 * L = mean CE over all 10×127 predictions = Σ window losses / 1270; G = Σ window gradients / 1270 (windows summed in order).
 * Block score = Σ over the block's tensors named *.weight (linears and norms; biases excluded) of Σ|W ⊙ G|; magnitude score
 * = Σ|W| over the same tensors.
 */
class TaylorGoldenTest {
  private static final int WINDOWS = 10;
  private static final int SEQ_LEN = 128;
  private static final double LOSS_TOLERANCE = 1e-5;
  private static final double SCORE_TOLERANCE = 1e-3;

  @ParameterizedTest
  @ValueSource(strings = {"tiny-llama-imdb", "tiny-opt-imdb"})
  void taylorScoresMatchGolden(String model) throws Exception {
    Configuration conf = new Configuration();
    CausalLm lm = ModelDirectory.open(Examples.model(model).toString(), conf).loadModel();
    List<int[]> rows = CalibrationWindows.read(Examples.golden(model + ".calib.safetensors").toString(), lm.spec().vocabSize(), conf);
    JsonNode golden = new ObjectMapper().readTree(new File(Examples.golden("depth_taylor.json").toString())).get(model);
    CausalLmBackward bw = new CausalLmBackward(lm);
    int numBlocks = lm.numBlocks();

    long start = System.nanoTime();
    double lossSum = 0;
    Map<Integer, Map<String, double[]>> gradSum = null;
    for (int w = 0; w < WINDOWS; w++) {
      CausalLmBackward.Result r = bw.backward(Arrays.copyOf(rows.get(w), SEQ_LEN), Set.of());
      lossSum += r.loss();
      if (gradSum == null) {
        gradSum = r.gradients();
      } else {
        for (Map.Entry<Integer, Map<String, double[]>> b : r.gradients().entrySet()) {
          for (Map.Entry<String, double[]> t : b.getValue().entrySet()) {
            double[] acc = gradSum.get(b.getKey()).get(t.getKey());
            double[] g = t.getValue();
            for (int i = 0; i < g.length; i++) {
              acc[i] += g[i];
            }
          }
        }
      }
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    double predictions = WINDOWS * (SEQ_LEN - 1);
    double loss = lossSum / predictions;

    double[] taylor = new double[numBlocks];
    double[] magnitude = new double[numBlocks];
    for (int b = 0; b < numBlocks; b++) {
      for (String name : lm.spec().blockTensorShapes().keySet()) {
        if (!name.endsWith(".weight")) {
          continue;
        }
        double[] w = bw.parameter(b, name);
        double[] g = gradSum.get(b).get(name);
        for (int i = 0; i < w.length; i++) {
          taylor[b] += Math.abs(w[i] * g[i] / predictions);
          magnitude[b] += Math.abs(w[i]);
        }
      }
    }

    System.out.printf("%s: %d windows x %d tokens forward+backward in %.2f s%n", model, WINDOWS, SEQ_LEN, seconds);
    double goldenLoss = golden.get("loss").asDouble();
    System.out.printf("%s: loss %.10f, golden %.10f, relative difference %.3g%n", model, loss, goldenLoss, rel(loss, goldenLoss));
    double maxTaylor = 0;
    double maxMagnitude = 0;
    for (int b = 0; b < numBlocks; b++) {
      double gt = golden.get("taylor_block_scores").get(b).asDouble();
      double gm = golden.get("magnitude_block_scores").get(b).asDouble();
      System.out.printf("%s: block %d taylor %.8f (golden %.8f, rel %.2g), magnitude %.4f (golden %.4f, rel %.2g)%n",
          model, b, taylor[b], gt, rel(taylor[b], gt), magnitude[b], gm, rel(magnitude[b], gm));
      maxTaylor = Math.max(maxTaylor, rel(taylor[b], gt));
      maxMagnitude = Math.max(maxMagnitude, rel(magnitude[b], gm));
    }
    List<Integer> order = ascendingOrder(taylor);
    List<Integer> goldenOrder = new ArrayList<>();
    golden.get("taylor_order_raw").forEach(n -> goldenOrder.add(n.asInt()));
    System.out.printf("%s: max relative difference taylor %.3g, magnitude %.3g; raw order %s, golden %s%n",
        model, maxTaylor, maxMagnitude, order, goldenOrder);

    assertTrue(rel(loss, goldenLoss) <= LOSS_TOLERANCE, model + ": loss " + loss + " vs golden " + goldenLoss);
    assertEquals(numBlocks, golden.get("taylor_block_scores").size(), model + ": number of golden scores");
    assertTrue(maxTaylor <= SCORE_TOLERANCE, model + ": Taylor scores differ from golden by up to " + maxTaylor + " relative");
    assertTrue(maxMagnitude <= SCORE_TOLERANCE, model + ": magnitude scores differ from golden by up to " + maxMagnitude + " relative");
    assertEquals(goldenOrder, order, model + ": blocks by ascending Taylor score");
  }

  /** Block indices by ascending score, ties by index. */
  private static List<Integer> ascendingOrder(double[] score) {
    List<Integer> order = new ArrayList<>();
    for (int b = 0; b < score.length; b++) {
      order.add(b);
    }
    order.sort(Comparator.<Integer>comparingDouble(b -> score[b]).thenComparingInt(b -> b));
    return order;
  }

  private static double rel(double a, double b) {
    return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
  }
}
