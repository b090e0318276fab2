package sparkslim.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The streaming path writes the same bytes as the in-memory one, from headers and a data callback. */
class SafetensorsStreamingTest {
  @TempDir
  Path tmp;

  @Test
  void streamingShardsAreByteIdenticalToInMemoryShards() throws Exception {
    FileSystem fs = FileSystem.getLocal(new Configuration());
    Random rnd = new Random(3);
    List<SafetensorsWriter.Tensor> tensors = List.of(
        floats("b.weight", DType.BF16, new long[] {40, 30}, rnd), // (outFeatures, inFeatures)
        floats("a.weight", DType.F16, new long[] {1000}, rnd),
        floats("c.weight", DType.F32, new long[] {7, 5, 3}, rnd),
        floats("a.bias", DType.BF16, new long[] {1000}, rnd));
    // the bytes each tensor writes, captured through the in-memory writer (single-tensor files: data follows the header)
    Map<String, byte[]> data = new HashMap<>();
    for (SafetensorsWriter.Tensor t : tensors) {
      Path one = tmp.resolve("one-" + t.name());
      SafetensorsWriter.writeFile(fs, new org.apache.hadoop.fs.Path(one.toString()), List.of(t), null);
      byte[] all = Files.readAllBytes(one);
      data.put(t.name(), java.util.Arrays.copyOfRange(all, all.length - (int) t.byteSize(), all.length));
    }
    SafetensorsWriter.Sharded inMemory = new SafetensorsWriter.Sharded(3000);
    SafetensorsWriter.StreamingSharded streaming = new SafetensorsWriter.StreamingSharded(3000);
    for (SafetensorsWriter.Tensor t : tensors) {
      inMemory.add(t);
      streaming.add(t.header());
    }
    Path a = Files.createDirectories(tmp.resolve("a"));
    Path b = Files.createDirectories(tmp.resolve("b"));
    List<String> namesA = inMemory.write(fs, new org.apache.hadoop.fs.Path(a.toString()));
    List<String> namesB = streaming.write(fs, new org.apache.hadoop.fs.Path(b.toString()), (h, out) -> out.write(data.get(h.name())));
    assertEquals(namesA, namesB);
    assertTrue(namesA.size() > 2, "several shards and an index: " + namesA);
    assertEquals(namesA.subList(0, namesA.size() - 1), streaming.shardFileNames());
    for (String name : namesA) {
      assertArrayEquals(Files.readAllBytes(a.resolve(name)), Files.readAllBytes(b.resolve(name)), name);
    }
  }

  @Test
  void aDataSourceThatWritesTheWrongSizeFails() {
    FileSystem fs = localFs();
    org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(tmp.resolve("x.safetensors").toString());
    SafetensorsWriter.TensorHeader h = new SafetensorsWriter.TensorHeader("w", DType.BF16, new long[] {4, 4});
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> SafetensorsWriter.writeFileStreaming(fs, p, List.of(h), null, (t, out) -> out.write(new byte[31])));
    assertTrue(e.getMessage().contains("wrote 31 bytes but the header declares 32"), e.getMessage());
  }

  private static FileSystem localFs() {
    try {
      return FileSystem.getLocal(new Configuration());
    } catch (java.io.IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static SafetensorsWriter.Tensor floats(String name, DType dtype, long[] shape, Random rnd) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    float[] v = new float[(int) n];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) rnd.nextGaussian();
    }
    return SafetensorsWriter.Tensor.ofFloats(name, dtype, shape, v);
  }
}
