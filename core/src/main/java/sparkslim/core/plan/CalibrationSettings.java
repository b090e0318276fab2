package sparkslim.core.plan;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;
import sparkslim.core.calib.CalibrationWindows;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsFile;
import sparkslim.core.model.ModelSpec;

/**
 * {@code calibration.*}: where the calibration windows come from and how many of what length.
 *
 * @param text a text file to sample windows from (SparseGPT sampler); empty when {@code windows} is used
 * @param windows a windows file (safetensors or Parquet) whose first rows and columns are used; empty when {@code text} is used
 * @param numSamples windows used, &gt; 0
 * @param seqlen tokens per window, &ge; 2
 * @param seed seed of the sampler (Python {@code random.seed})
 * @param partitions Spark partitions of the samples; 0 = automatic
 */
public record CalibrationSettings(String text, String windows, int numSamples, int seqlen, int seed, int partitions) {

  /**
   * Parses and checks the {@code calibration.*} keys. With {@code sourceRequired} exactly one of {@code calibration.text}
   * and {@code calibration.windows} must be set; without it (a job that may not read calibration data) neither is checked.
   */
  public static CalibrationSettings of(Config c, boolean sourceRequired) {
    String text = Values.text(c, ConfigKey.CALIBRATION_TEXT);
    String windows = Values.text(c, ConfigKey.CALIBRATION_WINDOWS);
    int numSamples = Values.positive(c, ConfigKey.CALIBRATION_NUM_SAMPLES);
    int seqlen = Values.atLeast(c, ConfigKey.CALIBRATION_SEQLEN, 2, "");
    int seed = Values.integer(c, ConfigKey.CALIBRATION_SEED);
    int partitions = Values.atLeast(c, ConfigKey.CALIBRATION_PARTITIONS, 0, "(0 = automatic)");
    if (sourceRequired && windows.isEmpty() == text.isEmpty()) {
      throw new SparkslimException("Exactly one of '" + ConfigKey.CALIBRATION_WINDOWS.key() + "' and '" + ConfigKey.CALIBRATION_TEXT.key()
          + "' must be set, found " + (windows.isEmpty() ? "neither" : "both"));
    }
    return new CalibrationSettings(text, windows, numSamples, seqlen, seed, partitions);
  }

  /** The Spark partitions of the samples: {@code calibration.partitions}, or 2 × {@code defaultParallelism} when it is 0. */
  public int partitions(int defaultParallelism) {
    return partitions > 0 ? partitions : 2 * defaultParallelism;
  }

  /** True when the windows come from {@code calibration.windows}. */
  public boolean fromWindowsFile() {
    return !windows.isEmpty();
  }

  /** A window must fit the model's positions ({@code source} names its config.json). */
  public void check(ModelSpec spec, String source) {
    if (seqlen > spec.maxPositionEmbeddings()) {
      throw new SparkslimException("'" + ConfigKey.CALIBRATION_SEQLEN.key() + "' is set to " + seqlen + " but must be at most the model's "
          + "max_position_embeddings, " + spec.maxPositionEmbeddings() + " (" + source + ")");
    }
  }

  /**
   * The first {@code numSamples} windows of {@code seqlen} tokens of the windows file. A safetensors file is checked from
   * its header first (tensor, dtype, shape against {@code num-samples} and {@code seqlen}); then every token id is checked
   * against {@code vocab_size}. Errors name {@code calibration.windows} (or the count key that asks for too much).
   */
  public List<int[]> readWindowsFile(ModelSpec spec, Configuration conf) {
    if (!fromWindowsFile()) {
      throw new IllegalStateException("'" + ConfigKey.CALIBRATION_WINDOWS.key() + "' is not set");
    }
    checkWindowsHeader(conf);
    List<int[]> all;
    try {
      all = CalibrationWindows.read(windows, spec.vocabSize(), conf);
    } catch (SparkslimException e) {
      throw namingKey(e);
    }
    return CalibrationWindows.firstRowsAndColumns(all, numSamples, seqlen);
  }

  /** For a safetensors windows file: the tensor, its dtype and its shape, from the header alone. Parquet is left to the reader. */
  void checkWindowsHeader(Configuration conf) {
    String key = ConfigKey.CALIBRATION_WINDOWS.key();
    Path path = new Path(windows);
    try {
      FileSystem fs = path.getFileSystem(conf);
      CalibrationWindows.Located located = CalibrationWindows.locate(fs, path);
      if (located == null) {
        throw new SparkslimException("'" + key + "' is set to " + windows + ", which does not exist: expected " + CalibrationWindows.EXPECTED);
      }
      if (located.format() != CalibrationWindows.Format.SAFETENSORS) {
        return;
      }
      FileStatus status = located.status();
      SafetensorsFile file;
      try {
        file = SafetensorsFile.open(fs, status.getPath());
      } catch (SparkslimException e) {
        throw namingKey(e);
      }
      SafetensorsFile.Entry entry = file.entries().get(CalibrationWindows.TENSOR);
      String where = "'" + key + "' is set to " + status.getPath() + ", whose tensor '" + CalibrationWindows.TENSOR + "'";
      if (entry == null) {
        throw new SparkslimException("'" + key + "' is set to " + status.getPath() + ", which has no tensor '" + CalibrationWindows.TENSOR
            + "': expected an I64 tensor [num_samples, seqlen], found the tensors " + file.entries().keySet());
      }
      if (entry.dtype() != DType.I64 && entry.dtype() != DType.I32) {
        throw new SparkslimException(where + " has dtype " + entry.dtype() + " but must hold I64 or I32 token ids");
      }
      long[] shape = entry.shape();
      if (shape.length != 2) {
        throw new SparkslimException(where + " has shape " + Arrays.toString(shape) + " but must be [num_samples, seqlen]");
      }
      if (shape[0] < numSamples) {
        throw new SparkslimException("'" + ConfigKey.CALIBRATION_NUM_SAMPLES.key() + "' is set to " + numSamples + " but " + status.getPath()
            + " ('" + key + "') holds only " + shape[0] + " windows");
      }
      if (shape[1] < seqlen) {
        throw new SparkslimException("'" + ConfigKey.CALIBRATION_SEQLEN.key() + "' is set to " + seqlen + " but the windows of "
            + status.getPath() + " ('" + key + "') hold only " + shape[1] + " tokens");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read calibration windows from " + path, e);
    }
  }

  /** A reader's error about the windows file, prefixed with the key unless it names a calibration key already. */
  private SparkslimException namingKey(SparkslimException e) {
    if (e.getMessage() != null && e.getMessage().contains("'calibration.")) {
      return e;
    }
    return new SparkslimException("'" + ConfigKey.CALIBRATION_WINDOWS.key() + "' = " + windows + ": " + e.getMessage(), e);
  }

  /** The settings that decide which windows are used, one per line, in a canonical form. */
  String canonical() {
    return String.join("\n",
        ConfigKey.CALIBRATION_TEXT.key() + "=" + canonicalPath(text),
        ConfigKey.CALIBRATION_WINDOWS.key() + "=" + canonicalPath(windows),
        ConfigKey.CALIBRATION_NUM_SAMPLES.key() + "=" + numSamples,
        ConfigKey.CALIBRATION_SEQLEN.key() + "=" + seqlen,
        ConfigKey.CALIBRATION_SEED.key() + "=" + seed);
  }

  /** A path in Hadoop's normal form (no doubled or trailing slashes); empty stays empty. */
  static String canonicalPath(String p) {
    return p.isEmpty() ? "" : new Path(p).toString();
  }
}
