package sparkslim.core.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.model.Architecture;
import sparkslim.core.model.ModelSpec;

/** {@link FinetunePlan}: the defaults of the protocol, and each bad input refused with the key named. */
class FinetunePlanTest {
  private static final ModelSpec LLAMA =
      new ModelSpec(Architecture.LLAMA, 8192, 256, 6, 4, 2, 64, 768, 1024, 1e-5, 10000.0, false, false, false, true, true, 256, "bfloat16");

  private static FinetunePlan plan(String... extra) {
    List<String> args = new ArrayList<>(List.of("--model.path=m", "--output.path=o", "--finetune.text=t.txt"));
    args.addAll(List.of(extra));
    return FinetunePlan.of(ConfigLoader.fromArgs(args));
  }

  @Test
  void defaultsAreTheProtocols() {
    FinetuneSettings f = plan("--finetune.method=lora").finetune();
    assertEquals(FinetuneSettings.Method.LORA, f.method());
    assertEquals(512, f.seqlen());
    assertEquals(8, f.batchSize());
    assertEquals(1, f.epochs());
    assertEquals(1e-3, f.learningRate());
    assertEquals(0.1, f.warmupFraction());
    assertEquals(1.0, f.maxGradNorm());
    assertEquals(8, f.loraRank());
    assertEquals(16.0, f.loraAlpha());
    assertEquals(0.05, f.loraDropout());
    assertNull(f.keepZeros());
    assertEquals(Set.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
        "mlp.down_proj"), f.loraLinears(LLAMA, "config.json"));
    assertEquals(Set.of("self_attn.q_proj", "self_attn.v_proj"),
        plan("--finetune.method=lora", "--finetune.lora.targets=q_proj,self_attn.v_proj").finetune().loraLinears(LLAMA, "config.json"));
    assertEquals(FinetuneSettings.Method.QAT, plan("--finetune.method=qat", "--quantization.method=rtn", "--quantization.bits=3").finetune().method());
  }

  @Test
  void badInputNamesTheKey() {
    String[][] table = {
        {"'finetune.method' is set to 'dora' but must be one of lora | full | qat", "--finetune.method=dora"},
        {"'finetune.lora.rank' is set to 0 but must be > 0", "--finetune.method=lora", "--finetune.lora.rank=0"},
        {"'finetune.learning-rate' is set to 0.0 but must be a finite number > 0", "--finetune.method=full", "--finetune.learning-rate=0"},
        {"'finetune.learning-rate' is set to NaN but must be a finite number", "--finetune.method=full", "--finetune.learning-rate=NaN"},
        {"'finetune.learning-rate' is set to -0.001 but must be a finite number > 0", "--finetune.method=full", "--finetune.learning-rate=-1e-3"},
        {"'finetune.method' is qat but 'quantization.method' is none: QAT trains for a quantization scheme", "--finetune.method=qat"},
        {"'quantization.method' is gptq with 'finetune.method' lora: only qat", "--finetune.method=lora", "--quantization.method=gptq"},
        {"'finetune.lora.dropout' is set to 1.0 but must be in [0, 1)", "--finetune.method=lora", "--finetune.lora.dropout=1"},
        {"'finetune.quant-noise' is set to 0.0 but must be in (0, 1]", "--finetune.method=qat", "--quantization.method=rtn", "--finetune.quant-noise=0"},
        {"'finetune.keep-zeros' is set to 'yes' but must be auto | true | false", "--finetune.method=full", "--finetune.keep-zeros=yes"},
        {"'finetune.kd.temperature' is set to 0.0 but must be a finite number > 0", "--finetune.method=lora", "--finetune.kd.temperature=0"},
    };
    for (String[] row : table) {
      String[] args = java.util.Arrays.copyOfRange(row, 1, row.length);
      SparkslimException e = assertThrows(SparkslimException.class, () -> plan(args), String.join(" ", args));
      assertTrue(e.getMessage().startsWith(row[0]), "expected '" + row[0] + "', got '" + e.getMessage() + "'");
    }
    SparkslimException target = assertThrows(SparkslimException.class,
        () -> plan("--finetune.method=lora", "--finetune.lora.targets=q_proj,wq").check(LLAMA, "m/config.json"));
    assertEquals("'finetune.lora.targets' lists 'wq' but no linear of the LLAMA blocks in m/config.json matches it: expected all-linear or some"
        + " of [self_attn.q_proj, self_attn.k_proj, self_attn.v_proj, self_attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj]", target.getMessage());
    FinetunePlan kd = plan("--finetune.method=lora", "--finetune.teacher.path=teacher");
    byte[] tok = "{}".getBytes(StandardCharsets.UTF_8);
    ModelSpec bigVocab = new ModelSpec(Architecture.LLAMA, 32000, 256, 8, 4, 2, 64, 768, 1024, 1e-5, 10000.0, false, false, false, true, true, 256, "bfloat16");
    assertTrue(assertThrows(SparkslimException.class, () -> kd.checkTeacher(LLAMA, tok, bigVocab, tok, "teacher")).getMessage()
        .startsWith("'finetune.teacher.path' = teacher has vocab_size=32000 but the student has 8192"));
    assertTrue(assertThrows(SparkslimException.class, () -> kd.checkTeacher(LLAMA, tok, LLAMA, "{ }".getBytes(StandardCharsets.UTF_8), "teacher"))
        .getMessage().contains("tokenizer.json that differs from the student's"));
  }
}
