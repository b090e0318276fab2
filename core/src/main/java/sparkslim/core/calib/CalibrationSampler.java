package sparkslim.core.calib;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import sparkslim.core.SparkslimException;

/**
 * Draws calibration windows from one token stream exactly as SparseGPT's {@code datautils} does for wikitext2 and
 * ptb: {@code random.seed(seed)}, then for each sample {@code i = random.randint(0, n - seqlen - 1)} and the window
 * {@code tokens[i, i + seqlen)}. With the same tokens and seed the windows equal the Python reference's.
 */
public final class CalibrationSampler {
  /** Configuration key for the number of calibration windows. */
  public static final String NUM_SAMPLES_KEY = "calibration.num-samples";
  /** Configuration key for the tokens per calibration window. */
  public static final String SEQLEN_KEY = "calibration.seqlen";

  private CalibrationSampler() {}

  /**
   * Samples {@code numSamples} windows of {@code seqlen} tokens; windows may overlap and repeat, as in the reference.
   *
   * @param tokens the whole tokenized calibration text
   * @param source the text's file name, for error messages
   */
  public static List<int[]> sample(int[] tokens, int numSamples, int seqlen, long seed, String source) {
    if (numSamples <= 0) {
      throw new SparkslimException("'" + NUM_SAMPLES_KEY + "' is set to " + numSamples + " but must be > 0");
    }
    if (seqlen <= 0) {
      throw new SparkslimException("'" + SEQLEN_KEY + "' is set to " + seqlen + " but must be > 0");
    }
    long needed = (long) seqlen + 1;
    if (tokens.length < needed) {
      throw new SparkslimException("Calibration text " + source + " has " + tokens.length + " tokens, but at least "
          + needed + " are needed to sample windows of '" + SEQLEN_KEY + "' = " + seqlen + " tokens");
    }
    PythonRandom random = new PythonRandom(seed);
    long maxStart = tokens.length - needed;
    List<int[]> windows = new ArrayList<>(numSamples);
    for (int s = 0; s < numSamples; s++) {
      int start = (int) random.randint(0, maxStart);
      windows.add(Arrays.copyOfRange(tokens, start, start + seqlen));
    }
    return windows;
  }
}
