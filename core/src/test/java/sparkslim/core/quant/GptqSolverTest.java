package sparkslim.core.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import sparkslim.core.calib.HessianAccumulator;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;

class GptqSolverTest {
  private static final int ROWS = 16;
  private static final int COLS = 256;

  @Test
  void withoutCorrelationsGptqIsRoundToNearest() {
    // H = I: U is diagonal, no error is fed forward, and every grid sees the unmodified W
    float[] w = IntPackingTest.random(ROWS, COLS, 5);
    double[] identity = new double[COLS * COLS];
    for (int i = 0; i < COLS; i++) {
      identity[i * COLS + i] = 1;
    }
    for (QuantScheme s : new QuantScheme[] {QuantScheme.group(4, 64, true, DType.BF16), QuantScheme.group(3, 128, false, DType.F16),
        new QuantScheme(8, true, QuantStrategy.CHANNEL, 0, QuantConvention.SIGNED_ZERO_POINT, DType.BF16)}) {
      for (ActOrder order : new ActOrder[] {ActOrder.OFF, ActOrder.STATIC}) {
        CompressedLinear.Quantized gptq = new GptqSolver(s, 128, 0.01, order).solveConsumingHessian(w, ROWS, COLS, identity.clone());
        CompressedLinear.Quantized rtn = RtnSolver.quantize(w, ROWS, COLS, s, DType.F32);
        assertArrayEquals(rtn.codes(), gptq.codes(), s.label() + " " + order);
        assertArrayEquals(rtn.scales(), gptq.scales(), s.label() + " " + order);
        assertArrayEquals(rtn.weights(), gptq.weights(), s.label() + " " + order);
      }
    }
  }

  @Test
  void gptqBeatsRoundToNearestOnCorrelatedInputsAndItsLossIsTheOutputError() {
    Random rnd = new Random(9);
    float[] w = IntPackingTest.random(ROWS, COLS, 6);
    int tokens = 2048;
    float[] x = new float[tokens * COLS]; // (tokens, cols): correlated inputs, with a few dominant channels
    for (int t = 0; t < tokens; t++) {
      double common = rnd.nextGaussian();
      for (int c = 0; c < COLS; c++) {
        x[t * COLS + c] = (float) ((0.7 * common + rnd.nextGaussian()) * (c % 17 == 0 ? 5 : 1));
      }
    }
    HessianAccumulator acc = new HessianAccumulator(COLS);
    acc.add(x, tokens);
    for (ActOrder order : ActOrder.values()) {
      QuantScheme s = QuantScheme.group(4, 32, false, DType.BF16);
      CompressedLinear.Quantized gptq = new GptqSolver(s, 64, 0.01, order).solve(w, ROWS, COLS, acc.statistics(), null);
      CompressedLinear.Quantized rtn = RtnSolver.quantize(w, ROWS, COLS, s, DType.F32);
      double gptqError = outputError(w, gptq.weights(), x, tokens);
      double rtnError = outputError(w, rtn.weights(), x, tokens);
      assertTrue(gptqError < 0.7 * rtnError, order + ": GPTQ " + gptqError + " against RTN " + rtnError);
      // the loss Σ (w − q)²/d²/2 = ½·tr(ΔW·H·ΔWᵀ) for the damped H, and H = (2/n)·Σ XᵀX with n = 1 sequence here:
      // about ‖ΔW·Xᵀ‖², the dampening adding a little
      double sumOfSquares = gptqError * tokens;
      assertEquals(sumOfSquares, gptq.loss(), 0.03 * sumOfSquares, order.name());
      if (order == ActOrder.DYNAMIC) {
        assertNotNull(gptq.gIdx());
        int[] perGroup = new int[COLS / 32];
        for (int g : gptq.gIdx()) {
          perGroup[g]++;
        }
        for (int n : perGroup) {
          assertEquals(32, n, "each group holds 32 columns");
        }
      } else {
        assertNull(gptq.gIdx(), "static act-order keeps g_idx trivial");
      }
    }
  }

  @Test
  void staticActOrderComputesEveryGridFromTheUnmodifiedWeights() {
    float[] w = IntPackingTest.random(ROWS, COLS, 7);
    Random rnd = new Random(1);
    float[] x = new float[512 * COLS];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian() * (1 + (i % COLS) / 64f);
    }
    HessianAccumulator acc = new HessianAccumulator(COLS);
    acc.add(x, 512);
    QuantScheme s = QuantScheme.group(4, 128, true, DType.BF16);
    CompressedLinear.Quantized gptq = new GptqSolver(s, 128, 0.01, ActOrder.STATIC).solve(w, ROWS, COLS, acc.statistics(), null);
    assertArrayEquals(RtnSolver.quantize(w, ROWS, COLS, s, DType.F32).scales(), gptq.scales());
  }

  @Test
  void deadInputsAreZeroedAndTheOrderIsByDecreasingDiagonal() {
    double[] h = {0, 0, 0, 0, 3, 0, 0, 0, 0.5};
    assertArrayEquals(new int[] {1, 0, 2}, GptqSolver.decreasingDiagonal(h, 3));
    float[] w = {1f, 2f, 3f, -1f, 0.5f, 2f};
    CompressedLinear.Quantized q = new GptqSolver(new QuantScheme(8, true, QuantStrategy.CHANNEL, 0, QuantConvention.SIGNED_ZERO_POINT,
        DType.F32), 2, 0.01, ActOrder.OFF).solveConsumingHessian(w, 2, 3, h.clone());
    assertEquals(0f, q.weights()[0]);
    assertEquals(0f, q.weights()[3]);
  }

  @Test
  void pruningAndQuantizingInOneSweepKeepsTheMaskAtExactZerosAndBeatsQuantizingAfterwards() {
    Random rnd = new Random(4);
    float[] w = IntPackingTest.random(ROWS, COLS, 8);
    int tokens = 1024;
    float[] x = new float[tokens * COLS];
    for (int t = 0; t < tokens; t++) {
      double common = rnd.nextGaussian();
      for (int c = 0; c < COLS; c++) {
        x[t * COLS + c] = (float) (0.6 * common + rnd.nextGaussian());
      }
    }
    HessianAccumulator acc = new HessianAccumulator(COLS);
    acc.add(x, tokens);
    QuantScheme s = QuantScheme.group(4, 128, true, DType.BF16);
    sparkslim.core.prune.MaskStructure twoFour = sparkslim.core.prune.MaskStructure.parse("2:4", "test");
    Object[][] cases = {{sparkslim.core.prune.MaskStructure.UNSTRUCTURED, ActOrder.OFF}, {twoFour, ActOrder.OFF},
        {sparkslim.core.prune.MaskStructure.UNSTRUCTURED, ActOrder.STATIC}, {sparkslim.core.prune.MaskStructure.UNSTRUCTURED, ActOrder.DYNAMIC}};
    for (Object[] c : cases) {
      sparkslim.core.prune.MaskStructure structure = (sparkslim.core.prune.MaskStructure) c[0];
      ActOrder order = (ActOrder) c[1];
      sparkslim.core.prune.SparseGptSolver pruner = new sparkslim.core.prune.SparseGptSolver(0.5, structure, 128, 0.01);
      CompressedLinear.Quantized joint = new GptqSolver(s, 128, 0.01, order, pruner).solve(w, ROWS, COLS, acc.statistics(), null);
      float[] q = joint.weights();
      assertEquals(ROWS * COLS / 2, joint.mask().cardinality(), structure + ", act-order " + order);
      for (int k = 0; k < q.length; k++) {
        assertEquals(joint.mask().get(k), q[k] == 0f, order + ", entry " + k + ": exactly 0 if and only if pruned");
      }
      if (!structure.isUnstructured()) {
        for (int g = 0; g < ROWS * COLS; g += 4) {
          assertEquals(2, joint.mask().get(g, g + 4).cardinality(), "2 of every 4");
        }
      }
      // pruning with SparseGPT, then rounding the kept weights to the same grid
      CompressedLinear.Masked pruned = pruner.solve(w, ROWS, COLS, acc.statistics(), null);
      float[] afterwards = RtnSolver.quantize(pruned.weights(), ROWS, COLS, s, DType.F32).weights();
      double jointError = outputError(w, q, x, tokens);
      double separateError = outputError(w, afterwards, x, tokens);
      assertTrue(jointError < separateError, structure + ", act-order " + order + ": joint " + jointError + " against separate " + separateError);
    }
    // an N:M group is M consecutive input columns: the joint sweep cannot take them in act-order
    assertThrows(IllegalArgumentException.class, () -> new GptqSolver(s, 128, 0.01, ActOrder.STATIC,
        new sparkslim.core.prune.SparseGptSolver(0.5, twoFour, 128, 0.01)));
  }

  @Test
  void keepZerosKeepsAPrunedInputsMaskInEveryColumnOrder() {
    Random rnd = new Random(5);
    float[] w = IntPackingTest.random(ROWS, COLS, 8);
    for (int k = 0; k < w.length; k++) {
      if (rnd.nextInt(2) == 0) {
        w[k] = 0f; // a pruned input
      }
    }
    int tokens = 512;
    float[] x = new float[tokens * COLS];
    for (int t = 0; t < tokens; t++) {
      double common = rnd.nextGaussian();
      for (int c = 0; c < COLS; c++) {
        x[t * COLS + c] = (float) (0.6 * common + rnd.nextGaussian() * (1 + c % 7));
      }
    }
    HessianAccumulator acc = new HessianAccumulator(COLS);
    acc.add(x, tokens);
    QuantScheme s = QuantScheme.group(4, 64, true, DType.BF16);
    for (ActOrder order : ActOrder.values()) {
      float[] kept = new GptqSolver(s, 128, 0.01, order, true).solve(w, ROWS, COLS, acc.statistics(), null).weights();
      float[] refilled = new GptqSolver(s, 128, 0.01, order).solve(w, ROWS, COLS, acc.statistics(), null).weights();
      int refilledNonZero = 0;
      for (int k = 0; k < w.length; k++) {
        if (w[k] == 0f) {
          assertEquals(0f, kept[k], order + ": input zero " + k + " stays 0");
          refilledNonZero += refilled[k] != 0f ? 1 : 0;
        }
      }
      assertTrue(refilledNonZero > 0, order + ": without keep-zeros GPTQ's updates refill pruned weights");
      // still GPTQ: better than rounding the kept weights to the same grid
      float[] rounded = RtnSolver.quantize(w, ROWS, COLS, s, DType.F32).weights();
      assertTrue(outputError(w, kept, x, tokens) < outputError(w, rounded, x, tokens), order.toString());
    }
  }

  private static double outputError(float[] w, float[] q, float[] x, int tokens) {
    double sum = 0;
    for (int t = 0; t < tokens; t++) {
      for (int r = 0; r < ROWS; r++) {
        double d = 0;
        for (int c = 0; c < COLS; c++) {
          d += (w[r * COLS + c] - q[r * COLS + c]) * (double) x[t * COLS + c];
        }
        sum += d * d;
      }
    }
    return sum / tokens;
  }
}
