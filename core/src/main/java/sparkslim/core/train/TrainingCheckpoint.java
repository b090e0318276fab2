package sparkslim.core.train;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;
import sparkslim.core.io.AvroSchemas;

/**
 * A training checkpoint ({@code TrainingCheckpoint.avsc}): every trainable parameter and its AdamW state after
 * {@code stepsDone} steps, one Parquet row group per parameter, written atomically. The data order, dropout and
 * Quant-Noise masks are functions of the step, so these arrays are all a rerun needs to continue bit for bit.
 */
public record TrainingCheckpoint(String fingerprint, int stepsDone, Map<String, float[]> values, Map<String, AdamW> optimizers) {
  public static final Schema SCHEMA = AvroSchemas.load("TrainingCheckpoint");

  /** The file of the checkpoint after {@code stepsDone} steps, in {@code dir}. */
  public static Path file(Path dir, int stepsDone) {
    return new Path(dir, String.format("step-%05d.parquet", stepsDone));
  }

  /** Steps done of a checkpoint file name ({@code step-NNNNN.parquet}), or -1 for another name. */
  public static int stepsOf(String fileName) {
    if (!fileName.matches("step-\\d{5,}\\.parquet")) {
      return -1;
    }
    return Integer.parseInt(fileName.substring("step-".length(), fileName.length() - ".parquet".length()));
  }

  /** Writes {@code trainer}'s parameters and optimizer state, one parameter in memory as bytes at a time. */
  public static void write(Path file, String runId, String fingerprint, int stepsDone, Trainer trainer, Configuration conf) {
    Iterator<Map.Entry<String, float[]>> params = trainer.parameters().entrySet().iterator();
    AvroSchemas.writeRowGroups(file, SCHEMA, params, e -> {
      AdamW adam = trainer.optimizerStates().get(e.getKey());
      byte[] values = bytes(e.getValue());
      byte[] m = bytes(adam.firstMoment());
      byte[] v = bytes(adam.secondMoment());
      GenericRecord r = new GenericData.Record(SCHEMA);
      r.put("run_id", runId);
      r.put("config_fingerprint", fingerprint);
      r.put("steps_done", stepsDone);
      r.put("parameter", e.getKey());
      r.put("size", e.getValue().length);
      r.put("values", ByteBuffer.wrap(values));
      r.put("adam_m", ByteBuffer.wrap(m));
      r.put("adam_v", ByteBuffer.wrap(v));
      r.put("adam_steps", adam.steps());
      r.put("sha256", sha256(values, m, v));
      return r;
    }, conf);
  }

  /**
   * Reads a checkpoint, verifying every checksum and that it was written with {@code fingerprint} (else a user error:
   * the output directory belongs to a run with other settings).
   */
  public static TrainingCheckpoint read(Path file, String fingerprint, Configuration conf) {
    Map<String, float[]> values = new LinkedHashMap<>();
    Map<String, AdamW> optimizers = new LinkedHashMap<>();
    int[] steps = {-1};
    AvroSchemas.forEach(file, conf, r -> {
      String name = r.get("parameter").toString();
      if (!r.get("config_fingerprint").toString().equals(fingerprint)) {
        throw new SparkslimException("Cannot resume from " + file + ": it was written by a run with different settings (fingerprint "
            + r.get("config_fingerprint") + ", this run " + fingerprint + "); use a new 'output.path' or delete the old output");
      }
      byte[] v = bytes((ByteBuffer) r.get("values"));
      byte[] m = bytes((ByteBuffer) r.get("adam_m"));
      byte[] s = bytes((ByteBuffer) r.get("adam_v"));
      if (!sha256(v, m, s).equals(r.get("sha256").toString())) {
        throw new SparkslimException("Corrupt checkpoint " + file + ": parameter '" + name + "' does not match its sha256 " + r.get("sha256"));
      }
      values.put(name, floats(v));
      optimizers.put(name, new AdamW(floats(m), floats(s), (Integer) r.get("adam_steps"), 0));
      steps[0] = (Integer) r.get("steps_done");
    });
    return new TrainingCheckpoint(fingerprint, steps[0], values, optimizers);
  }

  static byte[] bytes(float[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(values);
    return b.array();
  }

  static float[] floats(byte[] bytes) {
    float[] out = new float[bytes.length / Float.BYTES];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }

  private static byte[] bytes(ByteBuffer b) {
    ByteBuffer d = b.duplicate();
    byte[] out = new byte[d.remaining()];
    d.get(out);
    return out;
  }

  private static String sha256(byte[]... parts) {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      for (byte[] p : parts) {
        md.update(p);
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
