package sparkslim.core.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.ConfigKey;

/** {@link SweepPlan}: the example grid's points, their ids, configs and jobs, and the rules on shared and swept keys. */
class SweepPlanTest {
  private static final Path EXAMPLES = Path.of("..", "conf", "sweep-examples.yaml");

  @Test
  void theExampleGridExpandsToItsPoints() {
    SweepPlan plan = SweepPlan.of(EXAMPLES.toString(), Map.of(ConfigKey.OUTPUT_PATH.key(), "/tmp/out"), new Configuration());
    assertEquals(54, plan.points().size()); // per model: the dense row, 20 + 2 pruning and 4 depth points
    Map<SweepPlan.Job, Long> jobs = new java.util.EnumMap<>(SweepPlan.Job.class);
    plan.points().forEach(p -> jobs.merge(p.job(), 1L, Long::sum));
    assertEquals(Map.of(SweepPlan.Job.EVAL, 2L, SweepPlan.Job.PRUNE, 44L, SweepPlan.Job.DEPTH_PRUNE, 8L), jobs);
    Set<String> ids = new HashSet<>();
    plan.points().forEach(p -> assertTrue(ids.add(p.id()), "unique id " + p.id()));
    assertTrue(ids.contains("tiny-opt-imdb__prune__method=sparsegpt__mask-structure=2-4"), ids.toString());
    assertEquals(2, plan.concurrency());
    assertEquals(List.of("pruning.method", "pruning.sparsity", "pruning.mask-structure", "depth.criterion", "depth.num-blocks"),
        plan.sweptKeys());

    SweepPlan.Point p = plan.points().stream().filter(x -> x.label().equals("tiny-llama-imdb sparsegpt 0.7")).findFirst().orElseThrow();
    // locations are made absolute: the points' tasks open them on executors with other working directories
    assertEquals("file:/tmp/out/points/tiny-llama-imdb__prune__method=sparsegpt__sparsity=0.7", p.config().string(ConfigKey.OUTPUT_PATH));
    assertEquals("file:" + Path.of("examples", "models", "tiny-llama-imdb").toAbsolutePath(),
        p.config().string(ConfigKey.MODEL_PATH));
    assertEquals("32", p.config().string(ConfigKey.CALIBRATION_NUM_SAMPLES)); // a shared key
    assertTrue(p.config().origins().get(ConfigKey.PRUNING_SPARSITY.key()).endsWith("grid block 1"));
    // depth-prune points keep their job's defaults unless the file sets them: seqlen 128, not prune's 512
    SweepPlan.Point d = plan.points().stream().filter(x -> x.job() == SweepPlan.Job.DEPTH_PRUNE).findFirst().orElseThrow();
    assertEquals("128", d.config().string(ConfigKey.CALIBRATION_SEQLEN));
  }

  @Test
  void commandLineKeysApplyToEveryPointButMayNotBeSwept() {
    SweepPlan plan = SweepPlan.of(EXAMPLES.toString(), Map.of(ConfigKey.OUTPUT_PATH.key(), "o", ConfigKey.EVAL_MAX_WINDOWS.key(), "8",
        SweepPlan.CONCURRENCY, "3"), new Configuration());
    plan.points().forEach(p -> assertEquals("8", p.config().string(ConfigKey.EVAL_MAX_WINDOWS)));
    assertEquals(3, plan.concurrency());
    SparkslimException e = assertThrows(SparkslimException.class, () -> SweepPlan.of(EXAMPLES.toString(),
        Map.of(ConfigKey.OUTPUT_PATH.key(), "o", ConfigKey.PRUNING_SPARSITY.key(), "0.5"), new Configuration()));
    assertTrue(e.getMessage().contains("'pruning.sparsity' is set on the command line but"), e.getMessage());
    e = assertThrows(SparkslimException.class, () -> SweepPlan.of(EXAMPLES.toString(), Map.of(), new Configuration()));
    assertTrue(e.getMessage().contains("Missing required key 'output.path'"), e.getMessage());
  }
}
