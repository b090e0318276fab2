package sparkslim.core.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;

/**
 * Parquet table of compressed tensors ({@code TensorShard.avsc}), one file per decoder block. The payload is the
 * safetensors encoding in the output dtype, so {@link #read} rebuilds tensors bitwise equal to the exported model.
 */
public final class TensorShardTable {
  public static final Schema SCHEMA = AvroSchemas.load("TensorShard");

  /** One tensor: values (already representable in {@code dtype}) and an optional pruning mask (set = pruned). */
  public record Entry(String tensor, long[] shape, DType dtype, float[] values, BitSet mask) {}

  /** A shard as stored: the raw bytes plus identification. */
  public record Stored(String runId, String configFingerprint, int block, String tensor, long[] shape, DType dtype, byte[] data, BitSet mask) {
    /** The values as fp32 (exact: every stored dtype widens to fp32 without rounding). */
    public float[] values() {
      return decode(data, dtype);
    }
  }

  private TensorShardTable() {}

  public static void write(Path file, String runId, String fingerprint, int block, List<Entry> entries, Configuration conf) {
    List<Stored> rows = new ArrayList<>();
    for (Entry e : entries) {
      rows.add(stored(runId, fingerprint, block, e));
    }
    writeStored(file, rows.iterator(), conf);
  }

  /** The row {@link #write} stores for {@code e}: its values encoded in its dtype. */
  public static Stored stored(String runId, String fingerprint, int block, Entry e) {
    return new Stored(runId, fingerprint, block, e.tensor(), e.shape(), e.dtype(), encode(e.values(), e.dtype()), e.mask());
  }

  /** Writes rows as they come, one row group per tensor (one tensor in memory at a time), atomically. */
  public static void writeStored(Path file, java.util.Iterator<Stored> rows, Configuration conf) {
    AvroSchemas.writeRowGroups(file, SCHEMA, rows, TensorShardTable::record, conf);
  }

  private static GenericRecord record(Stored s) {
    GenericRecord r = new GenericData.Record(SCHEMA);
    r.put("run_id", s.runId());
    r.put("config_fingerprint", s.configFingerprint());
    r.put("block", s.block());
    r.put("tensor", s.tensor());
    List<Long> shape = new ArrayList<>();
    for (long d : s.shape()) {
      shape.add(d);
    }
    r.put("shape", shape);
    r.put("dtype", s.dtype().name());
    r.put("data", ByteBuffer.wrap(s.data()));
    r.put("sha256", sha256(s.data()));
    r.put("mask", s.mask() == null ? null : ByteBuffer.wrap(s.mask().toByteArray()));
    r.put("pruned", s.mask() == null ? 0L : (long) s.mask().cardinality());
    return r;
  }

  /** Reads a shard file, verifying every checksum; keys are full tensor names in file order. */
  public static Map<String, Stored> read(Path file, Configuration conf) {
    Map<String, Stored> out = new LinkedHashMap<>();
    forEach(file, conf, s -> out.put(s.tensor(), s));
    return out;
  }

  /** Reads a shard file one tensor at a time, verifying every checksum. */
  public static void forEach(Path file, Configuration conf, java.util.function.Consumer<Stored> action) {
    AvroSchemas.forEach(file, conf, r -> {
      String tensor = r.get("tensor").toString();
      byte[] data = bytes((ByteBuffer) r.get("data"));
      if (!sha256(data).equals(r.get("sha256").toString())) {
        throw new SparkslimException("Corrupt shard " + file + ": tensor '" + tensor + "' data does not match its sha256 " + r.get("sha256"));
      }
      @SuppressWarnings("unchecked")
      List<Long> shapeList = (List<Long>) r.get("shape");
      long[] shape = shapeList.stream().mapToLong(Long::longValue).toArray();
      ByteBuffer mask = (ByteBuffer) r.get("mask");
      action.accept(new Stored(r.get("run_id").toString(), r.get("config_fingerprint").toString(), (Integer) r.get("block"), tensor, shape,
          DType.valueOf(r.get("dtype").toString()), data, mask == null ? null : BitSet.valueOf(bytes(mask))));
    });
  }

  private static byte[] bytes(ByteBuffer b) {
    ByteBuffer d = b.duplicate();
    byte[] out = new byte[d.remaining()];
    d.get(out);
    return out;
  }

  /** Rounds fp32 values to {@code dtype} and back, the values a model exported in {@code dtype} holds. */
  public static float[] roundTo(float[] values, DType dtype) {
    return decode(encode(values, dtype), dtype);
  }

  public static byte[] encode(float[] v, DType dtype) {
    ByteBuffer buf = ByteBuffer.allocate(v.length * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
    for (float x : v) {
      switch (dtype) {
        case F32: buf.putFloat(x); break;
        case F16: buf.putShort(HalfFloats.floatToF16(x)); break;
        case BF16: buf.putShort(HalfFloats.floatToBf16(x)); break;
        default: throw new IllegalArgumentException("Cannot encode weights as " + dtype);
      }
    }
    return buf.array();
  }

  public static float[] decode(byte[] data, DType dtype) {
    ByteBuffer buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[data.length / dtype.bytes()];
    for (int i = 0; i < out.length; i++) {
      switch (dtype) {
        case F32: out[i] = buf.getFloat(); break;
        case F16: out[i] = HalfFloats.f16ToFloat(buf.getShort()); break;
        case BF16: out[i] = HalfFloats.bf16ToFloat(buf.getShort()); break;
        default: throw new IllegalArgumentException("Cannot decode weights from " + dtype);
      }
    }
    return out;
  }

  public static String sha256(byte[] data) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
