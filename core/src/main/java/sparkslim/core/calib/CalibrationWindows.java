package sparkslim.core.calib;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsFile;

/**
 * Reads ready-made calibration windows (token ids) from a file, on any Hadoop file system. Two formats are accepted:
 *
 * <ul>
 *   <li>a safetensors file holding the tensor {@value #TENSOR}, dtype I64 (or I32), shape {@code [num_samples, seqlen]};
 *   <li>a Parquet file, or a directory of {@code *.parquet} files read in file-name order, whose records have a field
 *       {@value ParquetTokenRows#TOKENS_FIELD} holding an array of int or long token ids, one window per record.
 * </ul>
 *
 * Every id is checked against the model's {@code vocab_size}. Errors name the file, the tensor or field, what was
 * expected and what was found.
 */
public final class CalibrationWindows {
  /** The safetensors tensor that holds the windows. */
  public static final String TENSOR = "calibration_windows";
  /** The first bytes of every Parquet file. */
  private static final byte[] PARQUET_MAGIC = "PAR1".getBytes(StandardCharsets.US_ASCII);
  /** Rank of the windows tensor: {@code [num_samples, seqlen]}. */
  private static final int WINDOWS_RANK = 2;

  private CalibrationWindows() {}

  /**
   * Reads all windows of {@code location}.
   *
   * @param location a safetensors file, a Parquet file or a directory of Parquet files (local, {@code file://}, {@code hdfs://})
   * @param vocabSize the model's {@code vocab_size} from {@code config.json}; every id must lie in {@code [0, vocabSize)}
   */
  public static List<int[]> read(String location, int vocabSize, Configuration conf) {
    if (vocabSize <= 0) {
      throw new IllegalArgumentException("vocabSize must be > 0, got " + vocabSize);
    }
    Path path = new Path(location);
    try {
      FileSystem fs = path.getFileSystem(conf);
      Located windows = locate(fs, path);
      if (windows == null) {
        throw new SparkslimException("Calibration windows file " + path + " does not exist (expected " + EXPECTED + ")");
      }
      Path file = windows.status().getPath();
      return switch (windows.format()) {
        case PARQUET_DIRECTORY -> ParquetTokenRows.readDirectory(fs, file, vocabSize, conf);
        case PARQUET_FILE -> ParquetTokenRows.read(List.of(file), vocabSize, conf);
        case SAFETENSORS -> readSafetensors(fs, file, vocabSize);
      };
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read calibration windows from " + path, e);
    }
  }

  /** What a windows location may hold. */
  public static final String EXPECTED = "a safetensors file with tensor '" + TENSOR + "', a Parquet file or a directory of *.parquet files";

  /** How the windows at a location are stored. */
  public enum Format { SAFETENSORS, PARQUET_FILE, PARQUET_DIRECTORY }

  /** A windows location that exists, and its format. */
  public record Located(FileStatus status, Format format) {}

  /**
   * The windows location {@code path} and its format (a directory is read as Parquet files, a file by its magic bytes as
   * Parquet, else as safetensors), or null if nothing is there: the one place that decides how windows are read.
   */
  public static Located locate(FileSystem fs, Path path) throws IOException {
    FileStatus status;
    try {
      status = fs.getFileStatus(path);
    } catch (FileNotFoundException e) {
      return null;
    }
    Format format = status.isDirectory() ? Format.PARQUET_DIRECTORY : startsWithParquetMagic(fs, status) ? Format.PARQUET_FILE : Format.SAFETENSORS;
    return new Located(status, format);
  }

  /** True if the file starts with Parquet's magic bytes (else it is read as safetensors). */
  public static boolean startsWithParquetMagic(FileSystem fs, FileStatus status) throws IOException {
    if (status.getLen() < PARQUET_MAGIC.length) {
      return false;
    }
    byte[] head = new byte[PARQUET_MAGIC.length];
    try (FSDataInputStream in = fs.open(status.getPath())) {
      in.readFully(0, head);
    }
    return Arrays.equals(head, PARQUET_MAGIC);
  }

  private static List<int[]> readSafetensors(FileSystem fs, Path path, int vocabSize) {
    SafetensorsFile file = SafetensorsFile.open(fs, path);
    SafetensorsFile.Entry entry = file.entries().get(TENSOR);
    String where = "Tensor '" + TENSOR + "' in " + path;
    if (entry == null) {
      throw new SparkslimException("Tensor '" + TENSOR + "' is missing from calibration windows file " + path
          + ": expected an I64 tensor [num_samples, seqlen], found the tensors " + file.entries().keySet());
    }
    if (entry.dtype() != DType.I64 && entry.dtype() != DType.I32) {
      throw new SparkslimException(where + ": expected I64 or I32 token ids, found " + entry.dtype());
    }
    long[] shape = entry.shape();
    if (shape.length != WINDOWS_RANK) {
      throw new SparkslimException(where + ": expected [num_samples, seqlen], found shape " + Arrays.toString(shape));
    }
    if (shape[0] == 0 || shape[1] == 0) {
      throw new SparkslimException(where + ": expected [num_samples, seqlen] with at least one window of at least one token, found shape "
          + Arrays.toString(shape));
    }
    int rows = Math.toIntExact(shape[0]);
    int cols = Math.toIntExact(shape[1]);
    long[] flat = file.readLongs(TENSOR);
    List<int[]> windows = new ArrayList<>(rows);
    for (int r = 0; r < rows; r++) {
      int[] row = new int[cols];
      for (int c = 0; c < cols; c++) {
        row[c] = checkId(flat[r * cols + c], r, c, where, vocabSize);
      }
      windows.add(row);
    }
    return windows;
  }

  /** Returns {@code id} as an int, or throws when it lies outside {@code [0, vocabSize)}. */
  static int checkId(long id, int row, int column, String where, int vocabSize) {
    if (id < 0 || id >= vocabSize) {
      throw new SparkslimException(where + ": token id " + id + " at row " + row + ", column " + column
          + " is outside the vocabulary: expected 0 <= id < " + vocabSize + " (vocab_size in config.json)");
    }
    return (int) id;
  }

  /**
   * The first {@code numSamples} windows, each cut to its first {@code seqlen} tokens (copies).
   *
   * @throws SparkslimException if there are fewer windows or shorter windows than asked
   */
  public static List<int[]> firstRowsAndColumns(List<int[]> windows, int numSamples, int seqlen) {
    if (numSamples <= 0) {
      throw new SparkslimException("'" + CalibrationSampler.NUM_SAMPLES_KEY + "' is set to " + numSamples + " but must be > 0");
    }
    if (seqlen <= 0) {
      throw new SparkslimException("'" + CalibrationSampler.SEQLEN_KEY + "' is set to " + seqlen + " but must be > 0");
    }
    if (windows.size() < numSamples) {
      throw new SparkslimException("'" + CalibrationSampler.NUM_SAMPLES_KEY + "' is set to " + numSamples
          + " but the calibration windows file holds only " + windows.size() + " windows");
    }
    List<int[]> out = new ArrayList<>(numSamples);
    for (int r = 0; r < numSamples; r++) {
      int[] row = windows.get(r);
      if (row.length < seqlen) {
        throw new SparkslimException("'" + CalibrationSampler.SEQLEN_KEY + "' is set to " + seqlen
            + " but calibration window " + r + " holds only " + row.length + " tokens");
      }
      out.add(Arrays.copyOf(row, seqlen));
    }
    return out;
  }
}
