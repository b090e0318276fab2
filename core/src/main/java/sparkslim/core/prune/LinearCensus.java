package sparkslim.core.prune;

import java.io.Serializable;

/**
 * Zero counts of compressed linears, for the report's {@code sparsity} and N:M {@code structure}: counted where a linear
 * is solved (or read back from its shard when a block is resumed) and added up on the driver, so the driver never holds
 * a block's weights to count them.
 *
 * @param numel entries
 * @param zeros entries exactly 0
 * @param groups groups of M consecutive inputs per output row (N:M only, else 0)
 * @param exactlyN groups holding exactly N zeros
 * @param atLeastN groups holding at least N zeros
 */
public record LinearCensus(long numel, long zeros, long groups, long exactlyN, long atLeastN) implements Serializable {
  public static final LinearCensus EMPTY = new LinearCensus(0, 0, 0, 0, 0);

  /** Counts {@code w} (rows, cols); groups of {@code mask}'s M inputs when it is N:M. */
  public static LinearCensus of(float[] w, int rows, int cols, MaskStructure mask) {
    long zeros = 0;
    for (float v : w) {
      zeros += v == 0f ? 1 : 0;
    }
    long groups = 0;
    long exactly = 0;
    long atLeast = 0;
    if (!mask.isUnstructured()) {
      for (int r = 0; r < rows; r++) {
        for (int g = 0; g + mask.m() <= cols; g += mask.m()) {
          int z = 0;
          for (int j = 0; j < mask.m(); j++) {
            z += w[r * cols + g + j] == 0f ? 1 : 0;
          }
          groups++;
          exactly += z == mask.n() ? 1 : 0;
          atLeast += z >= mask.n() ? 1 : 0;
        }
      }
    }
    return new LinearCensus(w.length, zeros, groups, exactly, atLeast);
  }

  public LinearCensus plus(LinearCensus o) {
    return new LinearCensus(numel + o.numel, zeros + o.zeros, groups + o.groups, exactlyN + o.exactlyN, atLeastN + o.atLeastN);
  }

  /** zeros / numel. */
  public double sparsity() {
    return zeros / (double) numel;
  }
}
