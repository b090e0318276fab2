package sparkslim.core.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Writes safetensors files. {@link #writeFile} writes one file; {@link Sharded} splits a model into
 * {@code model-0000i-of-0000n.safetensors} shards plus {@code model.safetensors.index.json}, as HuggingFace does.
 * Output is deterministic: tensors are laid out in name order, so equal inputs give byte-identical files.
 *
 * <p>{@link #writeFileStreaming} and {@link StreamingSharded} write the same bytes from tensor headers alone: the header
 * goes first, then a {@link TensorData} callback produces each tensor's bytes in file order, so no tensor has to be in
 * memory (a 70B model is 140 GB).
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

    /** The tensor's little-endian bytes as written (an encoded tensor's are fetched from its source now). */
    public byte[] bytes() {
      if (encoded != null) {
        return encoded.get();
      }
      if (longs != null) {
        ByteBuffer buf = ByteBuffer.allocate(8 * longs.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : longs) {
          buf.putLong(v);
        }
        return buf.array();
      }
      return TensorShardTable.encode(floats, dtype);
    }

    public long byteSize() {
      return header().byteSize();
    }

    public TensorHeader header() {
      return new TensorHeader(name, dtype, shape);
    }
  }

  /** A tensor's header entry without its values, for {@link #writeFileStreaming}. */
  public record TensorHeader(String name, DType dtype, long[] shape) {
    public long numel() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }

    public long byteSize() {
      return numel() * dtype.bytes();
    }
  }

  /** Produces one tensor's data: exactly {@code header.byteSize()} bytes, little-endian, row-major. */
  @FunctionalInterface
  public interface TensorData {
    void write(TensorHeader header, OutputStream out) throws IOException;
  }

  /** Writes one file of the given tensors, in name order (the one writer below: {@link #writeFileStreaming}). */
  public static void writeFile(FileSystem fs, Path path, List<Tensor> tensors, Map<String, String> metadata) {
    Map<String, Tensor> byName = new java.util.HashMap<>();
    tensors.forEach(t -> byName.put(t.name(), t));
    writeFileStreaming(fs, path, tensors.stream().map(Tensor::header).toList(), metadata, (h, out) -> writeData(out, byName.get(h.name())));
  }

  /**
   * Writes one file from headers alone, byte-identical to {@link #writeFile} with the same tensors: the header first,
   * then {@code data} is called once per tensor, in name order (the file's layout). Throws if a tensor's data is not
   * exactly its declared size. Names must be distinct.
   */
  public static void writeFileStreaming(FileSystem fs, Path path, List<TensorHeader> tensors, Map<String, String> metadata,
                                        TensorData data) {
    Map<String, TensorHeader> ordered = new TreeMap<>();
    for (TensorHeader t : tensors) {
      if (ordered.put(t.name(), t) != null) {
        throw new IllegalArgumentException("Tensor '" + t.name() + "' is listed twice for " + path);
      }
    }
    byte[] prefix = headerPrefix(ordered.values(), metadata);
    try (CountingOutputStream out = new CountingOutputStream(new BufferedOutputStream(fs.create(path, true), 1 << 20))) {
      out.write(prefix);
      for (TensorHeader t : ordered.values()) {
        long before = out.count;
        data.write(t, out);
        if (out.count - before != t.byteSize()) {
          throw new IllegalStateException("Tensor '" + t.name() + "' in " + path + ": the data source wrote " + (out.count - before)
              + " bytes but the header declares " + t.byteSize());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write " + path, e);
    }
  }

  /** The bytes before the data section: header length (u64 LE), JSON header, space padding to a multiple of 8. */
  private static byte[] headerPrefix(Iterable<TensorHeader> ordered, Map<String, String> metadata) {
    ObjectNode header = JSON.createObjectNode();
    if (metadata != null && !metadata.isEmpty()) {
      ObjectNode meta = header.putObject("__metadata__");
      new TreeMap<>(metadata).forEach(meta::put);
    }
    long offset = 0;
    for (TensorHeader t : ordered) {
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
    byte[] prefix = new byte[8 + padded]; // (u64 length, header, padding)
    ByteBuffer.wrap(prefix, 0, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
    System.arraycopy(headerBytes, 0, prefix, 8, headerBytes.length);
    Arrays.fill(prefix, 8 + headerBytes.length, prefix.length, (byte) ' ');
    return prefix;
  }

  /** Counts the bytes passed through, without the byte-at-a-time fallback of {@link FilterOutputStream}. */
  private static final class CountingOutputStream extends FilterOutputStream {
    long count;

    CountingOutputStream(OutputStream out) {
      super(out);
    }

    @Override
    public void write(int b) throws IOException {
      out.write(b);
      count++;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
      count += len;
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

  /**
   * Collects tensors and writes them as HuggingFace shards of at most {@code maxShardBytes} each: a
   * {@link StreamingSharded} whose data source is the collected tensors (an encoded tensor's bytes are fetched when its
   * turn comes).
   */
  public static final class Sharded {
    private final StreamingSharded streaming;
    private final Map<String, Tensor> tensors = new java.util.HashMap<>();

    public Sharded(long maxShardBytes) {
      this.streaming = new StreamingSharded(maxShardBytes);
    }

    public Sharded add(Tensor t) {
      if (tensors.put(t.name(), t) != null) {
        throw new IllegalArgumentException("Tensor '" + t.name() + "' is added twice");
      }
      streaming.add(t.header());
      return this;
    }

    /** Writes the shards (and an index when there is more than one) into {@code dir}; returns the file names. */
    public List<String> write(FileSystem fs, Path dir) {
      return streaming.write(fs, dir, (h, out) -> writeData(out, tensors.get(h.name())));
    }
  }

  /**
   * {@link Sharded} from tensor headers alone: the same shard split, file names, index and bytes, with each tensor's data
   * produced by a {@link TensorData} callback while its shard is written ({@link #writeFileStreaming}).
   */
  public static final class StreamingSharded {
    private final ShardPlan<TensorHeader> plan;

    public StreamingSharded(long maxShardBytes) {
      this.plan = new ShardPlan<>(maxShardBytes);
    }

    public StreamingSharded add(TensorHeader t) {
      plan.add(t, t.byteSize());
      return this;
    }

    /** The planned shards' file names, in write order (without the index). */
    public List<String> shardFileNames() {
      List<String> names = new ArrayList<>();
      for (int i = 0; i < plan.shards.size(); i++) {
        names.add(shardFileName(i, plan.shards.size()));
      }
      return names;
    }

    /** Total data bytes (the index's {@code total_size}). */
    public long totalBytes() {
      long total = 0;
      for (List<TensorHeader> shard : plan.shards) {
        for (TensorHeader t : shard) {
          total += t.byteSize();
        }
      }
      return total;
    }

    /** Writes the shards in order (and an index when there is more than one) into {@code dir}; returns the file names. */
    public List<String> write(FileSystem fs, Path dir, TensorData data) {
      return plan.write(fs, dir, t -> t, (path, shard) -> writeFileStreaming(fs, path, shard, SHARD_METADATA, data));
    }
  }

  private static final Map<String, String> SHARD_METADATA = Map.of("format", "pt");

  private static String shardFileName(int i, int n) {
    return n == 1 ? "model.safetensors" : String.format("model-%05d-of-%05d.safetensors", i + 1, n);
  }

  /** Greedy split in insertion order: a new shard starts when the next tensor would take a non-empty shard past the limit. */
  private static final class ShardPlan<T> {
    private final long maxShardBytes;
    private final List<List<T>> shards = new ArrayList<>();
    private long currentBytes;

    ShardPlan(long maxShardBytes) {
      this.maxShardBytes = maxShardBytes;
    }

    void add(T t, long bytes) {
      if (shards.isEmpty() || (currentBytes > 0 && currentBytes + bytes > maxShardBytes)) {
        shards.add(new ArrayList<>());
        currentBytes = 0;
      }
      shards.get(shards.size() - 1).add(t);
      currentBytes += bytes;
    }

    List<String> write(FileSystem fs, Path dir, Function<T, TensorHeader> header, BiConsumer<Path, List<T>> writeShard) {
      List<String> names = new ArrayList<>();
      Map<String, String> weightMap = new TreeMap<>();
      long totalSize = 0;
      int n = shards.size();
      for (int i = 0; i < n; i++) {
        String file = shardFileName(i, n);
        writeShard.accept(new Path(dir, file), shards.get(i));
        names.add(file);
        for (T t : shards.get(i)) {
          weightMap.put(header.apply(t).name(), file);
          totalSize += header.apply(t).byteSize();
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
