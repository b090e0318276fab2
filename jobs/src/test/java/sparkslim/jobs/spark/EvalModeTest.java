package sparkslim.jobs.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import sparkslim.core.SparkslimException;
import sparkslim.core.eval.EvalMode;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelSpec;

/** The {@code eval.mode=auto} decision, the executor memory it compares with, and the model size it uses. */
class EvalModeTest {
  private static final long MIB = 1024L * 1024;
  private static final long GIB = 1024 * MIB;

  @Test
  void autoStreamsWhenTheFp32ModelExceedsHalfOfTheExecutorMemory() {
    EvalMode.Decision d = EvalMode.AUTO.decide(1536 * MIB + 1, 3 * GIB);
    assertEquals(EvalMode.STREAMED, d.mode());
    assertEquals("mode streamed: model 1.500 GiB fp32 > half of executor memory 3.000 GiB", d.logLine());
    assertEquals(EvalMode.IN_MEMORY, EvalMode.AUTO.decide(1536 * MIB, 3 * GIB).mode(), "exactly half fits");
    assertEquals(EvalMode.IN_MEMORY, EvalMode.AUTO.decide(40 * MIB, GIB).mode());
    assertEquals(EvalMode.STREAMED, EvalMode.AUTO.decide(27 * GIB, 8 * GIB).mode());
  }

  @Test
  void anExplicitModeIsKept() {
    assertEquals(EvalMode.IN_MEMORY, EvalMode.IN_MEMORY.decide(27 * GIB, GIB).mode());
    assertEquals(EvalMode.STREAMED, EvalMode.STREAMED.decide(MIB, 8 * GIB).mode());
    assertTrue(EvalMode.STREAMED.decide(MIB, 8 * GIB).reason().contains("set by 'eval.mode'"));
  }

  @Test
  void parse() {
    assertEquals(EvalMode.AUTO, EvalMode.parse("auto", "eval.mode"));
    assertEquals(EvalMode.IN_MEMORY, EvalMode.parse("in-memory", "eval.mode"));
    assertEquals(EvalMode.STREAMED, EvalMode.parse(" streamed ", "eval.mode"));
    SparkslimException e = assertThrows(SparkslimException.class, () -> EvalMode.parse("inmemory", "eval.mode"));
    assertEquals("'eval.mode' is set to 'inmemory' but must be one of auto, in-memory, streamed", e.getMessage());
  }

  @Test
  void executorMemoryFromTheMaster() {
    long driver = 7 * GIB;
    assertEquals(driver, SparkSessions.executorMemoryBytes("local[2]", null, driver));
    assertEquals(driver, SparkSessions.executorMemoryBytes("local[*]", "2g", driver), "local: tasks run in the driver JVM");
    assertEquals(driver, SparkSessions.executorMemoryBytes("local", null, driver));
    assertEquals(3072 * MIB, SparkSessions.executorMemoryBytes("local-cluster[2,1,3072]", null, driver));
    assertEquals(1024 * MIB, SparkSessions.executorMemoryBytes("local-cluster[ 2, 1, 1024 ]", null, driver));
    assertEquals(2 * GIB, SparkSessions.executorMemoryBytes("local-cluster[2,1,3072]", "2g", driver), "as SparkSessions.start: a given setting wins");
    assertEquals(GIB, SparkSessions.executorMemoryBytes("yarn", null, driver), "Spark's default 1g");
    assertEquals(4 * GIB, SparkSessions.executorMemoryBytes("spark://host:7077", "4g", driver));
    assertEquals(8 * GIB, SparkSessions.executorMemoryBytes("k8s://https://api:6443", "8192", driver), "a bare number is MiB");
    assertEquals(512 * MIB, SparkSessions.executorMemoryBytes("yarn", "512m", driver));
    SparkslimException e = assertThrows(SparkslimException.class, () -> SparkSessions.executorMemoryBytes("yarn", "lots", driver));
    assertTrue(e.getMessage().contains("'spark.executor.memory'") && e.getMessage().contains("'lots'"), e.getMessage());
  }

  @Test
  void parameterCountFromTheTensorShapes() throws Exception {
    Path examples = Path.of("..", "examples").toAbsolutePath().normalize();
    var golden = new ObjectMapper().readTree(examples.resolve("golden").resolve("golden.json").toFile());
    for (String model : new String[] {"tiny-llama-imdb", "tiny-opt-imdb"}) {
      ModelSpec spec = ModelDirectory.open(examples.resolve("models").resolve(model).toString(), new Configuration()).spec();
      assertEquals(golden.get(model).get("params").asLong(), spec.parameterCount(), model);
    }
    // LLaMA-7B (untied head): 6,738,415,616 parameters, 26.95 GB in fp32
    ModelSpec llama7b = ModelSpec.parse(new ObjectMapper().readTree("{\"model_type\": \"llama\", \"hidden_size\": 4096, "
        + "\"intermediate_size\": 11008, \"num_attention_heads\": 32, \"num_hidden_layers\": 32, \"vocab_size\": 32000}"), "llama-7b");
    assertEquals(6_738_415_616L, llama7b.parameterCount());
    assertEquals(EvalMode.STREAMED, EvalMode.AUTO.decide(llama7b.parameterCount() * Float.BYTES, 32 * GIB).mode());
  }
}
