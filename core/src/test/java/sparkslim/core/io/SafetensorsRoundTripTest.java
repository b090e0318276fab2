package sparkslim.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.Examples;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.Tensor;

class SafetensorsRoundTripTest {
  @TempDir
  Path tmp;

  @Test
  void everyHalfAndBfloatValueRoundTripsExactly() {
    for (int bits = 0; bits < 0x10000; bits++) {
      short h = (short) bits;
      float f = HalfFloats.f16ToFloat(h);
      if (!Float.isNaN(f)) {
        assertEquals(h, HalfFloats.floatToF16(f), "f16 " + Integer.toHexString(bits));
      }
      float b = HalfFloats.bf16ToFloat(h);
      if (!Float.isNaN(b)) {
        assertEquals(h, HalfFloats.floatToBf16(b), "bf16 " + Integer.toHexString(bits));
      }
    }
    assertEquals(1.0f, HalfFloats.f16ToFloat(HalfFloats.floatToF16(1.0f + 0x1p-12f))); // tie rounds to even
    assertEquals((short) 0x7c00, HalfFloats.floatToF16(70000f)); // overflow to +inf
    assertEquals(0x1p-24f, HalfFloats.f16ToFloat(HalfFloats.floatToF16(0x1p-24f))); // smallest subnormal
  }

  @Test
  void writesShardsAndIndexThatReadBack() throws Exception {
    FileSystem fs = FileSystem.getLocal(new Configuration());
    Random rnd = new Random(7);
    float[] a = new float[64 * 32];
    float[] b = new float[1000];
    for (int i = 0; i < a.length; i++) {
      a[i] = (float) rnd.nextGaussian();
    }
    for (int i = 0; i < b.length; i++) {
      b[i] = (float) rnd.nextGaussian();
    }
    List<String> files = new SafetensorsWriter.Sharded(6000)
        .add(SafetensorsWriter.Tensor.ofFloats("a", DType.F32, new long[] {64, 32}, a))
        .add(SafetensorsWriter.Tensor.ofFloats("b", DType.BF16, new long[] {1000}, b))
        .add(SafetensorsWriter.Tensor.ofFloats("c", DType.F16, new long[] {1000}, b))
        .write(fs, new org.apache.hadoop.fs.Path(tmp.toString()));
    assertTrue(files.contains("model.safetensors.index.json"), files.toString());
    assertEquals(3, files.size(), files.toString()); // a (8192 B) alone; b + c (2000 B each) share shard 2; index
    SafetensorsFile f1 = SafetensorsFile.open(fs, new org.apache.hadoop.fs.Path(tmp.resolve(files.get(0)).toString()));
    assertArrayEquals(a, f1.readFloats("a"));
    SafetensorsFile f2 = SafetensorsFile.open(fs, new org.apache.hadoop.fs.Path(tmp.resolve(files.get(1)).toString()));
    float[] back = f2.readFloats("b");
    for (int i = 0; i < b.length; i++) {
      assertEquals(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(b[i])), back[i]);
    }
  }

  @Test
  void rewritingAnExampleModelGivesIdenticalTensors() throws Exception {
    Configuration conf = new Configuration();
    FileSystem fs = FileSystem.getLocal(conf);
    ModelDirectory src = ModelDirectory.open(Examples.model("tiny-opt-imdb").toString(), conf);
    Path out = tmp.resolve("copy");
    Files.createDirectories(out);
    SafetensorsWriter.Sharded writer = new SafetensorsWriter.Sharded(4L << 20);
    Map<String, Tensor> globals = src.loadGlobals();
    globals.forEach((n, t) -> writer.add(SafetensorsWriter.Tensor.ofFloats(n, DType.F16, t.shape(), t.data())));
    for (int i = 0; i < src.spec().numLayers(); i++) {
      String prefix = src.spec().blockPrefix(i);
      src.loadBlock(i).forEach((n, t) -> writer.add(SafetensorsWriter.Tensor.ofFloats(prefix + n, DType.F16, t.shape(), t.data())));
    }
    writer.write(fs, new org.apache.hadoop.fs.Path(out.toString()));
    Files.copy(Examples.model("tiny-opt-imdb").resolve("config.json"), out.resolve("config.json"));
    Files.copy(Examples.model("tiny-opt-imdb").resolve("tokenizer.json"), out.resolve("tokenizer.json"));
    ModelDirectory copy = ModelDirectory.open(out.toString(), conf);
    for (int i = 0; i < src.spec().numLayers(); i++) {
      Map<String, Tensor> x = src.loadBlock(i);
      Map<String, Tensor> y = copy.loadBlock(i);
      for (String n : x.keySet()) {
        assertArrayEquals(x.get(n).data(), y.get(n).data(), n);
      }
    }
  }
}
