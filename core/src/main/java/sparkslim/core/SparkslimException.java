package sparkslim.core;

/**
 * A user error: bad input file, bad configuration key or value. The message names the file, tensor or key,
 * what was expected and what was found. Entry points turn it into a one-line error and a non-zero exit code.
 */
public class SparkslimException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public SparkslimException(String message) {
    super(message);
  }

  public SparkslimException(String message, Throwable cause) {
    super(message, cause);
  }
}
