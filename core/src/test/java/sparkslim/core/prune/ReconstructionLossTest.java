package sparkslim.core.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;
import sparkslim.core.calib.HessianAccumulator;

class ReconstructionLossTest {

  /** tr(ΔW·ΣXᵀX·ΔWᵀ)/tokens by fp32 blocks of columns equals ‖ΔW·Xᵀ‖²_F/tokens summed directly in fp64, to 1e-6. */
  @Test
  void equalsTheDirectFp64Sum() {
    int rows = 37;
    int cols = 1100; // two full column blocks of 512 and a partial one
    int tokens = 96;
    Random rnd = new Random(11);
    float[] x = new float[tokens * cols]; // (tokens, cols)
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (rnd.nextGaussian() * (1 + (i % cols) / 300.0));
    }
    HessianAccumulator acc = new HessianAccumulator(cols);
    acc.add(x, tokens);
    float[] before = new float[rows * cols]; // (rows, cols)
    float[] after = new float[rows * cols];
    for (int i = 0; i < before.length; i++) {
      before[i] = (float) rnd.nextGaussian();
      after[i] = rnd.nextBoolean() ? 0f : before[i] + (float) (0.01 * rnd.nextGaussian());
    }
    double direct = 0;
    for (int r = 0; r < rows; r++) {
      for (int t = 0; t < tokens; t++) {
        double y = 0;
        for (int c = 0; c < cols; c++) {
          y += ((double) before[r * cols + c] - after[r * cols + c]) * x[t * cols + c];
        }
        direct += y * y;
      }
    }
    direct /= tokens;
    double loss = LinearPruner.reconstructionLoss(before, after, rows, cols, acc.statistics());
    assertEquals(direct, loss, 1e-6 * direct);
    assertEquals(0.0, LinearPruner.reconstructionLoss(before, before, rows, cols, acc.statistics()));
  }
}
