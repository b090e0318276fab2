package sparkslim.core.calib;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.avro.AvroParquetWriter;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.Examples;
import sparkslim.core.SparkslimException;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsFile;
import sparkslim.core.io.SafetensorsWriter;

class CalibrationWindowsTest {
  /** vocab_size of the example models' config.json. */
  private static final int VOCAB = 8192;
  private static final Schema LONG_ROWS = SchemaBuilder.record("Window").fields()
      .name("tokens").type().array().items().longType().noDefault().endRecord();
  private static final Schema INT_ROWS = SchemaBuilder.record("Window").fields()
      .name("tokens").type().array().items().intType().noDefault().endRecord();
  private static final Schema ELEMENT = SchemaBuilder.record("element_record").fields()
      .name("element").type().longType().noDefault().endRecord();
  private static final Schema RECORD_ROWS = SchemaBuilder.record("Window").fields()
      .name("tokens").type().array().items(ELEMENT).noDefault().endRecord();
  /** A Spark-written array<bigint> column: the standard three-level Parquet list. */
  private static final MessageType SPARK_ROWS = MessageTypeParser.parseMessageType(
      "message spark_schema { optional group tokens (LIST) { repeated group list { optional int64 element; } } }");

  @TempDir
  java.nio.file.Path tmp;

  private final Configuration conf = new Configuration();

  private String path(String name) {
    return tmp.resolve(name).toString();
  }

  private String safetensors(String name, SafetensorsWriter.Tensor... tensors) throws IOException {
    SafetensorsWriter.writeFile(FileSystem.getLocal(conf), new Path(path(name)), List.of(tensors), Map.of());
    return path(name);
  }

  private static SafetensorsWriter.Tensor windows(long[] shape, long... values) {
    return SafetensorsWriter.Tensor.ofLongs(CalibrationWindows.TENSOR, shape, values);
  }

  private SparkslimException fails(String location) {
    return assertThrows(SparkslimException.class, () -> CalibrationWindows.read(location, VOCAB, conf));
  }

  private static void assertMentions(Exception e, String... parts) {
    for (String p : parts) {
      assertTrue(e.getMessage().contains(p), "'" + p + "' not in: " + e.getMessage());
    }
  }

  private String parquet(String name, Schema schema, Function<long[], Object> toArray, long[]... rows) throws IOException {
    Path file = new Path(path(name));
    try (ParquetWriter<GenericRecord> w = AvroParquetWriter.<GenericRecord>builder(HadoopOutputFile.fromPath(file, conf))
        .withSchema(schema).withConf(conf).build()) {
      for (long[] row : rows) {
        GenericRecord rec = new GenericData.Record(schema);
        rec.put("tokens", toArray.apply(row));
        w.write(rec);
      }
    }
    return file.toString();
  }

  private static Object longs(long[] row) {
    return Arrays.stream(row).boxed().toList();
  }

  @Test
  void readsTheGoldenSafetensorsWindows() throws IOException {
    String golden = Examples.golden("tiny-opt-imdb.calib.safetensors").toString();
    List<int[]> w = CalibrationWindows.read(golden, VOCAB, conf);
    assertEquals(64, w.size());
    long[] expected = SafetensorsFile.open(FileSystem.getLocal(conf), new Path(golden)).readLongs(CalibrationWindows.TENSOR);
    for (int r = 0; r < w.size(); r++) {
      assertEquals(512, w.get(r).length);
      assertArrayEquals(Arrays.copyOfRange(expected, r * 512, (r + 1) * 512), Arrays.stream(w.get(r)).asLongStream().toArray());
    }
    List<int[]> cut = CalibrationWindows.firstRowsAndColumns(w, 8, 128);
    assertEquals(8, cut.size());
    assertArrayEquals(Arrays.copyOf(w.get(7), 128), cut.get(7));
  }

  @Test
  void readsI32Tensors() throws IOException {
    // SafetensorsWriter writes I64 only, so this file is laid out by hand: header length, JSON header, int32 data
    byte[] header = ("{\"" + CalibrationWindows.TENSOR + "\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}")
        .getBytes(StandardCharsets.UTF_8);
    ByteBuffer buf = ByteBuffer.allocate(8 + header.length + 16).order(ByteOrder.LITTLE_ENDIAN);
    buf.putLong(header.length).put(header).putInt(1).putInt(2).putInt(3).putInt(8191);
    Files.write(tmp.resolve("i32.safetensors"), buf.array());
    List<int[]> w = CalibrationWindows.read(path("i32.safetensors"), VOCAB, conf);
    assertArrayEquals(new int[] {1, 2}, w.get(0));
    assertArrayEquals(new int[] {3, 8191}, w.get(1));
  }

  @Test
  void readsParquetFilesAndDirectoriesInNameOrder() throws IOException {
    String file = parquet("a.parquet", LONG_ROWS, CalibrationWindowsTest::longs, new long[] {1, 2, 3}, new long[] {4, 5, 6});
    List<int[]> w = CalibrationWindows.read(file, VOCAB, conf);
    assertEquals(2, w.size());
    assertArrayEquals(new int[] {4, 5, 6}, w.get(1));

    Files.createDirectory(tmp.resolve("dir"));
    parquet("dir/part-00001.parquet", INT_ROWS, r -> Arrays.stream(r).mapToInt(x -> (int) x).boxed().toList(), new long[] {7, 8});
    parquet("dir/part-00000.parquet", RECORD_ROWS, r -> Arrays.stream(r).mapToObj(x -> {
      GenericRecord e = new GenericData.Record(ELEMENT);
      e.put("element", x);
      return e;
    }).toList(), new long[] {5, 6});
    Files.writeString(tmp.resolve("dir/_SUCCESS"), "");
    List<int[]> d = CalibrationWindows.read(path("dir"), VOCAB, conf);
    assertEquals(2, d.size());
    assertArrayEquals(new int[] {5, 6}, d.get(0));
    assertArrayEquals(new int[] {7, 8}, d.get(1));
  }

  @Test
  void readsSparkStyleThreeLevelLists() throws IOException {
    Path file = new Path(path("spark.parquet"));
    SimpleGroupFactory groups = new SimpleGroupFactory(SPARK_ROWS);
    try (ParquetWriter<Group> w = ExampleParquetWriter.builder(HadoopOutputFile.fromPath(file, conf)).withType(SPARK_ROWS).withConf(conf).build()) {
      for (long[] row : new long[][] {{10, 11, 12}, {13, 14, 15}}) {
        Group g = groups.newGroup();
        Group list = g.addGroup("tokens");
        for (long id : row) {
          list.addGroup("list").append("element", id);
        }
        w.write(g);
      }
    }
    List<int[]> w = CalibrationWindows.read(file.toString(), VOCAB, conf);
    assertArrayEquals(new int[] {10, 11, 12}, w.get(0));
    assertArrayEquals(new int[] {13, 14, 15}, w.get(1));
  }

  @Test
  void missingFile() {
    assertMentions(fails(path("nope.safetensors")), "nope.safetensors", "does not exist", CalibrationWindows.TENSOR);
  }

  @Test
  void missingTensorListsTheTensorsFound() throws IOException {
    String f = safetensors("other.safetensors", SafetensorsWriter.Tensor.ofLongs("input_ids", new long[] {1, 2}, new long[] {1, 2}));
    assertMentions(fails(f), "other.safetensors", "'" + CalibrationWindows.TENSOR + "' is missing", "[input_ids]");
  }

  @Test
  void wrongDtype() throws IOException {
    String f = safetensors("f32.safetensors",
        SafetensorsWriter.Tensor.ofFloats(CalibrationWindows.TENSOR, DType.F32, new long[] {1, 2}, new float[] {1, 2}));
    assertMentions(fails(f), "f32.safetensors", CalibrationWindows.TENSOR, "expected I64 or I32 token ids, found F32");
  }

  @Test
  void wrongRank() throws IOException {
    String rank1 = safetensors("r1.safetensors", windows(new long[] {64}, new long[64]));
    assertMentions(fails(rank1), "r1.safetensors", CalibrationWindows.TENSOR, "expected [num_samples, seqlen]", "[64]");
    String rank3 = safetensors("r3.safetensors", windows(new long[] {2, 3, 4}, new long[24]));
    assertMentions(fails(rank3), "r3.safetensors", "expected [num_samples, seqlen]", "[2, 3, 4]");
  }

  @Test
  void zeroRows() throws IOException {
    String f = safetensors("empty.safetensors", windows(new long[] {0, 4}));
    assertMentions(fails(f), "empty.safetensors", CalibrationWindows.TENSOR, "at least one window", "[0, 4]");
    String p = parquet("empty.parquet", LONG_ROWS, CalibrationWindowsTest::longs);
    assertMentions(fails(p), "empty.parquet", "'tokens'", "found 0 rows");
  }

  @Test
  void tokenIdOutOfVocabulary() throws IOException {
    String high = safetensors("high.safetensors", windows(new long[] {2, 3}, 1, 2, 3, 4, VOCAB, 6));
    assertMentions(fails(high), "high.safetensors", CalibrationWindows.TENSOR, "token id 8192 at row 1, column 1",
        "0 <= id < 8192", "vocab_size");
    String negative = safetensors("neg.safetensors", windows(new long[] {1, 2}, 0, -1));
    assertMentions(fails(negative), "neg.safetensors", "token id -1 at row 0, column 1");
    String p = parquet("high.parquet", LONG_ROWS, CalibrationWindowsTest::longs, new long[] {1, 1L << 40});
    assertMentions(fails(p), "high.parquet", "'tokens'", "token id 1099511627776 at row 0, column 1", "8192");
  }

  @Test
  void parquetRowsOfDifferentLengths() throws IOException {
    String p = parquet("ragged.parquet", LONG_ROWS, CalibrationWindowsTest::longs, new long[] {1, 2, 3}, new long[] {1, 2});
    assertMentions(fails(p), "ragged.parquet", "'tokens'", "same length", "2 tokens at row 1", "3 tokens at row 0");
  }

  @Test
  void parquetWithoutTokensField() throws IOException {
    Schema other = SchemaBuilder.record("Other").fields().name("ids").type().array().items().longType().noDefault().endRecord();
    Path file = new Path(path("other.parquet"));
    try (ParquetWriter<GenericRecord> w = AvroParquetWriter.<GenericRecord>builder(HadoopOutputFile.fromPath(file, conf))
        .withSchema(other).withConf(conf).build()) {
      GenericRecord rec = new GenericData.Record(other);
      rec.put("ids", List.of(1L));
      w.write(rec);
    }
    assertMentions(fails(file.toString()), "other.parquet", "'tokens'", "missing", "[ids]");
  }

  @Test
  void firstRowsAndColumnsRejectsTooFewRowsOrColumns() {
    List<int[]> w = new ArrayList<>(List.of(new int[] {1, 2, 3}, new int[] {4, 5, 6}));
    assertArrayEquals(new int[] {4, 5}, CalibrationWindows.firstRowsAndColumns(w, 2, 2).get(1));
    SparkslimException rows = assertThrows(SparkslimException.class, () -> CalibrationWindows.firstRowsAndColumns(w, 3, 2));
    assertMentions(rows, "'calibration.num-samples' is set to 3", "only 2 windows");
    SparkslimException cols = assertThrows(SparkslimException.class, () -> CalibrationWindows.firstRowsAndColumns(w, 2, 4));
    assertMentions(cols, "'calibration.seqlen' is set to 4", "only 3 tokens");
  }
}
