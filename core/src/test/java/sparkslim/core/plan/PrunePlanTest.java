package sparkslim.core.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import sparkslim.core.Examples;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.io.DType;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.prune.MaskStructure;
import sparkslim.core.prune.PruningMethod;

/** The prune plan's parsing, its checks against a model's config.json, and the canonical resume fingerprint. */
class PrunePlanTest {
  private static final String ROOT = "file:/models/tiny";

  private static PrunePlan plan(String... extra) {
    List<String> args = new ArrayList<>(List.of("--model.path=m", "--output.path=o", "--pruning.method=sparsegpt",
        "--calibration.text=calib.txt"));
    args.addAll(List.of(extra));
    return PrunePlan.of(ConfigLoader.fromArgs(args));
  }

  private static String fingerprint(String... extra) {
    return plan(extra).fingerprint(ROOT);
  }

  private static ModelSpec spec(String model) throws Exception {
    Path config = Examples.model(model).resolve("config.json");
    return ModelSpec.parse(new ObjectMapper().readTree(config.toFile()), config.toString());
  }

  private static String error(Runnable r) {
    return assertThrows(SparkslimException.class, r::run).getMessage();
  }

  @Test
  void equalSettingsSpelledDifferentlyGiveOneFingerprint() {
    assertEquals(fingerprint("--pruning.sparsity=0.5"), fingerprint("--pruning.sparsity=0.50"));
    assertEquals(fingerprint("--pruning.sparsity=0.5"), fingerprint("--pruning.sparsity= 5e-1 "));
    assertEquals(fingerprint("--pruning.sparsity=0"), fingerprint("--pruning.sparsity=-0.0"));
    assertEquals(fingerprint("--pruning.mask-structure=2:4"), fingerprint("--pruning.mask-structure= 2:4"));
    assertEquals(fingerprint("--pruning.mask-structure=2:4"), fingerprint("--pruning.mask-structure=2 : 4"));
    assertEquals(fingerprint("--pruning.mask-structure=unstructured"), fingerprint("--pruning.mask-structure=Unstructured"));
    assertEquals(fingerprint("--pruning.dampening-fraction=0.01"), fingerprint("--pruning.dampening-fraction=1e-2"));
    assertEquals(fingerprint("--pruning.block-size=128"), fingerprint("--pruning.block-size=+0128"));
    assertEquals(fingerprint("--output.dtype=float16"), fingerprint("--output.dtype=fp16"));
    assertEquals(fingerprint("--pruning.sparsellm.alpha=5"), fingerprint("--pruning.sparsellm.alpha=5.000"));
    assertEquals(fingerprint("--pruning.zero-dead-columns=true"), fingerprint("--pruning.zero-dead-columns=TRUE"));
    assertEquals(fingerprint("--calibration.text=calib.txt"), fingerprint("--calibration.text= calib.txt "));
  }

  @Test
  void settingsThatChangeThePrunedTensorsChangeTheFingerprint() {
    String base = fingerprint("--pruning.sparsity=0.5");
    assertNotEquals(base, fingerprint("--pruning.sparsity=0.6"));
    assertNotEquals(base, fingerprint("--pruning.sparsity=0.5000001"));
    assertNotEquals(base, fingerprint("--pruning.sparsity=0.5", "--pruning.method=wanda"));
    assertNotEquals(base, fingerprint("--pruning.sparsity=0.5", "--pruning.mask-structure=2:4"));
    assertNotEquals(base, fingerprint("--pruning.sparsity=0.5", "--pruning.block-size=64"));
    assertNotEquals(base, fingerprint("--pruning.sparsity=0.5", "--pruning.layers=first-half"));
    assertNotEquals(base, fingerprint("--pruning.sparsity=0.5", "--pruning.sparsellm.alpha=1"));
    assertNotEquals(base, fingerprint("--pruning.sparsity=0.5", "--calibration.seed=1"));
    assertNotEquals(base, fingerprint("--pruning.sparsity=0.5", "--calibration.num-samples=32"));
    assertNotEquals(base, fingerprint("--pruning.sparsity=0.5", "--output.dtype=float32"));
    assertNotEquals(base, plan("--pruning.sparsity=0.5").fingerprint("file:/models/other"));
  }

  @Test
  void settingsThatDoNotChangeThePrunedTensorsKeepTheFingerprint() {
    String base = fingerprint();
    assertEquals(base, fingerprint("--eval.texts=a.txt", "--eval.seqlen=128"));
    assertEquals(base, fingerprint("--spark.master=local[2]", "--calibration.partitions=7"));
    assertEquals(base, fingerprint("--output.path=elsewhere"));
  }

  @Test
  void canonicalTextNamesEveryKey() {
    String text = plan("--pruning.sparsity=0.50", "--pruning.mask-structure= 2:4").canonical(ROOT);
    assertTrue(text.startsWith(ROOT + "\n"), text);
    assertTrue(text.contains("\npruning.sparsity=0.5\n"), text);
    assertTrue(text.contains("\npruning.mask-structure=2:4\n"), text);
    assertTrue(text.contains("\npruning.sparsellm.alpha=auto\n"), text);
    assertTrue(text.contains("\noutput.dtype=auto"), text);
  }

  @Test
  void parsesTypedValues() {
    PrunePlan p = plan("--pruning.sparsity=0.7", "--pruning.mask-structure=4:8", "--pruning.layers=first-half", "--output.dtype=bf16",
        "--pruning.sparsellm.iterations=3");
    assertEquals(PruningMethod.SPARSEGPT, p.pruning().method());
    assertEquals(0.7, p.pruning().sparsity());
    assertEquals(MaskStructure.nOfM(4, 8), p.pruning().mask());
    assertEquals(4, p.prunedBlocks(8));
    assertEquals(DType.BF16, p.output().dtype());
    assertEquals(3, p.pruning().sparseLlm().iterations());
    assertNull(p.pruning().sparseLlm().alpha());
    assertEquals(128, p.pruning().blockSize());
    assertEquals(64, p.calibration().numSamples());
  }

  @Test
  void rejectsNonFiniteAndOutOfRangeNumbers() {
    assertTrue(error(() -> plan("--pruning.sparsity=NaN")).contains("'pruning.sparsity' is set to NaN but must be a finite number in [0, 1)"));
    assertTrue(error(() -> plan("--pruning.sparsity=1")).contains("'pruning.sparsity' is set to 1 but must be in [0, 1)"));
    assertTrue(error(() -> plan("--pruning.sparsity=0.5f")).contains("'pruning.sparsity' is set to '0.5f' but must be a number in [0, 1)"));
    assertTrue(error(() -> plan("--pruning.dampening-fraction=Infinity"))
        .contains("'pruning.dampening-fraction' is set to Infinity but must be a finite number >= 0"));
    assertTrue(error(() -> plan("--pruning.dampening-fraction=1e400")).contains("'pruning.dampening-fraction' is set to 1e400 but must be a finite"));
    assertTrue(error(() -> plan("--pruning.block-size=0")).contains("'pruning.block-size' is set to 0 but must be > 0"));
    assertTrue(error(() -> plan("--pruning.block-size=1.5")).contains("'pruning.block-size' is set to '1.5' but must be an integer"));
    assertTrue(error(() -> plan("--calibration.num-samples=0")).contains("'calibration.num-samples' is set to 0 but must be > 0"));
    assertTrue(error(() -> plan("--calibration.seqlen=1")).contains("'calibration.seqlen' is set to 1 but must be >= 2"));
    assertTrue(error(() -> plan("--pruning.sparsellm.gamma=-Infinity")).contains("'pruning.sparsellm.gamma' is set to -Infinity but must be a finite"));
    assertTrue(error(() -> plan("--pruning.sparsellm.s-learning-rate=0")).contains("'pruning.sparsellm.s-learning-rate' is set to 0.0 but must be > 0"));
    assertTrue(error(() -> plan("--calibration.windows=w.safetensors")).contains("Exactly one of 'calibration.windows' and 'calibration.text'"));
  }

  @Test
  void nOfMMustTileEveryPrunedLinearsInputWidth() throws Exception {
    ModelSpec llama = spec("tiny-llama-imdb");
    String err = error(() -> plan("--pruning.mask-structure=3:5").check(llama, "llama/config.json"));
    assertTrue(err.contains("'pruning.mask-structure' is set to 3:5 but M = 5 does not divide the input width 256 of tensor "
        + "'model.layers.0.self_attn.q_proj.weight' (hidden_size=256 in llama/config.json)"), err);
    plan("--pruning.mask-structure=2:4").check(llama, "llama/config.json");
    ModelSpec opt = spec("tiny-opt-imdb");
    // 128 divides hidden_size 256 and ffn_dim 1024; 512 divides ffn_dim but not hidden_size
    plan("--pruning.mask-structure=64:128").check(opt, "opt/config.json");
    err = error(() -> plan("--pruning.mask-structure=1:512").check(opt, "opt/config.json"));
    assertTrue(err.contains("input width 256 of tensor 'model.decoder.layers.0.self_attn.q_proj.weight' (hidden_size=256"), err);
    err = error(() -> plan("--pruning.mask-structure=1:3").check(llama, "llama/config.json"));
    assertTrue(err.contains("M = 3 does not divide the input width 256"), err);
  }

  @Test
  void windowLengthsMustFitThePositions() throws Exception {
    ModelSpec llama = spec("tiny-llama-imdb");
    String err = error(() -> plan("--calibration.seqlen=1025").check(llama, "llama/config.json"));
    assertTrue(err.contains("'calibration.seqlen' is set to 1025 but must be at most the model's max_position_embeddings, 1024 (llama/config.json)"), err);
    plan("--eval.seqlen=4096").check(llama, "llama/config.json"); // no eval.texts: eval.seqlen is not used
    err = error(() -> plan("--eval.seqlen=4096", "--eval.texts=a.txt").check(llama, "llama/config.json"));
    assertTrue(err.contains("'eval.seqlen' is set to 4096 but must be at most the model's max_position_embeddings, 1024"), err);
  }

  @Test
  void depthPlanChecksAgainstTheModel() throws Exception {
    ModelSpec llama = spec("tiny-llama-imdb");
    DepthPrunePlan p = DepthPrunePlan.of(ConfigLoader.fromArgs("depth-prune", List.of("--model.path=m", "--output.path=o",
        "--depth.criterion=magnitude", "--depth.num-blocks=2", "--depth.protect=0, L - 1")));
    assertEquals(List.of("0", "L-1"), p.depth().protect());
    p.check(llama, "c.json");
    assertEquals(java.util.Set.of(0, 7), p.depth().protectedBlocks(8, "c.json"));
    assertEquals(128, p.calibration().seqlen()); // the depth-prune defaults
    String err = error(() -> DepthPrunePlan.of(ConfigLoader.fromArgs("depth-prune", List.of("--model.path=m", "--output.path=o",
        "--depth.criterion=ppl", "--depth.num-blocks=1", "--depth.protect=0,first"))));
    assertTrue(err.contains("'depth.protect' lists 'first'"), err);
  }
}
