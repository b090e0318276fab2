package sparkslim.core.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.avro.AvroParquetReader;
import org.apache.parquet.avro.AvroParquetWriter;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.hadoop.util.HadoopOutputFile;

/** The project's Avro schemas (resources under {@code sparkslim/avro/}) and Parquet read/write through parquet-avro. */
public final class AvroSchemas {
  private AvroSchemas() {}

  public static Schema load(String name) {
    String resource = "sparkslim/avro/" + name + ".avsc";
    try (InputStream in = AvroSchemas.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("Missing Avro schema " + resource + " on the class path");
      }
      return new Schema.Parser().parse(in);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot load Avro schema " + resource, e);
    }
  }

  /**
   * Writes {@code records} to {@code file} atomically: a hidden temporary file in the same directory, then a rename. The
   * temporary file's name is unique to the call, so two writers of the same file (two attempts of one Spark task: a
   * speculative copy, or a zombie attempt still running after a fetch failure resubmitted its stage) never write into
   * each other's temporary file: each renames a complete file into place. (A writer killed mid-write leaves its hidden
   * temporary file behind; readers never look at it.)
   */
  public static void writeAtomically(Path file, Schema schema, List<GenericRecord> records, Configuration conf) {
    writeAtomically(file, schema, records.iterator(), conf);
  }

  /** As {@link #writeAtomically(Path, Schema, List, Configuration)}, pulling the records one at a time. */
  public static void writeAtomically(Path file, Schema schema, java.util.Iterator<GenericRecord> records, Configuration conf) {
    writeAtomically(file, schema, records, conf, false);
  }

  /**
   * Writes {@code rows} converted one at a time by {@code toRecord}, each its own row group (one row in memory at a
   * time), atomically: the writer of a table of large rows (tensors, packed linears).
   */
  public static <T> void writeRowGroups(Path file, Schema schema, java.util.Iterator<T> rows,
                                        java.util.function.Function<T, GenericRecord> toRecord, Configuration conf) {
    writeAtomically(file, schema, new java.util.Iterator<GenericRecord>() {
      @Override
      public boolean hasNext() {
        return rows.hasNext();
      }

      @Override
      public GenericRecord next() {
        return toRecord.apply(rows.next());
      }
    }, conf, true);
  }

  /**
   * As {@link #writeAtomically(Path, Schema, java.util.Iterator, Configuration)}; with {@code rowGroupPerRecord}, each
   * record is its own row group, flushed to the file before the next one is pulled. A file of large records (a block's
   * tensors: LLaMA-7B's down_proj is 90 MB in bf16) is then written holding one record, never all of them. Without it,
   * Parquet buffers records until it first checks the row group's size, after 100 records: at 8 LLaMA-7B layers the
   * driver ran out of a 3 GB heap holding a whole block's shard.
   */
  public static void writeAtomically(Path file, Schema schema, java.util.Iterator<GenericRecord> records, Configuration conf,
                                     boolean rowGroupPerRecord) {
    Path tmp = new Path(file.getParent(), "." + file.getName() + "." + java.util.UUID.randomUUID() + ".tmp");
    try {
      FileSystem fs = file.getFileSystem(conf);
      try (ParquetWriter<GenericRecord> writer = AvroParquetWriter.<GenericRecord>builder(HadoopOutputFile.fromPath(tmp, conf))
          .withSchema(schema)
          .withCompressionCodec(CompressionCodecName.SNAPPY)
          .withRowGroupRowCountLimit(rowGroupPerRecord ? 1 : Integer.MAX_VALUE)
          .withConf(conf)
          .build()) {
        while (records.hasNext()) {
          writer.write(records.next());
        }
      }
      fs.delete(file, false);
      if (!fs.rename(tmp, file)) {
        throw new IOException("rename " + tmp + " -> " + file + " failed");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write " + file, e);
    }
  }

  public static List<GenericRecord> read(Path file, Configuration conf) {
    List<GenericRecord> rows = new ArrayList<>();
    forEach(file, conf, rows::add);
    return rows;
  }

  /** Reads {@code file} one record at a time. */
  public static void forEach(Path file, Configuration conf, java.util.function.Consumer<GenericRecord> action) {
    try (ParquetReader<GenericRecord> reader = AvroParquetReader.<GenericRecord>builder(HadoopInputFile.fromPath(file, conf)).withConf(conf).build()) {
      for (GenericRecord r = reader.read(); r != null; r = reader.read()) {
        action.accept(r);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + file, e);
    }
  }
}
