package sparkslim.core.prune;

import java.util.BitSet;

/** Argument checks and mask selection shared by the solvers. Row-major (rows, cols) matrices throughout. */
final class Masks {
  /** Config key of the target sparsity. */
  static final String SPARSITY_KEY = "pruning.sparsity";

  private Masks() {}

  /** Checks 0 ≤ sparsity &lt; 1 (NaN fails). */
  static void checkSparsity(String solver, double sparsity) {
    if (!(sparsity >= 0 && sparsity < 1)) {
      throw new IllegalArgumentException("Cannot create " + solver + ": '" + SPARSITY_KEY + "' is set to " + sparsity
          + " but must be in [0, 1)");
    }
  }

  /** Checks that {@code w} holds (rows, cols) values and that the mask structure tiles the columns. */
  static void checkWeights(float[] w, int rows, int cols, MaskStructure maskStructure) {
    if (rows <= 0 || cols <= 0 || w.length != (long) rows * cols) {
      throw new IllegalArgumentException("Cannot prune: weights of shape (" + rows + ", " + cols + ") need "
          + (long) rows * cols + " values, got " + w.length);
    }
    maskStructure.checkColumns(cols);
  }

  /**
   * N:M selection: in each row and each group of M consecutive columns, marks the N entries with the smallest
   * metric (ties: lowest column first) in {@code mask} (bit row·cols + col).
   */
  static void markSmallestPerGroup(float[] metric, int rows, int cols, MaskStructure maskStructure, BitSet mask) {
    int m = maskStructure.m();
    boolean[] selected = new boolean[m];
    for (int r = 0; r < rows; r++) {
      for (int g = 0; g < cols; g += m) {
        markSmallest(metric, r * cols + g, m, maskStructure.n(), selected);
        for (int j = 0; j < m; j++) {
          if (selected[j]) {
            mask.set(r * cols + g + j);
          }
        }
      }
    }
  }

  /**
   * Sets {@code selected[j]} for the {@code n} smallest of {@code values[from .. from+length)} (ties: lowest index
   * first, as a stable sort would pick them) and clears the others. O(n·length): groups are small.
   */
  static void markSmallest(float[] values, int from, int length, int n, boolean[] selected) {
    for (int j = 0; j < length; j++) {
      selected[j] = false;
    }
    for (int k = 0; k < n; k++) {
      int best = -1;
      for (int j = 0; j < length; j++) {
        if (!selected[j] && (best < 0 || values[from + j] < values[from + best])) {
          best = j;
        }
      }
      selected[best] = true;
    }
  }

  /** Sets every masked entry of {@code w} to exactly 0. */
  static void zeroMasked(float[] w, BitSet mask) {
    for (int i = mask.nextSetBit(0); i >= 0; i = mask.nextSetBit(i + 1)) {
      w[i] = 0f;
    }
  }

  /**
   * The value {@code Arrays.sort(copy)[k]} would give, in expected linear time (quickselect with median-of-three
   * pivots on a copy); {@code values} is not modified. Scores here are finite, so the float order is total.
   */
  static float kthSmallest(float[] values, int k) {
    float[] a = values.clone();
    int lo = 0;
    int hi = a.length - 1;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      float pivot = median(a[lo], a[mid], a[hi]);
      int i = lo;
      int j = hi;
      while (i <= j) {
        while (a[i] < pivot) {
          i++;
        }
        while (a[j] > pivot) {
          j--;
        }
        if (i <= j) {
          float t = a[i];
          a[i] = a[j];
          a[j] = t;
          i++;
          j--;
        }
      }
      if (k <= j) {
        hi = j;
      } else if (k >= i) {
        lo = i;
      } else {
        return a[k];
      }
    }
    return a[k];
  }

  /**
   * Marks exactly {@code k} entries of {@code values}: those smaller than the k-th smallest value, then entries equal
   * to it from the lowest index until k are marked. {@code marked} is overwritten.
   */
  static void markSmallestCount(float[] values, int k, boolean[] marked) {
    java.util.Arrays.fill(marked, false);
    if (k <= 0) {
      return;
    }
    float thr = kthSmallest(values, k - 1); // the largest marked value
    int below = 0;
    for (int e = 0; e < values.length; e++) {
      if (values[e] < thr) {
        marked[e] = true;
        below++;
      }
    }
    for (int e = 0; e < values.length && below < k; e++) {
      if (values[e] == thr) {
        marked[e] = true;
        below++;
      }
    }
  }

  private static float median(float x, float y, float z) {
    return Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
  }
}
