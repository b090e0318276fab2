package sparkslim.core.plan;

import java.math.BigDecimal;
import java.util.regex.Pattern;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;

/**
 * Strict parsing of one config value, with errors that name the key, the value found and what was expected. Stricter
 * than {@link Config#decimal}: only plain decimal numbers are numbers ({@code 0.5}, {@code .5}, {@code 5e-1}), never
 * {@code NaN}, {@code Infinity}, hex floats or {@code 0.5f}; only plain integers are integers.
 */
final class Values {
  private static final Pattern DECIMAL = Pattern.compile("[+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?");
  private static final Pattern INTEGER = Pattern.compile("[+-]?\\d+");
  private static final Pattern NON_FINITE = Pattern.compile("[+-]?(nan|inf|infinity)", Pattern.CASE_INSENSITIVE);

  private Values() {}

  /** The trimmed text of {@code key}. */
  static String text(Config c, ConfigKey key) {
    return c.string(key).trim();
  }

  /** A finite decimal number; {@code expected} (e.g. "in [0, 1)") completes "must be a finite number ...". */
  static double finite(Config c, ConfigKey key, String expected) {
    return finite(key.key(), text(c, key), expected);
  }

  static double finite(String key, String text, String expected) {
    String suffix = expected.isEmpty() ? "" : " " + expected;
    if (NON_FINITE.matcher(text).matches()) {
      throw new SparkslimException("'" + key + "' is set to " + text + " but must be a finite number" + suffix);
    }
    if (!DECIMAL.matcher(text).matches()) {
      throw new SparkslimException("'" + key + "' is set to '" + text + "' but must be a number" + suffix);
    }
    double v = Double.parseDouble(text);
    if (Double.isInfinite(v)) {
      throw new SparkslimException("'" + key + "' is set to " + text + " but must be a finite number" + suffix + " (it overflows a double)");
    }
    return v == 0 ? 0.0 : v; // -0 and 0 are the same setting
  }

  /** A 32-bit integer. */
  static int integer(Config c, ConfigKey key) {
    return integer(key.key(), text(c, key), "");
  }

  static int integer(String key, String text, String expected) {
    String suffix = expected.isEmpty() ? "" : " " + expected;
    if (!INTEGER.matcher(text).matches()) {
      throw new SparkslimException("'" + key + "' is set to '" + text + "' but must be an integer" + suffix);
    }
    try {
      return Integer.parseInt(text.startsWith("+") ? text.substring(1) : text);
    } catch (NumberFormatException e) {
      throw new SparkslimException("'" + key + "' is set to " + text + " but must be an integer between " + Integer.MIN_VALUE + " and "
          + Integer.MAX_VALUE + suffix);
    }
  }

  /** An integer of at least {@code min}; {@code meaning} (may be empty) explains the bound, e.g. "(0 = all windows)". */
  static int atLeast(Config c, ConfigKey key, int min, String meaning) {
    return bounded(c, key, min, ">= " + min, meaning);
  }

  /** An integer &gt; 0. */
  static int positive(Config c, ConfigKey key) {
    return bounded(c, key, 1, "> 0", "");
  }

  private static int bounded(Config c, ConfigKey key, int min, String bound, String meaning) {
    String expected = meaning.isEmpty() ? bound : bound + " " + meaning;
    int v = integer(key.key(), text(c, key), expected);
    if (v < min) {
      throw new SparkslimException("'" + key.key() + "' is set to " + v + " but must be " + expected);
    }
    return v;
  }

  /** {@code true} or {@code false}. */
  static boolean bool(Config c, ConfigKey key) {
    return c.bool(key);
  }

  /**
   * The canonical text of a number for fingerprints: its exact decimal expansion, so {@code 0.5}, {@code 0.50} and
   * {@code 5e-1} agree, and the text does not depend on the JDK's shortest-representation rules.
   */
  static String canonical(double v) {
    return new BigDecimal(v == 0 ? 0.0 : v).stripTrailingZeros().toPlainString();
  }
}
