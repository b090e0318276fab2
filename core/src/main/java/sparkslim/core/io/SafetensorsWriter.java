package sparkslim.core.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Writes safetensors files. {@link #writeFile} writes one file; {@link Sharded} splits a model into
 * {@code model-0000i-of-0000n.safetensors} shards plus {@code model.safetensors.index.json}, as HuggingFace does.
 * Output is deterministic: tensors are laid out in name order, so equal inputs give byte-identical files.
 */
public final class SafetensorsWriter {
  private static final ObjectMapper JSON = new ObjectMapper();

  private SafetensorsWriter() {}

  /**
   * A tensor to write: fp32 values (converted to {@code dtype} on write), int64 values, or bytes already encoded in
   * {@code dtype} that are fetched only when the tensor's turn comes ({@link #ofEncoded}), so a model larger than memory
   * is written holding one tensor at a time.
   */
  public record Tensor(String name, DType dtype, long[] shape, float[] floats, long[] longs, Supplier<byte[]> encoded) {
    public static Tensor ofFloats(String name, DType dtype, long[] shape, float[] values) {
      return new Tensor(name, dtype, shape, values, null, null);
    }

    public static Tensor ofLongs(String name, long[] shape, long[] values) {
      return new Tensor(name, DType.I64, shape, null, values, null);
    }

    /** A tensor whose little-endian {@code dtype} bytes {@code encoded} supplies when it is written. */
    public static Tensor ofEncoded(String name, DType dtype, long[] shape, Supplier<byte[]> encoded) {
      return new Tensor(name, dtype, shape, null, null, encoded);
    }

    public long byteSize() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n * dtype.bytes();
    }
  }

  public static void writeFile(FileSystem fs, Path path, List<Tensor> tensors, Map<String, String> metadata) {
    Map<String, Tensor> ordered = new TreeMap<>();
    for (Tensor t : tensors) {
      ordered.put(t.name(), t);
    }
    ObjectNode header = JSON.createObjectNode();
    if (metadata != null && !metadata.isEmpty()) {
      ObjectNode meta = header.putObject("__metadata__");
      new TreeMap<>(metadata).forEach(meta::put);
    }
    long offset = 0;
    for (Tensor t : ordered.values()) {
      ObjectNode node = header.putObject(t.name());
      node.put("dtype", t.dtype().name());
      ArrayNode shape = node.putArray("shape");
      for (long d : t.shape()) {
        shape.add(d);
      }
      ArrayNode offsets = node.putArray("data_offsets");
      offsets.add(offset);
      offset += t.byteSize();
      offsets.add(offset);
    }
    byte[] headerBytes;
    try {
      headerBytes = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    int padded = (headerBytes.length + 7) / 8 * 8;
    try (FSDataOutputStream out = fs.create(path, true)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
      out.write(len.array());
      out.write(headerBytes);
      for (int i = headerBytes.length; i < padded; i++) {
        out.write(' ');
      }
      for (Tensor t : ordered.values()) {
        writeData(out, t);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write " + path, e);
    }
  }

  private static void writeData(OutputStream out, Tensor t) throws IOException {
    final int chunk = 1 << 16;
    if (t.encoded() != null) {
      byte[] bytes = t.encoded().get();
      if (bytes.length != t.byteSize()) {
        throw new IllegalStateException("Tensor '" + t.name() + "' " + t.dtype() + " " + java.util.Arrays.toString(t.shape()) + " needs "
            + t.byteSize() + " bytes, its source gave " + bytes.length);
      }
      out.write(bytes);
      return;
    }
    if (t.dtype() == DType.I64) {
      ByteBuffer buf = ByteBuffer.allocate(chunk * 8).order(ByteOrder.LITTLE_ENDIAN);
      for (int i = 0; i < t.longs().length; i++) {
        buf.putLong(t.longs()[i]);
        if (!buf.hasRemaining()) {
          out.write(buf.array(), 0, buf.position());
          buf.clear();
        }
      }
      out.write(buf.array(), 0, buf.position());
      return;
    }
    float[] v = t.floats();
    ByteBuffer buf = ByteBuffer.allocate(chunk * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float x : v) {
      switch (t.dtype()) {
        case F32: buf.putFloat(x); break;
        case F16: buf.putShort(HalfFloats.floatToF16(x)); break;
        case BF16: buf.putShort(HalfFloats.floatToBf16(x)); break;
        default: throw new IllegalArgumentException("Cannot write dtype " + t.dtype() + " from floats");
      }
      if (buf.remaining() < 4) {
        out.write(buf.array(), 0, buf.position());
        buf.clear();
      }
    }
    out.write(buf.array(), 0, buf.position());
  }

  /** Collects tensors and writes them as HuggingFace shards of at most {@code maxShardBytes} each. */
  public static final class Sharded {
    private final long maxShardBytes;
    private final List<List<Tensor>> shards = new ArrayList<>();
    private long currentBytes;

    public Sharded(long maxShardBytes) {
      this.maxShardBytes = maxShardBytes;
    }

    public Sharded add(Tensor t) {
      if (shards.isEmpty() || (currentBytes > 0 && currentBytes + t.byteSize() > maxShardBytes)) {
        shards.add(new ArrayList<>());
        currentBytes = 0;
      }
      shards.get(shards.size() - 1).add(t);
      currentBytes += t.byteSize();
      return this;
    }

    /** Writes the shards (and an index when there is more than one) into {@code dir}; returns the file names. */
    public List<String> write(FileSystem fs, Path dir) {
      List<String> names = new ArrayList<>();
      Map<String, String> weightMap = new TreeMap<>();
      long totalSize = 0;
      int n = shards.size();
      for (int i = 0; i < n; i++) {
        String file = n == 1 ? "model.safetensors" : String.format("model-%05d-of-%05d.safetensors", i + 1, n);
        writeFile(fs, new Path(dir, file), shards.get(i), Map.of("format", "pt"));
        names.add(file);
        for (Tensor t : shards.get(i)) {
          weightMap.put(t.name(), file);
          totalSize += t.byteSize();
        }
      }
      if (n > 1) {
        Map<String, Object> index = new LinkedHashMap<>();
        index.put("metadata", Map.of("total_size", totalSize));
        index.put("weight_map", weightMap);
        try (FSDataOutputStream out = fs.create(new Path(dir, "model.safetensors.index.json"), true)) {
          out.write(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(index));
        } catch (IOException e) {
          throw new UncheckedIOException("Cannot write index in " + dir, e);
        }
        names.add("model.safetensors.index.json");
      }
      return names;
    }
  }
}
