package sparkslim.core.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;

/**
 * One safetensors file, read through the Hadoop {@link FileSystem} API (local paths, {@code file://}, {@code hdfs://}).
 * Opening parses and validates the header only; tensor data is read on demand, one tensor at a time.
 */
public final class SafetensorsFile {
  /** Headers larger than this are refused as corrupt (the format's own reference implementation uses 100 MB). */
  public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One tensor's header entry; {@code begin}/{@code end} are byte offsets relative to the data section. */
  public record Entry(String name, DType dtype, long[] shape, long begin, long end) {
    public long numel() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }
  }

  private final FileSystem fs;
  private final Path path;
  private final long dataStart;
  private final Map<String, Entry> entries;
  private final Map<String, String> metadata;

  private SafetensorsFile(FileSystem fs, Path path, long dataStart, Map<String, Entry> entries, Map<String, String> metadata) {
    this.fs = fs;
    this.path = path;
    this.dataStart = dataStart;
    this.entries = entries;
    this.metadata = metadata;
  }

  public static SafetensorsFile open(FileSystem fs, Path path) {
    long fileLength;
    try {
      fileLength = fs.getFileStatus(path).getLen();
    } catch (java.io.FileNotFoundException e) {
      throw new SparkslimException("Cannot read safetensors file " + path + ": file not found");
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot stat " + path, e);
    }
    if (fileLength < 8) {
      throw new SparkslimException("Corrupt safetensors header in " + path + ": expected at least 8 bytes (header length), found a "
          + fileLength + "-byte file");
    }
    try (FSDataInputStream in = fs.open(path)) {
      byte[] lengthBytes = new byte[8];
      in.readFully(0, lengthBytes);
      long headerLength = ByteBuffer.wrap(lengthBytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
      if (headerLength <= 1 || headerLength > MAX_HEADER_BYTES || headerLength > fileLength - 8) {
        throw new SparkslimException("Corrupt safetensors header in " + path + ": the header length field says " + headerLength
            + " bytes, but the file is " + fileLength + " bytes (expected 2.." + Math.min(MAX_HEADER_BYTES, fileLength - 8) + ")");
      }
      byte[] headerBytes = new byte[(int) headerLength];
      in.readFully(8, headerBytes);
      JsonNode header;
      try {
        header = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new SparkslimException("Corrupt safetensors header in " + path + ": expected a JSON object, found unparseable text ("
            + e.getMessage().split("\n")[0] + ")");
      }
      if (header == null || !header.isObject()) {
        throw new SparkslimException("Corrupt safetensors header in " + path + ": expected a JSON object, found "
            + (header == null ? "nothing" : header.getNodeType()));
      }
      long dataLength = fileLength - 8 - headerLength;
      Map<String, Entry> entries = new LinkedHashMap<>();
      Map<String, String> metadata = new LinkedHashMap<>();
      Iterator<Map.Entry<String, JsonNode>> fields = header.fields();
      while (fields.hasNext()) {
        Map.Entry<String, JsonNode> field = fields.next();
        String name = field.getKey();
        JsonNode node = field.getValue();
        if (name.equals("__metadata__")) {
          node.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
          continue;
        }
        entries.put(name, parseEntry(path, name, node, dataLength));
      }
      return new SafetensorsFile(fs, path, 8 + headerLength, Collections.unmodifiableMap(entries), Collections.unmodifiableMap(metadata));
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + path, e);
    }
  }

  private static Entry parseEntry(Path path, String name, JsonNode node, long dataLength) {
    String where = "Tensor '" + name + "' in " + path;
    if (!node.isObject() || !node.has("dtype") || !node.has("shape") || !node.has("data_offsets")) {
      throw new SparkslimException("Corrupt safetensors header in " + path + ": tensor '" + name
          + "' must have dtype, shape and data_offsets, found " + node);
    }
    DType dtype = DType.parse(node.get("dtype").asText(), where);
    JsonNode shapeNode = node.get("shape");
    JsonNode offsets = node.get("data_offsets");
    if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
      throw new SparkslimException("Corrupt safetensors header in " + path + ": tensor '" + name
          + "' must have an array shape and two data_offsets, found " + node);
    }
    long[] shape = new long[shapeNode.size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = shapeNode.get(i).asLong(-1);
      if (shape[i] < 0) {
        throw new SparkslimException("Corrupt safetensors header in " + path + ": tensor '" + name + "' has a negative or non-integer dimension: " + shapeNode);
      }
    }
    long begin = offsets.get(0).asLong(-1);
    long end = offsets.get(1).asLong(-1);
    Entry entry = new Entry(name, dtype, shape, begin, end);
    if (begin < 0 || end < begin || end - begin != entry.numel() * dtype.bytes()) {
      throw new SparkslimException("Corrupt safetensors header in " + path + ": tensor '" + name + "' with shape "
          + java.util.Arrays.toString(shape) + " and dtype " + dtype + " needs " + entry.numel() * dtype.bytes()
          + " bytes, but data_offsets are [" + begin + ", " + end + "]");
    }
    if (end > dataLength) {
      throw new SparkslimException("Truncated safetensors file " + path + ": tensor '" + name + "' needs data bytes up to " + end
          + " but the file holds only " + dataLength + " data bytes");
    }
    return entry;
  }

  public Path path() {
    return path;
  }

  public Map<String, Entry> entries() {
    return entries;
  }

  public Map<String, String> metadata() {
    return metadata;
  }

  public Entry entry(String name) {
    Entry e = entries.get(name);
    if (e == null) {
      throw new SparkslimException("Tensor '" + name + "' is missing from " + path + " (it holds " + entries.size() + " tensors)");
    }
    return e;
  }

  private byte[] readBytes(Entry e) {
    long length = e.end() - e.begin();
    if (length > Integer.MAX_VALUE - 8) {
      throw new SparkslimException("Tensor '" + e.name() + "' in " + path + " is " + length + " bytes; tensors over 2 GB are not supported");
    }
    byte[] bytes = new byte[(int) length];
    try (FSDataInputStream in = fs.open(path)) {
      in.readFully(dataStart + e.begin(), bytes);
    } catch (java.io.EOFException ex) {
      throw new SparkslimException("Truncated safetensors file " + path + ": tensor '" + e.name() + "' could not be read completely");
    } catch (IOException ex) {
      throw new UncheckedIOException("Cannot read tensor '" + e.name() + "' from " + path, ex);
    }
    return bytes;
  }

  /** Reads a floating tensor upcast to fp32, in row-major order. */
  public float[] readFloats(String name) {
    Entry e = entry(name);
    if (!e.dtype().isFloating()) {
      throw new SparkslimException("Tensor '" + name + "' in " + path + ": unsupported dtype " + e.dtype()
          + " for a weight (expected F32, F16 or BF16)");
    }
    ByteBuffer buf = ByteBuffer.wrap(readBytes(e)).order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[(int) e.numel()];
    switch (e.dtype()) {
      case F32:
        buf.asFloatBuffer().get(out);
        break;
      case F16:
        for (int i = 0; i < out.length; i++) {
          out[i] = HalfFloats.f16ToFloat(buf.getShort());
        }
        break;
      case BF16:
        for (int i = 0; i < out.length; i++) {
          out[i] = HalfFloats.bf16ToFloat(buf.getShort());
        }
        break;
      default:
        throw new IllegalStateException(e.dtype().name());
    }
    return out;
  }

  /** Reads a BF16 or F16 tensor as its raw little-endian bytes (2 per value), for a caller that keeps it 16-bit. */
  /** A tensor's stored little-endian bytes, whatever its dtype. */
  public byte[] readRaw(String name) {
    return readBytes(entry(name));
  }

  public byte[] readHalfBytes(String name) {
    Entry e = entry(name);
    if (e.dtype() != DType.BF16 && e.dtype() != DType.F16) {
      throw new SparkslimException("Tensor '" + name + "' in " + path + ": expected dtype BF16 or F16, found " + e.dtype());
    }
    return readBytes(e);
  }

  /** Reads an I32 tensor (e.g. packed quantized codes) as ints. */
  public int[] readInts(String name) {
    Entry e = entry(name);
    if (e.dtype() != DType.I32) {
      throw new SparkslimException("Tensor '" + name + "' in " + path + ": expected dtype I32, found " + e.dtype());
    }
    int[] out = new int[(int) e.numel()];
    ByteBuffer.wrap(readBytes(e)).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out);
    return out;
  }

  /** Reads an integer tensor (I64 or I32) as longs. */
  public long[] readLongs(String name) {
    Entry e = entry(name);
    ByteBuffer buf = ByteBuffer.wrap(readBytes(e)).order(ByteOrder.LITTLE_ENDIAN);
    long[] out = new long[(int) e.numel()];
    if (e.dtype() == DType.I64) {
      buf.asLongBuffer().get(out);
    } else if (e.dtype() == DType.I32) {
      for (int i = 0; i < out.length; i++) {
        out[i] = buf.getInt();
      }
    } else {
      throw new SparkslimException("Tensor '" + name + "' in " + path + ": expected dtype I64 or I32 for token ids, found " + e.dtype());
    }
    return out;
  }
}
