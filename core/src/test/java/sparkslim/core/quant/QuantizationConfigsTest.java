package sparkslim.core.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;
import sparkslim.core.Examples;
import sparkslim.core.io.DType;

class QuantizationConfigsTest {

  @ParameterizedTest
  @CsvSource({
      "llama_rtn_W4A16, 4, GROUP, 128, true, OFF",
      "llama_rtn_W4A16_ASYM, 4, GROUP, 128, false, OFF",
      "llama_rtn_w8_ch_sym, 8, CHANNEL, 0, true, OFF",
      "llama_gptq_W4A16_ASYM, 4, GROUP, 128, false, STATIC"})
  void compressedTensorsConfigIsWhatTheReferenceLibraryWrote(String file, int bits, QuantStrategy strategy, int groupSize, boolean symmetric,
      ActOrder order) throws Exception {
    JsonNode golden = new ObjectMapper().readTree(Examples.golden("quant").resolve(file + ".config.json").toFile()).get("quantization_config");
    QuantScheme s = new QuantScheme(bits, symmetric, strategy, groupSize, QuantConvention.SIGNED_ZERO_POINT, DType.BF16);
    assertEquals(golden, QuantizationConfigs.compressedTensors(s, order, List.of("lm_head")));
  }

  @Test
  void gptqConfigCarriesWhatVllmChecks() {
    JsonNode c = QuantizationConfigs.gptq(QuantScheme.group(4, 128, true, DType.F16), ActOrder.STATIC, 0.01);
    assertEquals(4, c.get("bits").asInt());
    assertEquals(128, c.get("group_size").asInt());
    assertFalse(c.get("desc_act").asBoolean());
    assertEquals("gptq", c.get("checkpoint_format").asText());
    assertThrows(IllegalArgumentException.class, () -> QuantizationConfigs.gptq(QuantScheme.group(4, 128, false, DType.F16), ActOrder.OFF, 0.01));
  }
}
