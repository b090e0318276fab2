package sparkslim.core.calib;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.avro.AvroParquetReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import sparkslim.core.SparkslimException;

/**
 * Reads calibration windows from Parquet through parquet-avro: one window per record, in field
 * {@value #TOKENS_FIELD} (an array of int or long). Arrays written by Spark come back as records with one field
 * {@value #SPARK_ELEMENT_FIELD}; both shapes are accepted.
 */
final class ParquetTokenRows {
  /** The record field holding a window's token ids. */
  static final String TOKENS_FIELD = "tokens";
  /** The field of the per-element record of a Spark-written (three-level) Parquet list. */
  static final String SPARK_ELEMENT_FIELD = "element";
  private static final String PARQUET_SUFFIX = ".parquet";

  private ParquetTokenRows() {}

  /** Reads every {@code *.parquet} file of {@code dir} in file-name order (hidden and {@code _} files skipped). */
  static List<int[]> readDirectory(FileSystem fs, Path dir, int vocabSize, Configuration conf) throws IOException {
    List<Path> files = new ArrayList<>();
    for (FileStatus s : fs.listStatus(dir)) {
      String name = s.getPath().getName();
      if (s.isFile() && name.endsWith(PARQUET_SUFFIX) && !name.startsWith(".") && !name.startsWith("_")) {
        files.add(s.getPath());
      }
    }
    if (files.isEmpty()) {
      throw new SparkslimException("Calibration windows directory " + dir + " holds no *" + PARQUET_SUFFIX
          + " files: expected Parquet files with an array field '" + TOKENS_FIELD + "'");
    }
    files.sort(Comparator.comparing(Path::getName));
    return read(files, vocabSize, conf);
  }

  /** Reads the files in the given order; all windows must have the same length. */
  static List<int[]> read(List<Path> files, int vocabSize, Configuration conf) {
    List<int[]> windows = new ArrayList<>();
    Path firstFile = null;
    for (Path file : files) {
      try (ParquetReader<GenericRecord> reader =
          AvroParquetReader.<GenericRecord>builder(HadoopInputFile.fromPath(file, conf)).withConf(conf).build()) {
        int rowInFile = 0;
        for (GenericRecord rec = reader.read(); rec != null; rec = reader.read(), rowInFile++) {
          int[] row = tokens(rec, file, rowInFile, vocabSize);
          if (windows.isEmpty()) {
            firstFile = file;
          } else if (row.length != windows.get(0).length) {
            throw new SparkslimException("Field '" + TOKENS_FIELD + "' in " + file + ": expected every window to have the same length, found "
                + row.length + " tokens at row " + rowInFile + " but " + windows.get(0).length + " tokens at row 0 of " + firstFile);
          }
          windows.add(row);
        }
      } catch (IOException | RuntimeException e) {
        if (e instanceof SparkslimException) {
          throw (SparkslimException) e;
        }
        throw new SparkslimException("Cannot read calibration windows from Parquet file " + file + ": expected a Parquet file with an array field '"
            + TOKENS_FIELD + "', found an unreadable file (" + e + ")", e);
      }
    }
    if (windows.isEmpty()) {
      throw new SparkslimException("Field '" + TOKENS_FIELD + "' in " + files.get(0) + (files.size() > 1 ? " and " + (files.size() - 1) + " more files" : "")
          + ": expected at least one window, found 0 rows");
    }
    if (windows.get(0).length == 0) {
      throw new SparkslimException("Field '" + TOKENS_FIELD + "' in " + firstFile + ": expected windows of at least one token, found empty arrays");
    }
    return windows;
  }

  private static int[] tokens(GenericRecord rec, Path file, int row, int vocabSize) {
    String where = "Field '" + TOKENS_FIELD + "' in " + file;
    Schema.Field field = rec.getSchema().getField(TOKENS_FIELD);
    if (field == null) {
      throw new SparkslimException(where + ": the field is missing; expected an array of int or long token ids, found the fields "
          + rec.getSchema().getFields().stream().map(Schema.Field::name).toList());
    }
    Object value = rec.get(field.pos());
    if (!(value instanceof Collection<?> values)) {
      throw new SparkslimException(where + ": expected an array of int or long token ids at row " + row + ", found "
          + (value == null ? "null" : value.getClass().getSimpleName() + " " + value));
    }
    int[] out = new int[values.size()];
    int column = 0;
    for (Object element : values) {
      Object v = element instanceof GenericRecord r ? elementOf(r, where, row, column) : element;
      if (!(v instanceof Integer || v instanceof Long)) {
        throw new SparkslimException(where + ": expected int or long token ids, found "
            + (v == null ? "null" : v.getClass().getSimpleName() + " " + v) + " at row " + row + ", column " + column);
      }
      out[column] = CalibrationWindows.checkId(((Number) v).longValue(), row, column, where, vocabSize);
      column++;
    }
    return out;
  }

  private static Object elementOf(GenericRecord r, String where, int row, int column) {
    Schema.Field f = r.getSchema().getField(SPARK_ELEMENT_FIELD);
    if (f == null && r.getSchema().getFields().size() == 1) {
      f = r.getSchema().getFields().get(0); // older list encodings name the single field "array" or "item"
    }
    if (f == null) {
      throw new SparkslimException(where + ": expected list elements that are ids or records with one field '" + SPARK_ELEMENT_FIELD
          + "', found a record with fields " + Arrays.toString(r.getSchema().getFields().stream().map(Schema.Field::name).toArray())
          + " at row " + row + ", column " + column);
    }
    return r.get(f.pos());
  }
}
