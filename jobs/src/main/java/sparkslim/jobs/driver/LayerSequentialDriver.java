package sparkslim.jobs.driver;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import sparkslim.core.SparkslimException;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.compress.LinearSolver;
import sparkslim.core.io.DType;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.lowrank.LowRankExport;
import sparkslim.core.lowrank.LowRankSolver;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.prune.LinearCensus;
import sparkslim.core.prune.MaskStructure;
import sparkslim.core.prune.sparsellm.FfnKind;
import sparkslim.core.prune.sparsellm.SparseLlmOptions;
import sparkslim.core.prune.sparsellm.SparseLlmSolver;
import sparkslim.core.quant.QuantStrategy;
import sparkslim.core.quant.QuantizedShardTable;
import sparkslim.jobs.spark.ExecutorModels;
import sparkslim.jobs.spark.TaskThreads;

/**
 * The layer-sequential compression loop, blocks streamed: calibration samples live in an RDD of per-sample hidden
 * states, embedded on the executors from the model files. For each block:
 * <ol>
 *   <li>statistics: tasks run their samples through the dense block (each executor reads it from the model files) and
 *       emit exact-sum slices of every input group's Σ XᵀX; Spark reduces them by key and routes them to one partition
 *       per linear ({@link LinearStatistics});</li>
 *   <li>solve: one Spark task per linear, largest first, solves it where its statistics meet and writes it to a part
 *       file ({@link LinearSolveTask}); the driver receives the outcomes only;</li>
 *   <li>write: the driver streams the parts (one tensor at a time) and the block's other tensors into
 *       {@code shards/block-NNNNN.parquet}, and writes the metrics, so a rerun resumes after the last written block;</li>
 *   <li>propagate: executors read the compressed block back from its shard and run the samples through it (weights
 *       rounded to the output dtype, as exported).</li>
 * </ol>
 * The driver holds no block and no statistics: at most one tensor while it writes a shard. SparseLLM's FFN step
 * ({@link FfnAlternation}) runs before the statistics: its solves are Spark tasks too, and write the FFN's part files.
 */
public final class LayerSequentialDriver {
  /** Test hook: {@code -Dsparkslim.inject-failure-after-block=k} fails the run right after block k is written. */
  public static final String INJECT_FAILURE_PROPERTY = "sparkslim.inject-failure-after-block";
  /** Test hook: {@code -Dsparkslim.inject-failure-in-solve=k} fails the run after block k's linears are solved, before its shard. */
  public static final String INJECT_SOLVE_FAILURE_PROPERTY = "sparkslim.inject-failure-in-solve";
  /**
   * Test hook: {@code -Dsparkslim.test.kill-executor=statistics:k} or {@code solve:k} halts one executor JVM (exit 137, as
   * {@code kill -9}), once per run, in block k's statistics or solve stage ({@link ExecutorKillHook}; for local-cluster).
   */
  public static final String KILL_EXECUTOR_PROPERTY = "sparkslim.test.kill-executor";

  /** One calibration sample: its index and current hidden states (seqLen, hiddenSize). */
  public record Sample(int index, float[] hidden, int seqLen) implements Serializable {}

  /** What the driver learned about one linear. */
  public record LinearOutcome(int block, String linear, long numel, long zeros, double reconstructionLoss, double solverLoss,
                              double seconds, String fallback) implements Serializable {}

  /** Per-block timings (seconds) and whether the block was resumed from its shard. */
  public record BlockOutcome(int block, boolean resumed, double statistics, double solve, double propagate, double write) {}

  /** Where block results go; implemented by the job. */
  public interface BlockSink {
    /** Path of block {@code b}'s shard file (exists when the block is done). */
    Path shardFile(int block);

    /**
     * Path of block {@code b}'s quantized linears ({@code QuantizedLinear.avsc}) in a quantized run: beside the
     * shards, in {@code quantized/block-NNNNN.parquet}, written before the shard (so the shard says the block is done).
     */
    default Path quantizedFile(int block) {
      Path shard = shardFile(block);
      return new Path(new Path(shard.getParent().getParent(), "quantized"), shard.getName());
    }

    /**
     * Path of block {@code b}'s low-rank factors ({@code TensorShard.avsc}: {@code <linear>.u_proj.weight} and
     * {@code <linear>.v_proj.weight}) in a lowrank run, written before the shard; null in other runs.
     */
    default Path factorsFile(int block) {
      return null;
    }

    /** Writes block {@code b}'s per-linear metrics (called right before its shard is written). */
    void writeMetrics(int block, List<LinearOutcome> linears);

    /** The SparseLLM alternations of block {@code b}'s FFN; called before {@link #writeMetrics}. */
    default void writeSparseLlm(int block, List<FfnAlternation.Iteration> iterations) {}

    /** A block was resumed from its shard: read back what {@link #writeSparseLlm} wrote for it, if anything. */
    default void resumedSparseLlm(int block) {}
  }

  /** SparseLLM settings: the FFN kind, the alternation's options and solver (null for the other methods). */
  public record SparseLlm(FfnKind kind, SparseLlmOptions options, SparseLlmSolver solver) {}

  private final JavaSparkContext jsc;
  private final Configuration hadoopConf;
  private final ModelDirectory model;
  private final String modelLocation;
  private final LinearSolver solver;
  private final QuantStrategy quantStrategy; // null unless the solver quantizes
  private final MaskStructure maskStructure;
  private final DType outputDtype;
  private final String runId;
  private final String fingerprint;
  private final Consumer<String> log;
  private final SparseLlm sparseLlm;
  private final int prunedBlocks;
  /** Computes (or hands over) block 0's statistics: a sweep's points on one model and calibration share them. */
  private java.util.function.Function<java.util.function.Supplier<JavaPairRDD<String, LinearStatistics.Slice>>,
      JavaPairRDD<String, LinearStatistics.Slice>> firstBlockStatistics = java.util.function.Supplier::get;

  /**
   * @param modelLocation the model as the user gave it ('model.path'); executors open it themselves
   * @param solver the per-linear solver (a pruner's, RTN, GPTQ, or GPTQ with a SparseGPT mask)
   * @param quantStrategy how the solver's quantized linears are stored, or null when it does not quantize; a solver
   *     that reads no statistics ({@link LinearSolver#readsStatistics}) runs without calibration samples
   * @param sparseLlm SparseLLM settings when pruning.method is sparsellm, else null
   * @param prunedBlocks blocks [0, prunedBlocks) are pruned, the rest kept dense ('pruning.layers')
   */
  public LayerSequentialDriver(JavaSparkContext jsc, Configuration hadoopConf, ModelDirectory model, String modelLocation, LinearSolver solver,
                               QuantStrategy quantStrategy, MaskStructure maskStructure, DType outputDtype, String runId, String fingerprint, SparseLlm sparseLlm,
                               int prunedBlocks, Consumer<String> log) {
    this.jsc = jsc;
    this.hadoopConf = hadoopConf;
    this.model = model;
    this.modelLocation = modelLocation;
    this.solver = solver;
    this.quantStrategy = quantStrategy;
    this.maskStructure = maskStructure;
    this.outputDtype = outputDtype;
    this.runId = runId;
    this.fingerprint = fingerprint;
    this.sparseLlm = sparseLlm;
    this.prunedBlocks = prunedBlocks;
    this.log = log;
  }

  /**
   * Compresses every block, writing each block's shard; {@code linears} and {@code blocks} receive the per-linear and
   * per-block outcomes of the blocks solved in this run. Returns the zero counts of all linears (resumed blocks included).
   */
  /**
   * Lets {@code share} supply block 0's statistics: it gets the computation and returns its result or an earlier,
   * identical one. Block 0's inputs are the embedded calibration windows and its weights are dense for every method, so
   * its statistics depend only on the model and the calibration windows.
   */
  public LayerSequentialDriver shareFirstBlockStatistics(java.util.function.Function<java.util.function.Supplier<JavaPairRDD<String,
      LinearStatistics.Slice>>, JavaPairRDD<String, LinearStatistics.Slice>> share) {
    this.firstBlockStatistics = share;
    return this;
  }

  public LinearCensus run(List<int[]> windows, int partitions, BlockSink sink, List<LinearOutcome> linears, List<BlockOutcome> blocks) {
    ModelSpec spec = model.spec();
    String location = modelLocation;
    int lastToSolve = -1; // blocks after it are all resumed: nothing needs their inputs
    for (int b = spec.numLayers() - 1; b >= 0 && lastToSolve < 0; b--) {
      lastToSolve = exists(sink.shardFile(b)) ? -1 : b;
    }
    boolean dataFree = !solver.readsStatistics(); // RTN: each linear alone, no samples to embed or propagate
    JavaRDD<Sample> samples = dataFree || lastToSolve < 0 ? null : embed(jsc, location, windows, partitions);

    LinearCensus census = LinearCensus.EMPTY;
    for (int b = 0; b < spec.numLayers(); b++) {
      jsc.setJobGroup("block-" + b, "sparkslim prune: block " + b + "/" + spec.numLayers(), false);
      long t0 = System.nanoTime();
      LinearCensus blockCensus = resume(b, sink);
      boolean resumed = blockCensus != null;
      if (resumed && sparseLlm != null && b < prunedBlocks) {
        sink.resumedSparseLlm(b);
      }
      double statsSeconds = 0;
      double solveSeconds = 0;
      double writeSeconds = 0;
      if (!resumed && b >= prunedBlocks) {
        blockCensus = keepDense(b, sink);
        writeSeconds = (System.nanoTime() - t0) / 1e9;
        log.accept("block " + b + ": kept dense ('pruning.layers')");
      } else if (!resumed) {
        Path partsDir = partsDir(sink, b);
        Map<String, String> precomputed = new LinkedHashMap<>();
        List<FfnAlternation.Iteration> alternations = null;
        if (sparseLlm != null) { // the block-level step: the FFN's linears are solved together, then only measured below
          FfnAlternation.Result ffn = new FfnAlternation(jsc, sparseLlm.solver(), sparseLlm.options(), log).run(b, samples, modelLocation,
              DenseFfn.ofModel(modelLocation, b, spec, sparseLlm.kind()),
              new FfnAlternation.Parts(partsDir.toString(), spec.blockPrefix(b), outputDtype, runId, fingerprint));
          for (String linear : DecoderBlock.linearNames(spec)) {
            if (sparseLlm.kind().isFfnLinear(linear)) {
              String fallback = ffn.fallback(linear);
              precomputed.put(linear, fallback == null ? "" : fallback);
            }
          }
          alternations = ffn.iterations();
        }
        long t1 = System.nanoTime();
        Map<String, LinearStatistics.LinearShape> shapes = linearShapes(spec);
        ExecutorKillHook killHook = ExecutorKillHook.of(b, jsc.sc().applicationId(), runId); // null unless a test asks
        long ts;
        List<LinearSolveTask.Solved> solved;
        try {
          LinearSolveTask task = new LinearSolveTask(modelLocation, b, shapes, solver, maskStructure, outputDtype, partsDir.toString(), runId,
              fingerprint, precomputed, killHook, quantStrategy);
          if (dataFree) {
            ts = System.nanoTime();
            List<String> names = new ArrayList<>(shapes.keySet());
            solved = new ArrayList<>(jsc.parallelize(names, names.size()).mapPartitions(task.withoutStatistics()).collect());
          } else {
            int block = b;
            JavaRDD<Sample> blockSamples = samples;
            java.util.function.Supplier<JavaPairRDD<String, LinearStatistics.Slice>> compute =
                () -> LinearStatistics.compute(blockSamples, modelLocation, block, new ArrayList<>(shapes.values()), killHook);
            var statistics = b == 0 && killHook == null ? firstBlockStatistics.apply(compute) : compute.get();
            statistics.count(); // runs the statistics stages on their own, so their time is measured apart from the solves
            ts = System.nanoTime();
            solved = new ArrayList<>(statistics.mapPartitions(task).collect());
          }
        } finally {
          if (killHook != null) {
            killHook.clear();
          }
        }
        List<String> order = new ArrayList<>(shapes.keySet());
        solved.sort(Comparator.comparingInt(s -> order.indexOf(s.outcome().linear())));
        long t2 = System.nanoTime();
        statsSeconds = (ts - t1) / 1e9;
        solveSeconds = (t1 - t0) / 1e9 + (t2 - ts) / 1e9; // SparseLLM's FFN step counts as solving
        List<LinearOutcome> outcomes = new ArrayList<>();
        blockCensus = LinearCensus.EMPTY;
        for (LinearSolveTask.Solved s : solved) {
          LinearOutcome o = s.outcome();
          outcomes.add(o);
          blockCensus = blockCensus.plus(s.census());
          LinearStatistics.LinearShape shape = shapes.get(o.linear());
          log.accept(solver instanceof LowRankSolver lowRank
              ? String.format("block %d %-18s rank %d truncation loss %.6g loss %.6g%s (%.2fs)", b, o.linear(),
                  LowRankSolver.rank(lowRank.ratio(), shape.rows(), shape.cols()), o.solverLoss(), o.reconstructionLoss(),
                  o.fallback() == null ? "" : " " + o.fallback(), o.seconds())
              : quantStrategy == null
              ? String.format("block %d %-18s sparsity %.4f loss %.6g (%.2fs)", b, o.linear(), o.zeros() / (double) o.numel(),
                  o.reconstructionLoss(), o.seconds())
              : String.format("block %d %-18s zeros %.4f loss %.6g solver loss %.6g (%.2fs)", b, o.linear(), o.zeros() / (double) o.numel(),
                  o.reconstructionLoss(), o.solverLoss(), o.seconds()));
        }
        if (solved.size() != shapes.size()) {
          throw new IllegalStateException("Block " + b + ": " + solved.size() + " of " + shapes.size() + " linears were solved");
        }
        String injectSolve = System.getProperty(INJECT_SOLVE_FAILURE_PROPERTY);
        if (injectSolve != null && Integer.parseInt(injectSolve) == b) {
          throw new IllegalStateException("Injected failure after block " + b + "'s solves (" + INJECT_SOLVE_FAILURE_PROPERTY + ")");
        }
        if (alternations != null) {
          sink.writeSparseLlm(b, alternations);
        }
        sink.writeMetrics(b, outcomes);
        writeShard(b, sink, partsDir, order);
        writeSeconds = (System.nanoTime() - t2) / 1e9;
        linears.addAll(outcomes);
      }
      census = census.plus(blockCensus);
      long tp = System.nanoTime();
      if (!dataFree && b < lastToSolve) {
        String shard = sink.shardFile(b).toString();
        String quantized = quantStrategy != null && b < prunedBlocks ? sink.quantizedFile(b).toString() : null;
        String factors = sink.factorsFile(b) != null && b < prunedBlocks ? sink.factorsFile(b).toString() : null;
        int block = b;
        JavaRDD<Sample> next = samples.map(s -> {
          TaskThreads.configureOnce();
          DecoderBlock compressed = ExecutorModels.shardBlock(location, shard, quantized, factors, block);
          return new Sample(s.index(), compressed.forward(s.hidden(), s.seqLen()), s.seqLen());
        }).persist(StorageLevel.MEMORY_AND_DISK());
        next.count();
        samples.unpersist(false);
        samples = next;
      }
      double propagateSeconds = (System.nanoTime() - tp) / 1e9;
      blocks.add(new BlockOutcome(b, resumed, statsSeconds, solveSeconds, propagateSeconds, writeSeconds));
      log.accept(String.format("block %d/%d done%s: statistics %.1fs, solve %.1fs, write %.1fs, propagate %.1fs", b + 1, spec.numLayers(),
          resumed ? " (resumed)" : "", statsSeconds, solveSeconds, writeSeconds, propagateSeconds));
      String inject = System.getProperty(INJECT_FAILURE_PROPERTY);
      if (inject != null && Integer.parseInt(inject) == b) {
        throw new IllegalStateException("Injected failure after block " + b + " (" + INJECT_FAILURE_PROPERTY + ")");
      }
    }
    if (samples != null) {
      samples.unpersist(false);
    }
    return census;
  }

  /**
   * The calibration windows as an RDD of embedded samples (persisted, materialized), each executor reading the embedding
   * table from the model files. Samples are cached as objects, not serialized: the forward passes only read them, and
   * serializing every block's hidden states took about 5% of the tasks' time (JFR of a quantize run).
   */
  public static JavaRDD<Sample> embed(JavaSparkContext jsc, String location, List<int[]> windows, int partitions) {
    List<Integer> indices = new ArrayList<>();
    for (int i = 0; i < windows.size(); i++) {
      indices.add(i);
    }
    List<int[]> windowList = List.copyOf(windows);
    JavaRDD<Sample> samples = jsc.parallelize(indices, Math.max(1, Math.min(partitions, windows.size()))).map(i -> {
      TaskThreads.configureOnce();
      int[] tokens = windowList.get(i);
      return new Sample(i, ExecutorModels.globals(location).embed(tokens), tokens.length);
    }).persist(StorageLevel.MEMORY_AND_DISK());
    samples.count();
    return samples;
  }

  /** The block's linears, in pruning order, with their input groups and shapes (from config.json). */
  public static Map<String, LinearStatistics.LinearShape> linearShapes(ModelSpec spec) {
    Map<String, long[]> tensorShapes = spec.blockTensorShapes();
    Map<String, LinearStatistics.LinearShape> shapes = new LinkedHashMap<>();
    for (String linear : DecoderBlock.linearNames(spec)) {
      long[] shape = tensorShapes.get(linear + ".weight");
      shapes.put(linear, new LinearStatistics.LinearShape(linear, DecoderBlock.inputGroup(spec, linear), (int) shape[0], (int) shape[1]));
    }
    return shapes;
  }

  private static Path partsDir(BlockSink sink, int b) {
    return new Path(new Path(sink.shardFile(b).getParent(), "_parts"), String.format("block-%05d", b));
  }

  /**
   * Writes block {@code b}'s shard: the linears' part files in pruning order, then the block's other tensors (norms,
   * biases) rounded to the output dtype, one tensor in memory at a time; then deletes the parts. In a quantized run
   * the linears' parts go to the block's quantized file first, and the shard holds the other tensors.
   */
  private void writeShard(int b, BlockSink sink, Path partsDir, List<String> linears) {
    Path shardFile = sink.shardFile(b);
    ModelSpec spec = model.spec();
    String prefix = spec.blockPrefix(b);
    List<String> rest = new ArrayList<>();
    for (String name : spec.blockTensorShapes().keySet()) {
      if (!linears.contains(name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : name)) {
        rest.add(name);
      }
    }
    Iterator<String> parts = linears.iterator();
    if (quantStrategy != null) {
      QuantizedShardTable.write(sink.quantizedFile(b), new Iterator<QuantizedShardTable.Row>() {
        @Override
        public boolean hasNext() {
          return parts.hasNext();
        }

        @Override
        public QuantizedShardTable.Row next() {
          String linear = parts.next();
          return QuantizedShardTable.read(LinearSolveTask.partFile(partsDir.toString(), linear), hadoopConf).get(prefix + linear);
        }
      }, hadoopConf);
    }
    Path factorsFile = sink.factorsFile(b);
    if (factorsFile != null) { // a lowrank run: the linears' factors (two tensors per part) go to the factors file only
      java.util.ArrayDeque<TensorShardTable.Stored> pending = new java.util.ArrayDeque<>();
      TensorShardTable.writeStored(factorsFile, new Iterator<>() {
        @Override
        public boolean hasNext() {
          return !pending.isEmpty() || parts.hasNext();
        }

        @Override
        public TensorShardTable.Stored next() {
          if (pending.isEmpty()) {
            TensorShardTable.forEach(LinearSolveTask.partFile(partsDir.toString(), parts.next()), hadoopConf, pending::add);
          }
          return pending.poll();
        }
      }, hadoopConf);
    }
    Iterator<String> others = rest.iterator();
    TensorShardTable.writeStored(shardFile, new Iterator<>() {
      @Override
      public boolean hasNext() {
        return parts.hasNext() || others.hasNext();
      }

      @Override
      public TensorShardTable.Stored next() {
        if (parts.hasNext()) {
          String linear = parts.next();
          return TensorShardTable.read(LinearSolveTask.partFile(partsDir.toString(), linear), hadoopConf).get(prefix + linear + ".weight");
        }
        String name = others.next();
        long[] shape = spec.blockTensorShapes().get(name);
        float[] values = TensorShardTable.roundTo(model.tensor(prefix + name, shape).data(), outputDtype);
        return TensorShardTable.stored(runId, fingerprint, b, new TensorShardTable.Entry(prefix + name, shape, outputDtype, values, null));
      }
    }, hadoopConf);
    try {
      partsDir.getFileSystem(hadoopConf).delete(partsDir, true);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A block outside 'pruning.layers': its tensors rounded to the output dtype, written as its shard one at a time. */
  private LinearCensus keepDense(int b, BlockSink sink) {
    ModelSpec spec = model.spec();
    String prefix = spec.blockPrefix(b);
    Map<String, LinearStatistics.LinearShape> linears = linearShapes(spec);
    LinearCensus[] census = {LinearCensus.EMPTY};
    Iterator<Map.Entry<String, long[]>> tensors = spec.blockTensorShapes().entrySet().iterator();
    sink.writeMetrics(b, List.of());
    TensorShardTable.writeStored(sink.shardFile(b), new Iterator<>() {
      @Override
      public boolean hasNext() {
        return tensors.hasNext();
      }

      @Override
      public TensorShardTable.Stored next() {
        Map.Entry<String, long[]> e = tensors.next();
        float[] values = TensorShardTable.roundTo(model.tensor(prefix + e.getKey(), e.getValue()).data(), outputDtype);
        String linear = e.getKey().endsWith(".weight") ? e.getKey().substring(0, e.getKey().length() - ".weight".length()) : null;
        if (linear != null && linears.containsKey(linear)) {
          census[0] = census[0].plus(LinearCensus.of(values, (int) e.getValue()[0], (int) e.getValue()[1], maskStructure));
        }
        return TensorShardTable.stored(runId, fingerprint, b, new TensorShardTable.Entry(prefix + e.getKey(), e.getValue(), outputDtype, values, null));
      }
    }, hadoopConf);
    return census[0];
  }

  private boolean exists(Path file) {
    try {
      return file.getFileSystem(hadoopConf).exists(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * When an earlier run wrote block {@code b}'s shard with the same settings: the zero counts of its linears, read one
   * tensor at a time; else null.
   */
  private LinearCensus resume(int b, BlockSink sink) {
    Path shard = sink.shardFile(b);
    if (!exists(shard)) {
      return null;
    }
    ModelSpec spec = model.spec();
    String prefix = spec.blockPrefix(b);
    Map<String, LinearStatistics.LinearShape> linears = linearShapes(spec);
    Map<String, long[]> expected = new LinkedHashMap<>();
    spec.blockTensorShapes().forEach((name, shape) -> expected.put(prefix + name, shape));
    LinearCensus[] census = {LinearCensus.EMPTY};
    if (quantStrategy != null && b < prunedBlocks) { // the linears are in the quantized file, checksummed when read
      Path quantized = sink.quantizedFile(b);
      QuantizedShardTable.read(quantized, hadoopConf).forEach((name, row) -> {
        if (!row.configFingerprint().equals(fingerprint)) {
          throw new SparkslimException("Cannot resume from " + quantized + ": it was written by a run with different settings (fingerprint "
              + row.configFingerprint() + ", this run " + fingerprint + "); use a new 'output.path' or delete the old output");
        }
        expected.remove(name + ".weight");
        CompressedLinear.Quantized q = row.q();
        census[0] = census[0].plus(LinearCensus.of(q.weights(), q.rows(), q.cols(), maskStructure));
      });
    }
    Path factorsFile = sink.factorsFile(b);
    if (factorsFile != null && b < prunedBlocks) { // the linears are in the factors file, checksummed when read
      if (!exists(factorsFile)) { // written before the shard: only a deleted file is missing
        throw new SparkslimException("Cannot resume from " + shard + ": its factors " + factorsFile + " are missing; use a new 'output.path'"
            + " or delete the old output");
      }
      LowRankExport.forEachLinear(factorsFile, prefix, hadoopConf, (name, w) -> {
        expected.remove(prefix + name);
        long[] shape = spec.blockTensorShapes().get(name); // (outFeatures, inFeatures)
        census[0] = census[0].plus(LinearCensus.of(w, (int) shape[0], (int) shape[1], maskStructure));
      });
    }
    TensorShardTable.forEach(shard, hadoopConf, s -> {
      if (!s.configFingerprint().equals(fingerprint)) {
        throw new SparkslimException("Cannot resume from " + shard + ": it was written by a run with different settings (fingerprint "
            + s.configFingerprint() + ", this run " + fingerprint + "); use a new 'output.path' or delete the old output");
      }
      expected.remove(s.tensor());
      String name = s.tensor().substring(prefix.length());
      if (name.endsWith(".weight") && linears.containsKey(name.substring(0, name.length() - ".weight".length()))) {
        census[0] = census[0].plus(LinearCensus.of(s.values(), (int) s.shape()[0], (int) s.shape()[1], maskStructure));
      }
    });
    if (!expected.isEmpty()) {
      throw new SparkslimException("Cannot resume from " + shard + ": it was written by a run with different settings (tensor "
          + expected.keySet().iterator().next() + " missing); use a new 'output.path' or delete the old output");
    }
    log.accept("block " + b + ": resumed from " + shard);
    return census[0];
  }
}
