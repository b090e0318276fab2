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

  /**
   * A tensor shard is written one row group per tensor, so the writer flushes each tensor before it pulls the next: the
   * driver holds one tensor of a block, not the block (at 8 LLaMA-7B layers it ran out of a 3 GB heap).
   */
  @Test
  void tensorShardsHaveOneRowGroupPerTensor() throws Exception {
    Configuration conf = new Configuration();
    org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(tmp.resolve("block-00000.parquet").toString());
    List<TensorShardTable.Entry> entries = new java.util.ArrayList<>();
    for (int t = 0; t < 5; t++) {
      float[] v = new float[1000 + t];
      for (int i = 0; i < v.length; i++) {
        v[i] = (i * 31 + t) % 17 - 8;
      }
      entries.add(new TensorShardTable.Entry("model.layers.0.t" + t + ".weight", new long[] {v.length}, DType.BF16, v, null));
    }
    Iterator<TensorShardTable.Entry> it = entries.iterator();
    int[] pulled = {0};
    TensorShardTable.writeStored(file, new Iterator<>() {
      @Override
      public boolean hasNext() {
        return it.hasNext();
      }

      @Override
      public TensorShardTable.Stored next() {
        pulled[0]++;
        return TensorShardTable.stored("run", "fp", 0, it.next());
      }
    }, conf);
    try (org.apache.parquet.hadoop.ParquetFileReader reader = org.apache.parquet.hadoop.ParquetFileReader.open(
        org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(file, conf))) {
      assertEquals(5, reader.getRowGroups().size());
      for (org.apache.parquet.hadoop.metadata.BlockMetaData rowGroup : reader.getRowGroups()) {
        assertEquals(1, rowGroup.getRowCount());
      }
    }
    java.util.Map<String, TensorShardTable.Stored> back = TensorShardTable.read(file, conf);
    assertEquals(5, back.size());
    for (TensorShardTable.Entry e : entries) {
      org.junit.jupiter.api.Assertions.assertArrayEquals(e.values(), back.get(e.tensor()).values(), 0f, e.tensor());
    }
  }
}
