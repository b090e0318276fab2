package sparkslim.core.quant;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.AvroSchemas;
import sparkslim.core.io.DType;
import sparkslim.core.io.TensorShardTable;

/**
 * Parquet table of quantized linears ({@code QuantizedLinear.avsc}), one file per decoder block, one row (and row
 * group) per linear: the compressed-tensors packing of its codes, scales and zero points, with the scheme in columns so
 * a query can compare layers across runs. {@link #read} rebuilds each {@link CompressedLinear.Quantized} exactly.
 */
public final class QuantizedShardTable {
  public static final Schema SCHEMA = AvroSchemas.load("QuantizedLinear");

  /** One stored linear. */
  public record Row(String runId, String configFingerprint, int block, String linear, QuantStrategy strategy, CompressedLinear.Quantized q) {}

  private QuantizedShardTable() {}

  /** Writes the rows, one row group each, atomically. */
  public static void write(Path file, List<Row> rows, Configuration conf) {
    write(file, rows.iterator(), conf);
  }

  /** As {@link #write(Path, List, Configuration)}, streaming: each row is packed when its turn comes. */
  public static void write(Path file, java.util.Iterator<Row> rows, Configuration conf) {
    AvroSchemas.writeRowGroups(file, SCHEMA, rows, QuantizedShardTable::record, conf);
  }

  private static GenericRecord record(Row row) {
    CompressedLinear.Quantized q = row.q();
    CompressedTensorsPacking p = CompressedTensorsPacking.of(q, row.strategy());
    byte[] packed = IntPacking.toLittleEndian(p.packed());
    byte[] scales = TensorShardTable.encode(p.scales(), p.scaleDtype());
    byte[] zp = p.zeroPoint() == null ? null : IntPacking.toLittleEndian(p.zeroPoint());
    byte[] gIdx = p.gIdx() == null ? null : IntPacking.toLittleEndian(p.gIdx());
    GenericRecord r = new GenericData.Record(SCHEMA);
    r.put("run_id", row.runId());
    r.put("config_fingerprint", row.configFingerprint());
    r.put("block", row.block());
    r.put("linear", row.linear());
    r.put("scheme", new QuantScheme(q.bits(), zp == null, row.strategy(), row.strategy() == QuantStrategy.GROUP ? q.groupSize() : 0,
        QuantConvention.SIGNED_ZERO_POINT, q.scaleDtype()).label());
    r.put("bits", q.bits());
    r.put("strategy", row.strategy().configName());
    r.put("group_size", q.groupSize());
    r.put("symmetric", zp == null);
    r.put("shape", List.of((long) q.rows(), (long) q.cols()));
    r.put("packed", ByteBuffer.wrap(packed));
    r.put("scale_dtype", p.scaleDtype().name());
    r.put("scales", ByteBuffer.wrap(scales));
    r.put("zero_points", zp == null ? null : ByteBuffer.wrap(zp));
    r.put("g_idx", gIdx == null ? null : ByteBuffer.wrap(gIdx));
    r.put("mask", q.mask() == null ? null : ByteBuffer.wrap(q.mask().toByteArray()));
    r.put("loss", q.loss());
    r.put("sha256", checksum(packed, scales, zp, gIdx));
    return r;
  }

  /** Reads a file, verifying every checksum; keys are the linears' full names in file order. */
  public static Map<String, Row> read(Path file, Configuration conf) {
    Map<String, Row> out = new LinkedHashMap<>();
    AvroSchemas.forEach(file, conf, r -> {
      String linear = r.get("linear").toString();
      byte[] packed = bytes(r.get("packed"));
      byte[] scales = bytes(r.get("scales"));
      byte[] zp = bytes(r.get("zero_points"));
      byte[] gIdx = bytes(r.get("g_idx"));
      if (!checksum(packed, scales, zp, gIdx).equals(r.get("sha256").toString())) {
        throw new SparkslimException("Corrupt shard " + file + ": linear '" + linear + "' does not match its sha256 " + r.get("sha256"));
      }
      @SuppressWarnings("unchecked")
      List<Long> shape = (List<Long>) r.get("shape");
      int out0 = shape.get(0).intValue();
      int in = shape.get(1).intValue();
      int bits = (Integer) r.get("bits");
      int groupSize = (Integer) r.get("group_size");
      QuantStrategy strategy = QuantStrategy.valueOf(r.get("strategy").toString().toUpperCase(java.util.Locale.ROOT));
      DType scaleDtype = DType.valueOf(r.get("scale_dtype").toString());
      CompressedLinear.Quantized unpacked = new CompressedTensorsPacking(out0, in, bits, in / groupSize, strategy, scaleDtype, IntPacking.fromLittleEndian(packed),
          TensorShardTable.decode(scales, scaleDtype), zp == null ? null : IntPacking.fromLittleEndian(zp), gIdx == null ? null : IntPacking.fromLittleEndian(gIdx)).unpack();
      byte[] mask = bytes(r.get("mask"));
      CompressedLinear.Quantized q = new CompressedLinear.Quantized(out0, in, bits, groupSize, scaleDtype, unpacked.codes(), unpacked.scales(),
          unpacked.zeroPoints(), unpacked.gIdx(), mask == null ? null : BitSet.valueOf(mask), (Double) r.get("loss"), null);
      out.put(linear, new Row(r.get("run_id").toString(), r.get("config_fingerprint").toString(), (Integer) r.get("block"), linear, strategy, q));
    });
    return out;
  }

  private static String checksum(byte[]... parts) {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      if (p != null) {
        all.writeBytes(p);
      }
    }
    return TensorShardTable.sha256(all.toByteArray());
  }

  private static byte[] bytes(Object o) {
    if (o == null) {
      return null;
    }
    ByteBuffer d = ((ByteBuffer) o).duplicate();
    byte[] out = new byte[d.remaining()];
    d.get(out);
    return out;
  }
}
