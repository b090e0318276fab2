package sparkslim.core.quant;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Arrays;
import java.util.function.Function;
import sparkslim.core.SparkslimException;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsFile;

/**
 * Reads the linears of a quantized checkpoint back as {@link CompressedLinear.Quantized}: compressed-tensors
 * {@code pack-quantized} ({@code <linear>.weight_packed}, {@code weight_scale}, {@code weight_zero_point},
 * {@code weight_g_idx}, {@code weight_shape}) or GPTQ v1 ({@code <linear>.qweight}, {@code qzeros}, {@code scales},
 * {@code g_idx}), as {@code config.json → quantization_config} declares (docs/depth_quant.md §2.6–2.7). The model
 * loader dequantizes them where it would read {@code <linear>.weight}, so {@code eval} takes either format.
 */
public final class QuantizedCheckpoint {
  /** The on-disk formats. */
  public enum Format { COMPRESSED_TENSORS, GPTQ }

  /** The key of config.json that declares a quantized checkpoint. */
  public static final String CONFIG_KEY = "quantization_config";
  /** GPTQ's own copy of its quantization_config, beside config.json. */
  public static final String GPTQ_CONFIG_FILE = "quantize_config.json";

  private final Format format;
  private final int bits;
  private final String where;

  private QuantizedCheckpoint(Format format, int bits, String where) {
    this.format = format;
    this.bits = bits;
    this.where = where;
  }

  /**
   * The checkpoint's quantization, or null if {@code config.json} has no {@code quantization_config}.
   *
   * @param where the config file, for messages
   */
  public static QuantizedCheckpoint parse(JsonNode configJson, String where) {
    JsonNode q = configJson.get(CONFIG_KEY);
    if (q == null || q.isNull()) {
      return null;
    }
    String method = q.path("quant_method").asText("");
    if (method.equals("compressed-tensors")) {
      String format = q.path("format").asText("");
      JsonNode groups = q.path("config_groups");
      if (!format.equals("pack-quantized") || groups.size() != 1) {
        throw new SparkslimException(where + ": quantization_config has format '" + format + "' with " + groups.size()
            + " config groups; sparkslim reads compressed-tensors 'pack-quantized' with one config group");
      }
      JsonNode weights = groups.elements().next().path("weights");
      return new QuantizedCheckpoint(Format.COMPRESSED_TENSORS, bits(weights.path("num_bits"), where), where);
    }
    if (method.equals("gptq")) {
      String checkpointFormat = q.path("checkpoint_format").asText("gptq");
      if (!checkpointFormat.equals("gptq")) {
        throw new SparkslimException(where + ": quantization_config has checkpoint_format '" + checkpointFormat
            + "'; sparkslim reads the GPTQ v1 layout ('gptq')");
      }
      return new QuantizedCheckpoint(Format.GPTQ, bits(q.path("bits"), where), where);
    }
    throw new SparkslimException(where + ": quantization_config has quant_method '" + method
        + "'; sparkslim reads 'compressed-tensors' (pack-quantized) and 'gptq'");
  }

  private static int bits(JsonNode n, String where) {
    int b = n.asInt(-1);
    if (b != 2 && b != 3 && b != 4 && b != 8) {
      throw new SparkslimException(where + ": quantization_config gives " + n + " bits; expected 2, 3, 4 or 8");
    }
    return b;
  }

  public Format format() {
    return format;
  }

  public int bits() {
    return bits;
  }

  /** The linear of a {@code <linear>.weight} name, if the checkpoint stores it quantized (its first tensor exists). */
  public boolean stores(String weightName, Function<String, Boolean> exists) {
    return weightName.endsWith(".weight") && exists.apply(prefix(weightName) + (format == Format.GPTQ ? ".qweight" : ".weight_packed"));
  }

  private static String prefix(String weightName) {
    return weightName.substring(0, weightName.length() - ".weight".length());
  }

  /** What the headers say of one quantized linear, checked: its groups and which optional tensors it has. */
  private record Layout(String prefix, int out, int in, int groups, boolean perTensor, boolean zeroPoints, boolean gIdx) {}

  /**
   * Checks one quantized linear from its headers (and its 2-value {@code weight_shape}) against the shape that
   * {@code config.json} implies, reading no weights; a mismatch names the tensor, the file, and both shapes.
   *
   * @param expectedShape (out, in) as {@code config.json} implies
   * @param fileOf the file that holds a tensor, or null
   */
  public void check(String weightName, long[] expectedShape, Function<String, SafetensorsFile> fileOf) {
    layout(weightName, expectedShape, fileOf);
  }

  private Layout layout(String weightName, long[] expectedShape, Function<String, SafetensorsFile> fileOf) {
    String p = prefix(weightName);
    int out = (int) expectedShape[0];
    int in = (int) expectedShape[1];
    if (format == Format.COMPRESSED_TENSORS) {
      entry(fileOf, p + ".weight_shape");
      long[] declared = fileOf.apply(p + ".weight_shape").readLongs(p + ".weight_shape");
      if (!Arrays.equals(declared, expectedShape)) {
        throw new SparkslimException("Tensor '" + p + ".weight_shape' in " + file(fileOf, p + ".weight_shape") + " says "
            + Arrays.toString(declared) + " but " + where + " implies " + Arrays.toString(expectedShape));
      }
      checkInts(fileOf, p + ".weight_packed", new long[] {out, IntPacking.words(in, bits)}, "its weight_shape "
          + Arrays.toString(declared) + " at " + bits + " bits");
      SafetensorsFile.Entry scale = entry(fileOf, p + ".weight_scale");
      boolean perTensor = scale.shape().length == 1;
      int groups = perTensor ? 1 : (int) scale.shape()[1];
      if (!scale.dtype().isFloating() || groups <= 0 || in % groups != 0) {
        throw new SparkslimException("Tensor '" + p + ".weight_scale' in " + file(fileOf, p + ".weight_scale") + ": expected a floating "
            + "(out, groups) scale with groups dividing " + in + ", found " + scale.dtype() + " " + Arrays.toString(scale.shape()));
      }
      checkShape(fileOf, scale, perTensor ? new long[] {1} : new long[] {out, groups}, "weight_shape " + Arrays.toString(declared));
      boolean zp = fileOf.apply(p + ".weight_zero_point") != null;
      if (zp) {
        checkInts(fileOf, p + ".weight_zero_point", new long[] {IntPacking.words(out, bits), groups}, "its weight_shape "
            + Arrays.toString(declared) + " and " + groups + " groups");
      }
      boolean g = fileOf.apply(p + ".weight_g_idx") != null;
      if (g) {
        checkInts(fileOf, p + ".weight_g_idx", new long[] {in}, "an input width of " + in);
      }
      return new Layout(p, out, in, groups, perTensor, zp, g);
    }
    SafetensorsFile.Entry scales = entry(fileOf, p + ".scales");
    int groups = (int) scales.shape()[0];
    checkShape(fileOf, scales, new long[] {groups, out}, "an output width of " + out);
    if (groups <= 0 || in % groups != 0) {
      throw new SparkslimException("Tensor '" + p + ".scales' in " + file(fileOf, p + ".scales") + ": " + groups
          + " groups do not divide the input width " + in);
    }
    checkInts(fileOf, p + ".qweight", new long[] {IntPacking.words(in, bits), out}, "the linear's shape "
        + Arrays.toString(expectedShape) + " at " + bits + " bits");
    checkInts(fileOf, p + ".qzeros", new long[] {groups, IntPacking.words(out, bits)}, groups + " groups");
    checkInts(fileOf, p + ".g_idx", new long[] {in}, "an input width of " + in);
    return new Layout(p, out, in, groups, false, true, true);
  }

  /** Reads one quantized linear, checked as {@link #check} does. */
  public CompressedLinear.Quantized read(String weightName, long[] expectedShape, Function<String, SafetensorsFile> fileOf) {
    Layout l = layout(weightName, expectedShape, fileOf);
    String p = l.prefix();
    if (format == Format.COMPRESSED_TENSORS) {
      SafetensorsFile.Entry scale = entry(fileOf, p + ".weight_scale");
      QuantStrategy strategy = l.perTensor() ? QuantStrategy.TENSOR : l.groups() == 1 ? QuantStrategy.CHANNEL : QuantStrategy.GROUP;
      return new CompressedTensorsPacking(l.out(), l.in(), bits, l.groups(), strategy, scale.dtype(), ints(fileOf, p + ".weight_packed"),
          fileOf.apply(p + ".weight_scale").readFloats(p + ".weight_scale"), l.zeroPoints() ? ints(fileOf, p + ".weight_zero_point") : null,
          l.gIdx() ? ints(fileOf, p + ".weight_g_idx") : null).unpack();
    }
    return new GptqPacking(l.out(), l.in(), bits, l.groups(), ints(fileOf, p + ".qweight"), ints(fileOf, p + ".qzeros"),
        fileOf.apply(p + ".scales").readFloats(p + ".scales"), ints(fileOf, p + ".g_idx")).unpack();
  }

  private static SafetensorsFile.Entry entry(Function<String, SafetensorsFile> fileOf, String name) {
    SafetensorsFile f = fileOf.apply(name);
    if (f == null) {
      throw new SparkslimException("Tensor '" + name + "' is missing from the quantized checkpoint");
    }
    return f.entry(name);
  }

  private static String file(Function<String, SafetensorsFile> fileOf, String name) {
    return String.valueOf(fileOf.apply(name).path());
  }

  private static void checkShape(Function<String, SafetensorsFile> fileOf, SafetensorsFile.Entry e, long[] expected, String because) {
    if (!Arrays.equals(e.shape(), expected)) {
      throw new SparkslimException("Tensor '" + e.name() + "' in " + file(fileOf, e.name()) + " has shape " + Arrays.toString(e.shape())
          + " but " + because + " implies " + Arrays.toString(expected));
    }
  }

  private static void checkInts(Function<String, SafetensorsFile> fileOf, String name, long[] expected, String because) {
    SafetensorsFile.Entry e = entry(fileOf, name);
    checkShape(fileOf, e, expected, because);
    if (e.dtype() != DType.I32) {
      throw new SparkslimException("Tensor '" + name + "' in " + file(fileOf, name) + ": expected dtype I32, found " + e.dtype());
    }
  }

  private static int[] ints(Function<String, SafetensorsFile> fileOf, String name) {
    return fileOf.apply(name).readInts(name);
  }
}
