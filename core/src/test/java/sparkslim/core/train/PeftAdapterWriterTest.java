package sparkslim.core.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.util.Random;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkslim.core.io.SafetensorsFile;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.LoraAdapter;
import sparkslim.core.model.ModelSpec;

/** The PEFT adapter directory: tensor names, shapes and values as PEFT saves them, and adapter_config.json. */
class PeftAdapterWriterTest {
  @TempDir
  java.nio.file.Path tmp;

  @Test
  void writesPeftsLayout() throws Exception {
    ModelSpec spec = sparkslim.core.grad.CausalLmBackwardTestAccess.smallLlama();
    CausalLm base = sparkslim.core.grad.CausalLmBackwardTestAccess.randomModel(spec, new Random(61));
    Trainer t = Trainer.lora(base, Set.of("self_attn.q_proj", "mlp.down_proj"), 4, 8, 0.05, new LearningRateSchedule(1, 0, 1e-3), 1.0,
        false, 62);
    FileSystem fs = FileSystem.getLocal(new Configuration());
    PeftAdapterWriter.write(t.model(), 0.05, "examples/models/x", fs, new Path(tmp.toString()));
    SafetensorsFile f = SafetensorsFile.open(fs, new Path(tmp.resolve("adapter_model.safetensors").toString()));
    LoraAdapter q1 = t.model().blocks().get(1).adapters().get("self_attn.q_proj");
    assertArrayEquals(q1.a(), f.readFloats("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"));
    assertArrayEquals(q1.b(), f.readFloats("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"));
    assertEquals(2 * 2 * 2, f.entries().size()); // 2 blocks × 2 linears × (A, B)
    assertArrayEquals(new long[] {4, 24}, f.entry("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape());
    assertArrayEquals(new long[] {24, 4}, f.entry("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight").shape());
    JsonNode config = new ObjectMapper().readTree(Files.readString(tmp.resolve("adapter_config.json")));
    assertEquals("LORA", config.get("peft_type").asText());
    assertEquals(4, config.get("r").asInt());
    assertEquals(8.0, config.get("lora_alpha").asDouble());
    assertEquals("[\"down_proj\",\"q_proj\"]", config.get("target_modules").toString());
  }
}
