package sparkslim.jobs;

import java.util.Arrays;
import java.util.List;
import sparkslim.core.SparkslimException;
import sparkslim.core.bench.ForwardBenchmark;
import sparkslim.core.bench.GptqBenchmark;
import sparkslim.core.bench.SparseGptBenchmark;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.linalg.Blas;
import sparkslim.core.model.RandomModel;

/**
 * Command-line entry point: {@code sparkslim <job> --key=value ...}. Exit codes: 0 success, 2 user error
 * (bad input or configuration: the message names the file or key), 1 internal failure.
 */
public final class Main {
  public static final int EXIT_OK = 0;
  public static final int EXIT_FAILURE = 1;
  public static final int EXIT_USER_ERROR = 2;

  private Main() {}

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs a job and returns its exit code (tests call this instead of {@link #main}). */
  public static int run(String[] args) {
    if (args.length == 0 || args[0].equals("--help") || args[0].equals("help")) {
      System.err.println(usage());
      return args.length == 0 ? EXIT_USER_ERROR : EXIT_OK;
    }
    String job = args[0];
    List<String> rest = Arrays.asList(args).subList(1, args.length);
    try {
      switch (job) {
        case "eval":
          EvalJob.run(rest);
          return EXIT_OK;
        case "prune":
          PruneJob.run(rest);
          return EXIT_OK;
        case "quantize":
          QuantizeJob.run(rest);
          return EXIT_OK;
        case "depth-prune":
          DepthPruneJob.run(rest);
          return EXIT_OK;
        case "lowrank":
          LowRankJob.run(rest);
          return EXIT_OK;
        case "finetune":
          FinetuneJob.run(rest);
          return EXIT_OK;
        case "sweep":
          SweepJob.run(rest);
          return EXIT_OK;
        case "windows":
          WindowsJob.run(rest);
          return EXIT_OK;
        case "random-model":
          RandomModelJob.run(rest);
          return EXIT_OK;
        case "bench-depth":
          BenchDepthJob.run(rest);
          return EXIT_OK;
        case "bench-forward":
          benchForward(rest);
          return EXIT_OK;
        case "bench-block":
          benchBlock(rest);
          return EXIT_OK;
        case "bench-sparsellm":
          BenchSparseLlmJob.run(rest);
          return EXIT_OK;
        case "bench-finetune":
          try {
            BenchFinetuneJob.run(rest);
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
          return EXIT_OK;
        case "bench-solve":
          BenchSolveJob.run(rest);
          return EXIT_OK;
        case "bench-lowrank":
          System.out.println(sparkslim.core.bench.LowRankBenchmark.run(4096, 11008, 0.8));
          return EXIT_OK;
        case "bench-gptq":
          System.out.println(GptqBenchmark.run(4096, 11008, 4, 128, 128));
          return EXIT_OK;
        case "bench-sparsegpt":
          System.out.println(SparseGptBenchmark.run(4096, 11008, 0.5, 128));
          return EXIT_OK;
        default:
          throw new SparkslimException("Unknown job '" + job + "': expected one of eval, prune, quantize, depth-prune, lowrank, finetune, sweep, windows, random-model, bench-forward, bench-block, bench-sparsegpt, bench-gptq, bench-lowrank, bench-sparsellm, bench-depth, bench-solve, bench-finetune\n" + usage());
      }
    } catch (SparkslimException e) {
      System.err.println("sparkslim " + job + ": error: " + e.getMessage());
      return EXIT_USER_ERROR;
    } catch (RuntimeException | Error e) {
      System.err.println("sparkslim " + job + ": internal failure: " + e);
      e.printStackTrace();
      return EXIT_FAILURE;
    }
  }

  /** Runs {@link ForwardBenchmark} with BLAS on all cores and on one thread; prints one JSON line each. */
  private static void benchForward(List<String> args) {
    Config c = ConfigLoader.fromArgs(args);
    int windows = c.integer(ConfigKey.EVAL_MAX_WINDOWS) > 0 ? c.integer(ConfigKey.EVAL_MAX_WINDOWS) : 16;
    String text = c.list(ConfigKey.EVAL_TEXTS).isEmpty() ? "" : c.list(ConfigKey.EVAL_TEXTS).get(0);
    if (text.isEmpty()) {
      throw new SparkslimException("Missing required key 'eval.texts' (" + ConfigKey.EVAL_TEXTS.description() + ")");
    }
    int cores = Runtime.getRuntime().availableProcessors();
    for (int threads : new int[] {cores, 1}) {
      Blas.setThreads(threads);
      System.out.println(ForwardBenchmark.run(c.required(ConfigKey.MODEL_PATH), text, windows, c.integer(ConfigKey.EVAL_SEQLEN)));
    }
    // as the jobs run on local[cores]: one task per core, one BLAS thread each
    System.out.println(ForwardBenchmark.run(c.required(ConfigKey.MODEL_PATH), text, windows, c.integer(ConfigKey.EVAL_SEQLEN), cores));
    Blas.setThreads(cores);
    System.out.println(ForwardBenchmark.runBackward(c.required(ConfigKey.MODEL_PATH), text, windows, c.integer(ConfigKey.EVAL_SEQLEN)));
  }

  /** Runs {@link ForwardBenchmark#runBlock} on one random block of {@code random.architecture}, BLAS on all cores. */
  private static void benchBlock(List<String> args) {
    Config c = ConfigLoader.fromArgs(args);
    String shape = c.string(ConfigKey.RANDOM_ARCHITECTURE);
    RandomModel.Preset preset = RandomModel.Preset.parse(shape.isEmpty() ? RandomModel.Preset.LLAMA_7B.id() : shape);
    Blas.setThreads(Runtime.getRuntime().availableProcessors());
    ForwardBenchmark.runBlock(preset, c.integer(ConfigKey.EVAL_SEQLEN), 3).forEach(System.out::println);
  }

  static String usage() {
    return String.join("\n",
        "usage: sparkslim <job> [--config=FILE[,FILE...]] [--key=value ...]",
        "jobs:",
        "  eval   perplexity of a HuggingFace model on text files, windows partitioned over Spark tasks",
        "         --model.path=DIR --eval.texts=FILE[,FILE...] --output.path=OUT [--eval.seqlen=512]",
        "         [--eval.max-windows=N] [--eval.mode=auto|in-memory|streamed] [--spark.master=local[*]]",
        "         streamed: the driver reads no weights; one block per stage, read by the executors from the files",
        "  prune  layer-sequential magnitude | wanda | sparsegpt | sparsellm pruning, shards written per block (resumable)",
        "         --model.path=DIR --output.path=OUT --pruning.method=M --pruning.sparsity=0.5 [--pruning.mask-structure=2:4]",
        "         (--calibration.windows=FILE | --calibration.text=FILE [--calibration.num-samples=64 --calibration.seqlen=512])",
        "         [--eval.texts=FILE,...] [--output.dtype=auto|float32|float16|bfloat16] [--pruning.layers=all|first-half]",
        "         sparsellm: [--pruning.sparsellm.alpha=A --pruning.sparsellm.beta=B --pruning.sparsellm.gamma=G] [--pruning.sparsellm.iterations=T]",
        "         sparsegpt + --quantization.method=gptq [--quantization.act-order=static|off|dynamic (N:M: off)] [--quantization.bits=4 ...]:",
        "         prune and quantize in one sweep",
        "  quantize  RTN or GPTQ weight quantization, layer-sequential, shards written per block (resumable); exports compressed-tensors",
        "         pack-quantized or GPTQ v1 checkpoints",
        "         --model.path=DIR --output.path=OUT --quantization.method=rtn|gptq --quantization.bits=2|3|4|8",
        "         [--quantization.group-size=128|channel|tensor] [--quantization.symmetric=true] [--quantization.act-order=static|off|dynamic]",
        "         [--quantization.format=compressed-tensors|gptq] [--quantization.dampening-fraction=0.01 --quantization.block-size=128]",
        "         [--quantization.keep-zeros=false] (gptq: true keeps the zeros of an already pruned model)",
        "         gptq: (--calibration.windows=FILE | --calibration.text=FILE [--calibration.num-samples=64 --calibration.seqlen=512])",
        "         [--eval.texts=FILE,...] [--output.dtype=auto|float32|float16|bfloat16]",
        "  depth-prune  depth pruning (Shortened LLaMA): score blocks, remove the least important, write a smaller dense model",
        "         --model.path=DIR --output.path=OUT --depth.criterion=ppl|taylor|magnitude --depth.num-blocks=N",
        "         [--depth.protect=0,1,2,3,L-2,L-1|none] [--depth.mode=one-shot|iterative]",
        "         (--calibration.windows=FILE [--calibration.num-samples=10 --calibration.seqlen=128] | --calibration.text=FILE ...)",
        "         [--eval.texts=FILE,...] [--output.dtype=auto|float32|float16|bfloat16]",
        "  lowrank  low-rank factorization, layer-sequential, per-linear solve tasks, shards and factors written per block (resumable):",
        "         svd-llm (whitened by the Cholesky factor of the calibration inputs' Gram matrix) or plain svd; exports the factored",
        "         model (<linear>.u_proj/.v_proj, ranks in config.json) to OUT/model and W' multiplied back (fp32) to OUT/model-dense",
        "         --model.path=DIR --output.path=OUT --lowrank.method=svd-llm|svd --lowrank.ratio=0.8 (kept-parameter fraction)",
        "         svd-llm: (--calibration.windows=FILE | --calibration.text=FILE [--calibration.num-samples=64 --calibration.seqlen=512])",
        "         [--eval.texts=FILE,...] [--output.dtype=auto|float32|float16|bfloat16]",
        "  finetune  recovery training, data-parallel: lora | full | qat, optionally distilled from a teacher; checkpoints (resumable),",
        "         metrics/ Parquet, loss.png, the model (LoRA: merged, plus a PEFT adapter/; QAT: compressed-tensors)",
        "         --model.path=DIR --output.path=OUT --finetune.method=lora|full|qat --finetune.text=FILE [--finetune.seqlen=512",
        "         --finetune.batch-size=8 --finetune.epochs=1 --finetune.learning-rate=1e-3 --finetune.warmup-fraction=0.1]",
        "         [--finetune.max-grad-norm=1.0 --finetune.seed=0 --finetune.max-steps=0 --finetune.checkpoint-every=20]",
        "         [--finetune.lora.rank=8 --finetune.lora.alpha=16 --finetune.lora.dropout=0.05 --finetune.lora.targets=all-linear]",
        "         [--finetune.teacher.path=DIR --finetune.kd.temperature=1 --finetune.kd.ce-weight=0] [--finetune.keep-zeros=auto]",
        "         qat: --quantization.method=rtn --quantization.bits=3 [--quantization.group-size=128 --quantization.symmetric=false]",
        "         [--finetune.quant-noise=1.0 --finetune.quant-noise-block=8] [--eval.texts=FILE,...]",
        "  sweep  a grid of prune / depth-prune / quantize points in one Spark application: shared tokenization, dense model,",
        "         dense eval and depth scores; points run concurrently; OUT/points/<point-id>/ per point (a rerun skips finished",
        "         ones), OUT/results.parquet|csv|md, plots and report.html (see conf/sweep-examples.yaml)",
        "         --config=SWEEP.yaml --output.path=OUT [--sweep.concurrency=2] [--key=value: applies to every point]",
        "  windows  write a calibration windows file OUT/windows.safetensors: the first windows of a text, or sampled ones",
        "         --model.path=DIR --output.path=OUT (--eval.texts=FILE [--eval.seqlen=512 --eval.max-windows=32] | --calibration.text=FILE ...)",
        "  random-model  write a HuggingFace model directory of random bf16 weights at a published shape (no Spark), for capacity planning",
        "         --random.architecture=llama-7b|llama-13b|llama-70b|opt-6.7b|tiny-llama --output.path=OUT",
        "         [--random.num-layers=0 (= the architecture's)] [--random.vocab-size=0] [--random.seed=0] [--random.std=0.02]",
        "  bench-forward  benchmark (no Spark): forward-pass (BLAS on all cores; 1 thread; a task per core) and training-pass tokens/s and GFLOP/s",
        "         next to sgemm GFLOP/s, same run: --model.path=DIR --eval.texts=FILE [--eval.max-windows=16] [--eval.seqlen=512]",
        "  bench-block  benchmark (no Spark): one random block of a published shape, forward and training pass, GFLOP/s next to",
        "         sgemm GFLOP/s: [--random.architecture=llama-7b] [--eval.seqlen=512]",
        "  bench-sparsegpt  benchmark (no Spark): one SparseGPT solve of a 4096x11008 linear next to its FLOP bound at sgemm peak",
        "  bench-gptq  benchmark (no Spark): one GPTQ W4 g128 solve of a 4096x11008 linear per act-order, next to its FLOP bound",
        "  bench-lowrank  benchmark (no Spark): one SVD-LLM solve of a 4096x11008 linear at ratio 0.8, next to its FLOP bound, and the peak heap",
        "         at sgemm peak",
        "  bench-sparsellm  benchmark (Spark): one SparseLLM FFN alternation at LLaMA-7B shapes on random data; driver peak heap and",
        "         bytes collected per alternation for each of --bench.tokens=2048,8192 [--spark.master=local-cluster[2,1,8192]]",
        "  bench-depth  benchmark (Spark): the PPL criterion's candidate phase on each of --bench.masters='A;B'; speed-up of B over A",
        "         --model.path=DIR --calibration.windows=FILE [--calibration.num-samples=32 --calibration.seqlen=512]",
        "  bench-solve  benchmark (Spark): one block's solve phase (SparseGPT, one task per linear) on each of --bench.masters='A;B',",
        "         speed-up of B over A, and one 4096x11008 SparseGPT solve against its FLOP bound at sgemm peak",
        "         --model.path=DIR (e.g. random-model llama-7b) --calibration.text=FILE [--calibration.num-samples=8]",
        "  bench-finetune  benchmark (Spark): a finetune run of 20 steps on local[2] (the finetune keys; default max-steps 20), then",
        "         steady-state tokens/s and training GFLOP/s against the sgemm peak measured in the same JVM",
        "Keys and defaults: conf/defaults.yaml (depth-prune: also conf/defaults-depth-prune.yaml).");
  }
}
