package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsWriter;
import sparkslim.jobs.spark.SparkSessions;

/**
 * One bad setting per row, on the example LLaMA (every pruned linear's input is 256 or 768 wide, max_position_embeddings
 * 1024, vocab_size 8192). Each row must end with exit code 2, an error naming the key, no {@code _SUCCESS}, and no
 * Spark session started: every user error is found by the job's plan, before Spark.
 */
class SettingsTableTest {
  /** Placeholders in a row's arguments, replaced by windows files written once into {@link #files}. */
  private static final String F32_WINDOWS = "{f32-windows}";
  private static final String VOCAB_WINDOWS = "{vocab-windows}";
  private static final String SHORT_WINDOWS = "{short-windows}";
  /** A text of fewer tokens than one batch of windows; teachers whose tokenizer or vocabulary differ from the student's. */
  private static final String SHORT_TEXT = "{short-text}";
  private static final String OTHER_TOKENIZER = "{other-tokenizer-teacher}";
  private static final String OTHER_VOCAB = "{other-vocab-teacher}";

  @TempDir
  static Path files;

  @TempDir
  Path tmp;

  /** A bad setting: the job, the arguments added to its valid base arguments, and the key the error must name. */
  record Row(String job, String key, List<String> args) {
    @Override
    public String toString() {
      return job + " " + String.join(" ", args) + " -> '" + key + "'";
    }
  }

  private static Row row(String job, String key, String... args) {
    return new Row(job, key, List.of(args));
  }

  static Stream<Row> rows() {
    String eval = "eval";
    String prune = "prune";
    String depth = "depth-prune";
    String quantize = "quantize";
    String ft = "finetune";
    String lowrank = "lowrank";
    String evalText = "--eval.texts=" + TestSupport.data("imdb.eval.txt");
    String goldenWindows = "--calibration.windows=" + TestSupport.examples().resolve("golden").resolve("tiny-llama-imdb.calib.safetensors");
    return Stream.of(
        // eval
        row(eval, "eval.seqlen", "--eval.seqlen=1"),
        row(eval, "eval.seqlen", "--eval.seqlen=2048"),
        row(eval, "eval.seqlen", "--eval.seqlen=abc"),
        row(eval, "eval.max-windows", "--eval.max-windows=-1"),
        row(eval, "eval.partitions", "--eval.partitions=-2"),
        row(eval, "eval.seqlenn", "--eval.seqlenn=128"),
        row(eval, "eval.texts", "--eval.texts="),
        row(eval, "model.path", "--model.path="),
        row(eval, "spark.app-name", "--spark.app-name="),
        // prune: mask structure (3:5 and 2:3 parse, but 5 and 3 do not divide the 256-wide inputs)
        row(prune, "pruning.mask-structure", "--pruning.mask-structure=3:5"),
        row(prune, "pruning.mask-structure", "--pruning.mask-structure=2:3"),
        row(prune, "pruning.mask-structure", "--pruning.mask-structure=0:4"),
        row(prune, "pruning.mask-structure", "--pruning.mask-structure=a:b"),
        row(prune, "pruning.mask-structure", "--pruning.mask-structure=4:2"),
        // prune: SparseGPT numbers
        row(prune, "quantization.keep-zeros", "--quantization.method=gptq", "--quantization.act-order=off", "--quantization.keep-zeros=true"),
        row(prune, "pruning.dampening-fraction", "--pruning.dampening-fraction=Infinity"),
        row(prune, "pruning.dampening-fraction", "--pruning.dampening-fraction=NaN"),
        row(prune, "pruning.dampening-fraction", "--pruning.dampening-fraction=-0.1"),
        row(prune, "pruning.block-size", "--pruning.block-size=-128"),
        row(prune, "pruning.block-size", "--pruning.block-size=0"),
        row(prune, "pruning.zero-dead-columns", "--pruning.zero-dead-columns=maybe"),
        // prune: sparsity, method, layers, dtype
        row(prune, "pruning.sparsity", "--pruning.sparsity=1"),
        row(prune, "pruning.sparsity", "--pruning.sparsity=-0.1"),
        row(prune, "pruning.sparsity", "--pruning.sparsity=NaN"),
        row(prune, "pruning.sparsity", "--pruning.sparsity=abc"),
        row(prune, "pruning.method", "--pruning.method=obs"),
        row(prune, "pruning.method", "--pruning.method="),
        row(prune, "pruning.layers", "--pruning.layers=some"),
        row(prune, "output.dtype", "--output.dtype=int8"),
        row(prune, "output.path", "--output.path="),
        row(prune, "pruning.sparsityy", "--pruning.sparsityy=0.5"),
        // prune: SparseLLM
        row(prune, "pruning.sparsellm.alpha", "--pruning.method=sparsellm", "--pruning.sparsellm.alpha=0"),
        row(prune, "pruning.sparsellm.alpha", "--pruning.method=sparsellm", "--pruning.sparsellm.alpha=-1"),
        row(prune, "pruning.sparsellm.beta", "--pruning.method=sparsellm", "--pruning.sparsellm.beta=Infinity"),
        row(prune, "pruning.sparsellm.iterations", "--pruning.method=sparsellm", "--pruning.sparsellm.iterations=0"),
        row(prune, "pruning.sparsellm.s-learning-rate", "--pruning.method=sparsellm", "--pruning.sparsellm.s-learning-rate=NaN"),
        row(prune, "pruning.sparsellm.s-gradient-steps", "--pruning.method=sparsellm", "--pruning.sparsellm.s-gradient-steps=-1"),
        // prune: calibration
        row(prune, "calibration.num-samples", "--calibration.num-samples=0"),
        row(prune, "calibration.seqlen", "--calibration.seqlen=1"),
        row(prune, "calibration.seqlen", "--calibration.seqlen=2048"),
        row(prune, "calibration.seed", "--calibration.seed=x"),
        row(prune, "calibration.partitions", "--calibration.partitions=-1"),
        row(prune, "calibration.windows", goldenWindows),
        row(prune, "calibration.text", "--calibration.text=" + TestSupport.data("no-such-file.txt")),
        row(prune, "calibration.windows", "--calibration.text=", "--calibration.windows=" + F32_WINDOWS),
        row(prune, "calibration.windows", "--calibration.text=", "--calibration.windows=" + VOCAB_WINDOWS),
        row(prune, "calibration.seqlen", "--calibration.text=", "--calibration.windows=" + SHORT_WINDOWS),
        row(prune, "calibration.num-samples", "--calibration.text=", goldenWindows, "--calibration.num-samples=100"),
        // prune: eval after pruning
        row(prune, "eval.seqlen", evalText, "--eval.seqlen=2048"),
        row(prune, "eval.max-windows", evalText, "--eval.max-windows=-1"),
        // depth-prune
        row(depth, "depth.num-blocks", "--depth.num-blocks=2"),
        row(depth, "depth.num-blocks", "--depth.num-blocks=8", "--depth.protect=none"),
        row(depth, "depth.num-blocks", "--depth.num-blocks=0"),
        row(depth, "depth.num-blocks", "--depth.num-blocks=two"),
        row(depth, "depth.criterion", "--depth.criterion=fisher"),
        row(depth, "depth.criterion", "--depth.criterion="),
        row(depth, "depth.mode", "--depth.mode=greedy"),
        row(depth, "depth.criterion", "--depth.criterion=taylor", "--eval.mode=streamed"),
        row(depth, "eval.mode", "--eval.mode=layered"),
        row(depth, "depth.protect", "--depth.protect=0,1,8"),
        row(depth, "depth.protect", "--depth.protect=0,L-12"),
        row(depth, "depth.protect", "--depth.protect=first"),
        row(depth, "calibration.seqlen", "--calibration.seqlen=2048"),
        row(depth, "calibration.windows", "--calibration.windows=" + F32_WINDOWS),
        row(depth, "eval.seqlen", evalText, "--eval.seqlen=2048"),
        row(depth, "output.dtype", "--output.dtype=int8"),
        // quantize
        row(quantize, "quantization.bits", "--quantization.bits=5"),
        row(quantize, "quantization.bits", "--quantization.bits=16"),
        row(quantize, "quantization.group-size", "--quantization.group-size=0"),
        row(quantize, "quantization.group-size", "--quantization.group-size=-128"),
        row(quantize, "quantization.group-size", "--quantization.group-size=96"),
        row(quantize, "quantization.group-size", "--quantization.group-size=row"),
        row(quantize, "quantization.symmetric", "--quantization.format=gptq", "--quantization.symmetric=false"),
        row(quantize, "quantization.symmetric", "--quantization.format=gptq", "--quantization.symmetric=false", "--quantization.act-order=dynamic"),
        row(quantize, "quantization.bits", "--quantization.format=gptq", "--quantization.bits=3"),
        row(quantize, "quantization.method", "--quantization.method=awq"),
        row(quantize, "quantization.method", "--quantization.method=none"),
        row(quantize, "quantization.format", "--quantization.format=exl2"),
        row(quantize, "quantization.act-order", "--quantization.act-order=random"),
        row(quantize, "quantization.dampening-fraction", "--quantization.dampening-fraction=-0.01"),
        row(quantize, "quantization.dampening-fraction", "--quantization.dampening-fraction=NaN"),
        row(quantize, "quantization.dampening-fraction", "--quantization.dampening-fraction=Infinity"),
        row(quantize, "quantization.block-size", "--quantization.block-size=0"),
        row(quantize, "calibration.seqlen", "--calibration.seqlen=2048"),
        row(quantize, "eval.seqlen", evalText, "--eval.seqlen=2048"),
        row(quantize, "output.dtype", "--output.dtype=int8"),
        // lowrank
        row(lowrank, "lowrank.ratio", "--lowrank.ratio=0"),
        row(lowrank, "lowrank.ratio", "--lowrank.ratio=1"),
        row(lowrank, "lowrank.ratio", "--lowrank.ratio=-0.5"),
        row(lowrank, "lowrank.ratio", "--lowrank.ratio=NaN"),
        row(lowrank, "lowrank.ratio", "--lowrank.ratio=0.001"), // rank 0 for the 256 x 256 projections
        row(lowrank, "lowrank.method", "--lowrank.method=asvd"),
        row(lowrank, "lowrank.method", "--lowrank.method="),
        row(lowrank, "calibration.seqlen", "--calibration.seqlen=2048"),
        // prune with quantization: the joint SparseGPT + GPTQ sweep
        row(prune, "quantization.method", "--quantization.method=rtn"),
        row(prune, "quantization.act-order", "--quantization.method=gptq", "--pruning.mask-structure=2:4"),
        row(prune, "quantization.method", "--quantization.method=gptq", "--quantization.act-order=off", "--pruning.method=wanda"),
        row(prune, "pruning.dampening-fraction", "--quantization.method=gptq", "--quantization.act-order=off", "--pruning.dampening-fraction=0.05"),
        row(prune, "quantization.group-size", "--quantization.method=gptq", "--quantization.act-order=off", "--quantization.group-size=96"),
        // finetune
        row(ft, "finetune.method", "--finetune.method=adapter"),
        row(ft, "finetune.lora.rank", "--finetune.lora.rank=0"),
        row(ft, "finetune.lora.rank", "--finetune.lora.rank=-4"),
        row(ft, "finetune.lora.targets", "--finetune.lora.targets=q_proj,qkv_proj"),
        row(ft, "finetune.lora.dropout", "--finetune.lora.dropout=1"),
        row(ft, "finetune.learning-rate", "--finetune.learning-rate=0"),
        row(ft, "finetune.learning-rate", "--finetune.learning-rate=-1e-3"),
        row(ft, "finetune.learning-rate", "--finetune.learning-rate=NaN"),
        row(ft, "finetune.learning-rate", "--finetune.learning-rate=Infinity"),
        row(ft, "finetune.batch-size", "--finetune.text=" + SHORT_TEXT),
        row(ft, "finetune.micro-batch-size", "--finetune.micro-batch-size=3"),
        row(ft, "finetune.micro-batch-size", "--finetune.micro-batch-size=0"),
        row(ft, "finetune.text", "--finetune.text=/nonexistent/train.txt"),
        row(ft, "finetune.seqlen", "--finetune.seqlen=4096"),
        row(ft, "finetune.warmup-fraction", "--finetune.warmup-fraction=1.5"),
        row(ft, "finetune.keep-zeros", "--finetune.keep-zeros=maybe"),
        row(ft, "finetune.teacher.path", "--finetune.teacher.path=" + OTHER_TOKENIZER),
        row(ft, "finetune.teacher.path", "--finetune.teacher.path=" + OTHER_VOCAB),
        row(ft, "finetune.kd.temperature", "--finetune.kd.temperature=0"),
        row(ft, "quantization.method", "--finetune.method=qat"),
        row(ft, "quantization.method", "--quantization.method=rtn"),
        row(ft, "finetune.quant-noise", "--finetune.method=qat", "--quantization.method=rtn", "--finetune.quant-noise=0"),
        row(ft, "quantization.group-size", "--finetune.method=qat", "--quantization.method=rtn", "--quantization.group-size=100"));
  }

  /** The job's valid arguments on the example LLaMA; a row's arguments come after them and override them. */
  private List<String> base(String job, Path out) {
    List<String> args = new ArrayList<>(List.of(job, "--model.path=" + TestSupport.model("tiny-llama-imdb"), "--output.path=" + out,
        "--spark.master=local[1]"));
    switch (job) {
      case "eval":
        args.add("--eval.texts=" + TestSupport.data("imdb.eval.txt"));
        break;
      case "prune":
        args.addAll(List.of("--pruning.method=sparsegpt", "--pruning.sparsity=0.5", "--calibration.text=" + TestSupport.data("imdb.calib.txt"),
            "--calibration.num-samples=2", "--calibration.seqlen=64"));
        break;
      case "quantize":
        args.addAll(List.of("--quantization.method=gptq", "--calibration.windows="
            + TestSupport.examples().resolve("golden").resolve("tiny-llama-imdb.calib.safetensors"), "--calibration.num-samples=2",
            "--calibration.seqlen=64"));
        break;
      case "lowrank":
        args.addAll(List.of("--lowrank.method=svd-llm", "--lowrank.ratio=0.8", "--calibration.windows="
            + TestSupport.examples().resolve("golden").resolve("tiny-llama-imdb.calib.safetensors"), "--calibration.num-samples=2",
            "--calibration.seqlen=64"));
        break;
      case "depth-prune":
        args.addAll(List.of("--depth.criterion=ppl", "--depth.num-blocks=1",
            "--calibration.windows=" + TestSupport.examples().resolve("golden").resolve("tiny-llama-imdb.calib.safetensors"),
            "--calibration.num-samples=2", "--calibration.seqlen=64"));
        break;
      case "finetune":
        args.addAll(List.of("--finetune.method=lora", "--finetune.text=" + TestSupport.data("imdb.calib.txt"), "--finetune.seqlen=64",
            "--finetune.batch-size=4", "--finetune.max-steps=1"));
        break;
      default:
        throw new IllegalArgumentException(job);
    }
    return args;
  }

  @BeforeAll
  static void writeWindowsFiles() {
    FileSystem fs = local();
    // float token ids: the wrong dtype
    SafetensorsWriter.writeFile(fs, new org.apache.hadoop.fs.Path(files.resolve("f32.safetensors").toString()),
        List.of(SafetensorsWriter.Tensor.ofFloats("calibration_windows", DType.F32, new long[] {2, 64}, new float[128])), Map.of());
    // a token id equal to vocab_size
    long[] ids = new long[2 * 64];
    ids[70] = 8192;
    SafetensorsWriter.writeFile(fs, new org.apache.hadoop.fs.Path(files.resolve("vocab.safetensors").toString()),
        List.of(SafetensorsWriter.Tensor.ofLongs("calibration_windows", new long[] {2, 64}, ids)), Map.of());
    // windows of 32 tokens where calibration.seqlen asks for 64
    SafetensorsWriter.writeFile(fs, new org.apache.hadoop.fs.Path(files.resolve("short.safetensors").toString()),
        List.of(SafetensorsWriter.Tensor.ofLongs("calibration_windows", new long[] {2, 32}, new long[64])), Map.of());
  }

  /**
   * Teachers beside the student's files: one whose tokenizer.json differs by a byte, one whose config.json says another
   * vocab_size (the weights are the student's, linked).
   */
  @BeforeAll
  static void writeTeachersAndShortText() throws IOException {
    Files.writeString(files.resolve("short.txt"), "A review too short for one batch of windows.");
    Path student = TestSupport.model("tiny-llama-imdb");
    for (String teacher : List.of("other-tokenizer", "other-vocab")) {
      Path dir = Files.createDirectories(files.resolve(teacher));
      try (Stream<Path> list = Files.list(student)) {
        for (Path p : list.toList()) {
          String name = p.getFileName().toString();
          if (name.equals("tokenizer.json") && teacher.equals("other-tokenizer")) {
            Files.writeString(dir.resolve(name), Files.readString(p) + " ");
          } else if (name.equals("config.json") && teacher.equals("other-vocab")) {
            Files.writeString(dir.resolve(name), Files.readString(p).replace("\"vocab_size\": 8192", "\"vocab_size\": 8000"));
          } else {
            Files.createSymbolicLink(dir.resolve(name), p.toAbsolutePath());
          }
        }
      }
    }
  }

  private static FileSystem local() {
    try {
      return FileSystem.getLocal(new Configuration());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String resolve(String arg) {
    return arg.replace(F32_WINDOWS, files.resolve("f32.safetensors").toString())
        .replace(VOCAB_WINDOWS, files.resolve("vocab.safetensors").toString())
        .replace(SHORT_WINDOWS, files.resolve("short.safetensors").toString())
        .replace(SHORT_TEXT, files.resolve("short.txt").toString())
        .replace(OTHER_TOKENIZER, files.resolve("other-tokenizer").toString())
        .replace(OTHER_VOCAB, files.resolve("other-vocab").toString());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rows")
  void badSettingIsAUserErrorBeforeSpark(Row row) {
    Path out = tmp.resolve("out");
    List<String> args = base(row.job(), out);
    row.args().forEach(a -> args.add(resolve(a)));
    int sparkBefore = SparkSessions.started();
    // asserts exit code 2 (Main.EXIT_USER_ERROR) and no _SUCCESS in the output directory
    String stderr = TestSupport.failingRun(out, args.toArray(new String[0]));
    String prefix = "sparkslim " + row.job() + ": error: ";
    int at = stderr.indexOf(prefix);
    assertTrue(at >= 0, "no error line in:\n" + stderr);
    String message = stderr.substring(at + prefix.length());
    assertTrue(message.contains("'" + row.key() + "'"), "the error must name '" + row.key() + "': " + message);
    assertEquals(sparkBefore, SparkSessions.started(), "a user error must not start Spark");
  }

  @org.junit.jupiter.api.Test
  void tableCoversTheThreeJobs() {
    List<Row> all = rows().toList();
    assertTrue(all.size() >= 30, "rows: " + all.size());
    for (String job : List.of("eval", "prune", "depth-prune", "quantize", "finetune", "lowrank")) {
      assertTrue(all.stream().anyMatch(r -> r.job().equals(job)), job);
    }
  }
}
