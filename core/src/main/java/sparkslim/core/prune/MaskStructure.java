package sparkslim.core.prune;

import java.io.Serializable;
import sparkslim.core.SparkslimException;

/**
 * The shape of a pruning mask: {@link #UNSTRUCTURED} (any entries, chosen by the sparsity) or N:M (in every group
 * of M consecutive input columns of each row, exactly N entries are pruned; the sparsity is then N/M and the
 * configured sparsity is ignored). Text form: {@code unstructured}, {@code 2:4}, {@code 4:8}, ...
 *
 * @param n pruned entries per group; 0 for unstructured
 * @param m group width; 0 for unstructured
 */
public record MaskStructure(int n, int m) implements Serializable {
  /** Config key of the mask structure. */
  public static final String KEY = "pruning.mask-structure";

  /** Any entries may be pruned. */
  public static final MaskStructure UNSTRUCTURED = new MaskStructure(0, 0);

  private static final String UNSTRUCTURED_TEXT = "unstructured";
  private static final String ALLOWED_FORMS = "Allowed: 'unstructured' or 'N:M' with integers 0 < N < M, e.g. '2:4' or '4:8'";

  public MaskStructure {
    if (!(n == 0 && m == 0) && !(0 < n && n < m)) {
      throw new IllegalArgumentException("Cannot create mask structure " + n + ":" + m + ": need 0 < N < M, or N = M = 0 for unstructured");
    }
  }

  /** N:M: prune {@code n} of every {@code m} consecutive input columns in each row. */
  public static MaskStructure nOfM(int n, int m) {
    return new MaskStructure(n, m);
  }

  /**
   * Parses {@code unstructured} or {@code N:M} with integers 0 &lt; N &lt; M (surrounding blanks ignored).
   *
   * @param key the config key the text came from, named in the error message
   * @throws SparkslimException naming the key, the value and the allowed forms
   */
  public static MaskStructure parse(String text, String key) {
    String value = text == null ? "" : text.strip();
    if (value.equalsIgnoreCase(UNSTRUCTURED_TEXT)) {
      return UNSTRUCTURED;
    }
    String[] parts = value.split(":", -1);
    if (parts.length != 2) {
      throw invalid(key, text, "expected 'unstructured' or the form 'N:M'");
    }
    int n;
    int m;
    try {
      n = Integer.parseInt(parts[0].strip());
      m = Integer.parseInt(parts[1].strip());
    } catch (NumberFormatException e) {
      throw invalid(key, text, "N and M must be integers");
    }
    if (n <= 0) {
      throw invalid(key, text, "N must be greater than 0");
    }
    if (n >= m) {
      throw invalid(key, text, "N must be less than M");
    }
    return new MaskStructure(n, m);
  }

  /** True for {@link #UNSTRUCTURED}. */
  public boolean isUnstructured() {
    return m == 0;
  }

  /**
   * Checks that an N:M structure tiles a row of {@code cols} input columns; does nothing for unstructured.
   *
   * @throws IllegalArgumentException if cols is not a multiple of M
   */
  public void checkColumns(int cols) {
    if (!isUnstructured() && cols % m != 0) {
      throw new IllegalArgumentException("Cannot apply '" + KEY + "' " + this + " to a matrix with " + cols
          + " input columns: the column count must be a multiple of M = " + m);
    }
  }

  /** The text form: {@code unstructured} or {@code N:M}. */
  @Override
  public String toString() {
    return isUnstructured() ? UNSTRUCTURED_TEXT : n + ":" + m;
  }

  private static SparkslimException invalid(String key, String text, String reason) {
    return new SparkslimException("Cannot parse '" + key + "' value '" + text + "': " + reason + ". " + ALLOWED_FORMS);
  }
}
