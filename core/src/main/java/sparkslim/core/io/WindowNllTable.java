package sparkslim.core.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.avro.AvroParquetReader;
import org.apache.parquet.avro.AvroParquetWriter;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.hadoop.util.HadoopOutputFile;

/** The per-window NLL table ({@code WindowNll.avsc}) written as Parquet through parquet-avro. */
public final class WindowNllTable {
  public static final Schema SCHEMA = loadSchema("sparkslim/avro/WindowNll.avsc");

  /** One row; field names follow the Avro schema. */
  public record Row(String runId, String model, String text, int window, int seqlen, double nll, String executorId) {}

  private WindowNllTable() {}

  static Schema loadSchema(String resource) {
    try (InputStream in = WindowNllTable.class.getClassLoader().getResourceAsStream(resource)) {
      return new Schema.Parser().parse(in);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot load Avro schema " + resource, e);
    }
  }

  public static void write(Path file, List<Row> rows, Configuration conf) {
    try (ParquetWriter<GenericRecord> writer = AvroParquetWriter.<GenericRecord>builder(HadoopOutputFile.fromPath(file, conf))
        .withSchema(SCHEMA)
        .withCompressionCodec(CompressionCodecName.SNAPPY)
        .withConf(conf)
        .build()) {
      for (Row r : rows) {
        GenericRecord rec = new GenericData.Record(SCHEMA);
        rec.put("run_id", r.runId());
        rec.put("model", r.model());
        rec.put("text", r.text());
        rec.put("window", r.window());
        rec.put("seqlen", r.seqlen());
        rec.put("nll", r.nll());
        rec.put("executor_id", r.executorId());
        writer.write(rec);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write " + file, e);
    }
  }

  public static List<Row> read(Path file, Configuration conf) {
    List<Row> rows = new ArrayList<>();
    try (ParquetReader<GenericRecord> reader = AvroParquetReader.<GenericRecord>builder(HadoopInputFile.fromPath(file, conf)).withConf(conf).build()) {
      for (GenericRecord r = reader.read(); r != null; r = reader.read()) {
        rows.add(new Row(r.get("run_id").toString(), r.get("model").toString(), r.get("text").toString(), (Integer) r.get("window"),
            (Integer) r.get("seqlen"), (Double) r.get("nll"), r.get("executor_id").toString()));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + file, e);
    }
    return rows;
  }
}
