package sparkslim.core.io;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AvroSchemasTest {
  private static final Schema SCHEMA = new Schema.Parser().parse(
      "{\"type\": \"record\", \"name\": \"Row\", \"fields\": [{\"name\": \"value\", \"type\": \"int\"}]}");

  @TempDir
  Path tmp;

  private static GenericRecord row(int value) {
    GenericRecord r = new GenericData.Record(SCHEMA);
    r.put("value", value);
    return r;
  }

  /**
   * Two attempts of one Spark task (a speculative copy, or a zombie attempt after a fetch failure) write the same part
   * file at once. Here the second write runs, whole, in the middle of the first one: each must finish and leave a
   * complete file. With one shared temporary name, the second deleted the first one's temporary file and the first
   * then failed to rename it.
   */
  @Test
  void overlappingWritesOfOneFileBothComplete() {
    Configuration conf = new Configuration();
    org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(tmp.resolve("part.parquet").toString());
    Iterator<GenericRecord> first = new Iterator<>() {
      private int i;

      @Override
      public boolean hasNext() {
        return i < 3;
      }

      @Override
      public GenericRecord next() {
        if (i == 1) {
          AvroSchemas.writeAtomically(file, SCHEMA, List.of(row(0), row(1), row(2)), conf); // the other attempt, whole
        }
        return row(i++);
      }
    };
    AvroSchemas.writeAtomically(file, SCHEMA, first, conf);
    List<GenericRecord> rows = AvroSchemas.read(file, conf);
    assertEquals(3, rows.size());
    for (int i = 0; i < 3; i++) {
      assertEquals(i, rows.get(i).get("value"));
    }
  }
}
