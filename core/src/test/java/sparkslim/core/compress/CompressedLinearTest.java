package sparkslim.core.compress;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.Test;
import sparkslim.core.calib.HessianAccumulator;
import sparkslim.core.io.DType;
import sparkslim.core.prune.LinearPruner;
import sparkslim.core.prune.MagnitudeSolver;
import sparkslim.core.prune.MaskStructure;
import sparkslim.core.prune.PruningMethod;
import sparkslim.core.prune.SparseGptSolver;
import sparkslim.core.prune.WandaSolver;

class CompressedLinearTest {

  @Test
  void quantizedDequantizesPerGroupWithAndWithoutZeroPoints() {
    // (2, 4), groups of 2: scales (2, 2)
    byte[] codes = {-2, 1, 3, 0, 7, -8, 2, 2};
    float[] scales = {0.5f, 0.25f, 1f, 2f};
    CompressedLinear.Quantized symmetric = new CompressedLinear.Quantized(2, 4, 4, 2, DType.F32, codes, scales, null, null, null, Double.NaN, null);
    assertArrayEquals(new float[] {-1f, 0.5f, 0.75f, 0f, 7f, -8f, 4f, 4f}, symmetric.weights());
    byte[] zeros = {1, 0, -1, 2};
    CompressedLinear.Quantized asymmetric = new CompressedLinear.Quantized(2, 4, 4, 2, DType.F32, codes, scales, zeros, null, null, Double.NaN, null);
    assertArrayEquals(new float[] {-1.5f, 0f, 0.75f, 0f, 8f, -7f, 0f, 0f}, asymmetric.weights());
    // a permuted group order (dynamic act-order): column c uses group gIdx[c]
    CompressedLinear.Quantized permuted = new CompressedLinear.Quantized(2, 4, 4, 2, DType.F32, codes, scales, null, new int[] {1, 0, 1, 0}, null,
        Double.NaN, null);
    assertArrayEquals(new float[] {-0.5f, 0.5f, 0.75f, 0f, 14f, -8f, 4f, 2f}, permuted.weights());
    // the dequantized weight is the exact product, not rounded to the scales' dtype (as transformers computes it in fp32)
    float scale = 1.0078125f; // 1 + 2^-7, a bf16 value
    CompressedLinear.Quantized bf16 = new CompressedLinear.Quantized(1, 2, 4, 2, DType.BF16, new byte[] {7, 1}, new float[] {scale}, null, null,
        null, Double.NaN, null);
    assertArrayEquals(new float[] {7.0546875f, scale}, bf16.weights(), "7·(1 + 2^-7) = 7.0546875, which bf16 would round to 7.0625");
    assertThrows(IllegalArgumentException.class, () -> new CompressedLinear.Quantized(2, 4, 4, 3, DType.F32, codes, scales, null, null, null, 0, null),
        "a group size that does not divide the columns");
    assertThrows(IllegalArgumentException.class, () -> new CompressedLinear.Quantized(2, 4, 4, 2, DType.F32, codes, new float[3], null, null, null,
        0, null));
  }

  @Test
  void denseAndMaskedCarryWhatTheWritersNeed() {
    CompressedLinear dense = new CompressedLinear.Dense(new float[] {1, 2});
    assertNull(dense.mask());
    assertNull(dense.fallback());
    BitSet mask = new BitSet();
    mask.set(1);
    CompressedLinear.Masked masked = CompressedLinear.Masked.of(new float[] {1, 0, 3, 4}, mask, Double.NaN);
    assertEquals(0.25, masked.sparsity());
    assertEquals(mask, masked.mask());
  }

  @Test
  void everyPruningMethodIsOneLinearSolverGivingWhatItsOwnMethodGives() {
    int rows = 8;
    int cols = 16;
    Random rnd = new Random(7);
    float[] w = new float[rows * cols]; // (rows, cols)
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) rnd.nextGaussian();
    }
    HessianAccumulator acc = new HessianAccumulator(cols);
    float[] x = new float[32 * cols]; // (tokens, cols)
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    acc.add(x, 32);
    for (PruningMethod method : PruningMethod.values()) {
      LinearPruner pruner = new LinearPruner(method, 0.5, MaskStructure.UNSTRUCTURED, 128, 0.01, false);
      LinearSolver solver = pruner.solver();
      CompressedLinear viaInterface = solver.solve(w, rows, cols, acc.statistics(), null);
      CompressedLinear direct = switch (method) {
        case MAGNITUDE -> assertInstanceOf(MagnitudeSolver.class, solver).solve(w, rows, cols);
        case WANDA -> ((WandaSolver) solver).solve(w, rows, cols, columnNorms(acc));
        case SPARSEGPT, SPARSELLM -> assertInstanceOf(SparseGptSolver.class, solver).solve(w, rows, cols, acc.statistics().hessian());
      };
      assertArrayEquals(direct.weights(), viaInterface.weights(), method.name());
      assertEquals(direct.mask(), viaInterface.mask(), method.name());
      assertArrayEquals(direct.weights(), pruner.prune(w, rows, cols, acc.statistics(), new double[cols * cols]).weights(), method.name());
    }
  }

  private static double[] columnNorms(HessianAccumulator acc) {
    double[] norms = new double[acc.inFeatures()];
    for (int c = 0; c < norms.length; c++) {
      norms[c] = Math.sqrt(acc.statistics().diagonal(c));
    }
    return norms;
  }
}
