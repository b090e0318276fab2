package sparkslim.core.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import sparkslim.core.Examples;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.io.DType;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.quant.ActOrder;
import sparkslim.core.quant.QuantStrategy;

class QuantizationSettingsTest {

  private static QuantizationSettings settings(String... extra) {
    List<String> args = new ArrayList<>(List.of("--model.path=m", "--output.path=o", "--quantization.method=gptq"));
    args.addAll(List.of(extra));
    return QuantizationSettings.of(ConfigLoader.fromArgs(args));
  }

  @Test
  void defaultsAreW4G128SymmetricStaticActOrderCompressedTensors() {
    QuantizationSettings s = settings();
    assertEquals(QuantizationSettings.Method.GPTQ, s.method());
    assertEquals(4, s.bits());
    assertEquals(QuantStrategy.GROUP, s.strategy());
    assertEquals(128, s.groupSize());
    assertTrue(s.symmetric());
    assertEquals(ActOrder.STATIC, s.actOrder());
    assertEquals(QuantizationSettings.Format.COMPRESSED_TENSORS, s.format());
    assertEquals(DType.BF16, s.scheme(DType.BF16).scaleDtype());
    assertEquals(DType.F16, settings("--quantization.format=gptq").scheme(DType.BF16).scaleDtype());
    assertEquals(QuantStrategy.CHANNEL, settings("--quantization.group-size=channel").strategy());
    assertEquals(settings("--quantization.dampening-fraction=0.01").canonical(), settings("--quantization.dampening-fraction=0.010").canonical());
    assertTrue(!s.keepZeros() && settings("--quantization.keep-zeros=true").keepZeros());
    // keep-zeros changes the tensors, so the fingerprint; false leaves the canonical text of earlier runs as it was
    assertTrue(settings("--quantization.keep-zeros=true").canonical().endsWith("\nquantization.keep-zeros=true"));
    assertTrue(!s.canonical().contains("keep-zeros"));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
      "--quantization.bits=5|'quantization.bits' is set to 5 but must be 2, 3, 4 or 8",
      "--quantization.bits=16|'quantization.bits' is set to 16 but must be 2, 3, 4 or 8",
      "--quantization.group-size=0|'quantization.group-size' is set to 0 but must be an integer > 0, 'channel' or 'tensor'",
      "--quantization.group-size=-128|'quantization.group-size' is set to -128 but must be an integer > 0, 'channel' or 'tensor'",
      "--quantization.group-size=row|'quantization.group-size' is set to 'row' but must be an integer > 0, or 'channel' or 'tensor'",
      "--quantization.method=awq|'quantization.method' is set to 'awq' but must be one of none | rtn | gptq",
      "--quantization.format=marlin|'quantization.format' is set to 'marlin' but must be one of compressed-tensors | gptq",
      "--quantization.act-order=desc|'quantization.act-order' is set to 'desc' but must be one of off | static | dynamic",
      "--quantization.dampening-fraction=-0.1|'quantization.dampening-fraction' is set to -0.1 but must be >= 0",
      "--quantization.dampening-fraction=NaN|'quantization.dampening-fraction' is set to NaN but must be a finite number >= 0",
      "--quantization.dampening-fraction=Infinity|'quantization.dampening-fraction' is set to Infinity but must be a finite number >= 0",
      "--quantization.block-size=0|'quantization.block-size' is set to 0 but must be > 0"})
  void badValuesNameTheKey(String arg, String expected) {
    SparkslimException e = assertThrows(SparkslimException.class, () -> settings(arg));
    assertTrue(e.getMessage().startsWith(expected), e.getMessage());
  }

  @Test
  void gptqFormatNeedsSymmetricFourOrEightBits() {
    String asym = assertThrows(SparkslimException.class, () -> settings("--quantization.format=gptq", "--quantization.symmetric=false")).getMessage();
    assertTrue(asym.startsWith("'quantization.format' is gptq but 'quantization.symmetric' is false"), asym);
    String dynamic = assertThrows(SparkslimException.class, () -> settings("--quantization.format=gptq", "--quantization.act-order=dynamic",
        "--quantization.symmetric=false")).getMessage();
    assertTrue(dynamic.startsWith("'quantization.format' is gptq but 'quantization.symmetric' is false"), dynamic);
    String threeBits = assertThrows(SparkslimException.class, () -> settings("--quantization.format=gptq", "--quantization.bits=3")).getMessage();
    assertTrue(threeBits.startsWith("'quantization.format' is gptq but 'quantization.bits' is 3"), threeBits);
  }

  @Test
  void groupSizeMustDivideEveryLinearsInputWidthNamingTheLinear() throws Exception {
    Path config = Examples.model("tiny-llama-imdb").resolve("config.json");
    ModelSpec spec = ModelSpec.parse(new ObjectMapper().readTree(config.toFile()), config.toString());
    settings("--quantization.group-size=128").check(spec, config.toString());
    String e = assertThrows(SparkslimException.class, () -> settings("--quantization.group-size=96").check(spec, config.toString())).getMessage();
    assertTrue(e.startsWith("'quantization.group-size' is set to 96 but it does not divide the input width 256 of linear 'model.layers.0.self_attn.q_proj'"),
        e);
  }
}
