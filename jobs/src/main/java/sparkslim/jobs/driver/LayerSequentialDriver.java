package sparkslim.jobs.driver;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import sparkslim.core.SparkslimException;
import sparkslim.core.calib.HessianAccumulator;
import sparkslim.core.io.DType;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.Tensor;
import sparkslim.core.prune.LinearPruner;
import sparkslim.core.prune.PruneResult;
import sparkslim.core.prune.sparsellm.FfnKind;
import sparkslim.core.prune.sparsellm.SparseLlmOptions;
import sparkslim.core.prune.sparsellm.SparseLlmSolver;
import sparkslim.jobs.spark.TaskThreads;

/**
 * The layer-sequential pruning loop. Calibration samples live in an RDD of per-sample hidden states; for each block:
 * <ol>
 *   <li>broadcast the dense block;</li>
 *   <li>{@code treeAggregate} the Hessian sums of every linear input group (exact fixed-point sums: the merge order
 *       Spark picks does not change a bit);</li>
 *   <li>solve each linear on the driver;</li>
 *   <li>propagate the samples through the <em>pruned</em> block (weights rounded to the output dtype, as exported);</li>
 *   <li>write the block's shard and metrics at once, so a rerun resumes after the last written block.</li>
 * </ol>
 */
public final class LayerSequentialDriver {
  /** Test hook: {@code -Dsparkslim.inject-failure-after-block=k} fails the run right after block k is written. */
  public static final String INJECT_FAILURE_PROPERTY = "sparkslim.inject-failure-after-block";
  private static final int TREE_DEPTH = 2;

  /** One calibration sample: its index and current hidden states (seqLen, hiddenSize). */
  public record Sample(int index, float[] hidden, int seqLen) implements Serializable {}

  /** What the driver learned about one linear. */
  public record LinearOutcome(int block, String linear, long numel, long zeros, double reconstructionLoss, double solverLoss,
                              double seconds, String fallback) {}

  /** Per-block timings (seconds) and whether the block was resumed from its shard. */
  public record BlockOutcome(int block, boolean resumed, double statistics, double solve, double propagate, double write) {}

  /** Where block results go; implemented by the job. */
  public interface BlockSink {
    /** Path of block {@code b}'s shard file (exists when the block is done). */
    Path shardFile(int block);

    void write(int block, List<TensorShardTable.Entry> tensors, List<LinearOutcome> linears);

    /** The SparseLLM alternations of block {@code b}'s FFN; called before {@link #write}. */
    default void writeSparseLlm(int block, List<FfnAlternation.Iteration> iterations) {}

    /** A block was resumed from its shard: read back what {@link #writeSparseLlm} wrote for it, if anything. */
    default void resumedSparseLlm(int block) {}
  }

  /** SparseLLM settings: the FFN kind, the alternation's options and solver (null for the other methods). */
  public record SparseLlm(FfnKind kind, SparseLlmOptions options, SparseLlmSolver solver) {}

  private final JavaSparkContext jsc;
  private final Configuration hadoopConf;
  private final LinearPruner pruner;
  private final DType outputDtype;
  private final String fingerprint;
  private final Consumer<String> log;
  private final SparseLlm sparseLlm;
  private final int prunedBlocks;

  /**
   * @param sparseLlm SparseLLM settings when pruning.method is sparsellm, else null
   * @param prunedBlocks blocks [0, prunedBlocks) are pruned, the rest kept dense ('pruning.layers')
   */
  public LayerSequentialDriver(JavaSparkContext jsc, Configuration hadoopConf, LinearPruner pruner, DType outputDtype, String fingerprint,
                               SparseLlm sparseLlm, int prunedBlocks, Consumer<String> log) {
    this.sparseLlm = sparseLlm;
    this.prunedBlocks = prunedBlocks;
    this.jsc = jsc;
    this.hadoopConf = hadoopConf;
    this.pruner = pruner;
    this.outputDtype = outputDtype;
    this.fingerprint = fingerprint;
    this.log = log;
  }

  /**
   * Prunes every block of {@code lm} and returns the pruned blocks; {@code linears} and {@code blocks} receive the
   * per-linear and per-block outcomes of the blocks solved in this run.
   */
  public List<DecoderBlock> run(CausalLm lm, List<int[]> windows, int partitions, BlockSink sink, List<LinearOutcome> linears,
                                List<BlockOutcome> blocks) {
    Broadcast<CausalLm> embedder = jsc.broadcast(lm);
    List<Integer> indices = new ArrayList<>();
    for (int i = 0; i < windows.size(); i++) {
      indices.add(i);
    }
    List<int[]> windowList = List.copyOf(windows);
    JavaRDD<Sample> samples = jsc.parallelize(indices, Math.max(1, Math.min(partitions, windows.size()))).map(i -> {
      TaskThreads.configureOnce();
      int[] tokens = windowList.get(i);
      return new Sample(i, embedder.value().embed(tokens), tokens.length);
    }).persist(StorageLevel.MEMORY_AND_DISK_SER());
    samples.count();
    embedder.unpersist(false); // not destroy: the samples RDD's lineage still references it

    List<DecoderBlock> pruned = new ArrayList<>();
    for (int b = 0; b < lm.numBlocks(); b++) {
      DecoderBlock dense = lm.blocks().get(b);
      String prefix = lm.spec().blockPrefix(b);
      jsc.setJobGroup("block-" + b, "sparkslim prune: block " + b + "/" + lm.numBlocks(), false);
      long t0 = System.nanoTime();
      DecoderBlock result = resume(b, dense, prefix, sink);
      boolean resumed = result != null;
      if (resumed && sparseLlm != null && b < prunedBlocks) {
        sink.resumedSparseLlm(b);
      }
      double statsSeconds = 0;
      double solveSeconds = 0;
      double writeSeconds = 0;
      if (result == null && b >= prunedBlocks) {
        result = keepDense(b, dense, prefix, sink);
        log.accept("block " + b + ": kept dense ('pruning.layers')");
      } else if (result == null) {
        Broadcast<DecoderBlock> denseBc = jsc.broadcast(dense);
        Map<String, HessianAccumulator> stats = samples.treeAggregate(new BlockStatistics(dense),
            (acc, s) -> acc.add(denseBc.value(), s), BlockStatistics::merge, TREE_DEPTH).accumulators();
        denseBc.unpersist(false);
        long t1 = System.nanoTime();
        statsSeconds = (t1 - t0) / 1e9;
        FfnAlternation.Result ffn = null;
        if (sparseLlm != null) {
          ffn = new FfnAlternation(jsc, sparseLlm.solver(), sparseLlm.options(), log).run(b, samples, dense, sparseLlm.kind());
        }
        Map<String, Tensor> replaced = new LinkedHashMap<>();
        List<TensorShardTable.Entry> entries = new ArrayList<>();
        List<LinearOutcome> outcomes = new ArrayList<>();
        for (String linear : dense.linearNames()) {
          long ts = System.nanoTime();
          Tensor w = dense.tensors().get(linear + ".weight");
          HessianAccumulator h = stats.get(dense.inputGroup(linear));
          PruneResult r = ffn != null && sparseLlm.kind().isFfnLinear(linear) ? ffnResult(ffn.step(), linear)
              : pruner.prune(w.data(), w.rows(), w.cols(), h);
          float[] rounded = TensorShardTable.roundTo(r.weights(), outputDtype);
          long zeros = 0;
          for (float v : rounded) {
            zeros += v == 0f ? 1 : 0;
          }
          double loss = LinearPruner.reconstructionLoss(w.data(), rounded, w.rows(), w.cols(), h);
          double seconds = (System.nanoTime() - ts) / 1e9;
          outcomes.add(new LinearOutcome(b, linear, rounded.length, zeros, loss, r.loss(), seconds, r.fallback()));
          log.accept(String.format("block %d %-18s sparsity %.4f loss %.6g (%.2fs)", b, linear, zeros / (double) rounded.length, loss, seconds));
          replaced.put(linear + ".weight", new Tensor(w.shape(), rounded));
          entries.add(new TensorShardTable.Entry(prefix + linear + ".weight", w.shape(), outputDtype, rounded, r.mask()));
        }
        for (Map.Entry<String, Tensor> e : dense.tensors().entrySet()) {
          if (!replaced.containsKey(e.getKey())) {
            float[] rounded = TensorShardTable.roundTo(e.getValue().data(), outputDtype);
            replaced.put(e.getKey(), new Tensor(e.getValue().shape(), rounded));
            entries.add(new TensorShardTable.Entry(prefix + e.getKey(), e.getValue().shape(), outputDtype, rounded, null));
          }
        }
        long t2 = System.nanoTime();
        solveSeconds = (t2 - t1) / 1e9;
        if (ffn != null) {
          sink.writeSparseLlm(b, ffn.iterations());
        }
        sink.write(b, entries, outcomes);
        writeSeconds = (System.nanoTime() - t2) / 1e9;
        linears.addAll(outcomes);
        result = dense.withTensors(replaced);
      }
      long tp = System.nanoTime();
      Broadcast<DecoderBlock> prunedBc = jsc.broadcast(result);
      JavaRDD<Sample> next = samples.map(s -> {
        TaskThreads.configureOnce();
        return new Sample(s.index(), prunedBc.value().forward(s.hidden(), s.seqLen()), s.seqLen());
      }).persist(StorageLevel.MEMORY_AND_DISK_SER());
      next.count();
      samples.unpersist(false);
      prunedBc.unpersist(false);
      samples = next;
      double propagateSeconds = (System.nanoTime() - tp) / 1e9;
      blocks.add(new BlockOutcome(b, resumed, statsSeconds, solveSeconds, propagateSeconds, writeSeconds));
      pruned.add(result);
      String inject = System.getProperty(INJECT_FAILURE_PROPERTY);
      if (inject != null && Integer.parseInt(inject) == b) {
        throw new IllegalStateException("Injected failure after block " + b + " (" + INJECT_FAILURE_PROPERTY + ")");
      }
    }
    samples.unpersist(false);
    return pruned;
  }

  /** A block outside 'pruning.layers': its tensors rounded to the output dtype, written as its shard. */
  private DecoderBlock keepDense(int b, DecoderBlock dense, String prefix, BlockSink sink) {
    Map<String, Tensor> rounded = new LinkedHashMap<>();
    List<TensorShardTable.Entry> entries = new ArrayList<>();
    for (Map.Entry<String, Tensor> e : dense.tensors().entrySet()) {
      float[] values = TensorShardTable.roundTo(e.getValue().data(), outputDtype);
      rounded.put(e.getKey(), new Tensor(e.getValue().shape(), values));
      entries.add(new TensorShardTable.Entry(prefix + e.getKey(), e.getValue().shape(), outputDtype, values, null));
    }
    sink.write(b, entries, List.of());
    return dense.withTensors(rounded);
  }

  /** The final SparseLLM weights of one FFN linear, as a prune result (no solver loss of its own). */
  private static PruneResult ffnResult(SparseLlmSolver.Step step, String linear) {
    FfnKind kind = step.pruned().kind();
    float[] w = linear.equals(kind.inName()) ? step.pruned().in() : linear.equals(kind.outName()) ? step.pruned().out() : step.pruned().gate();
    java.util.BitSet mask = linear.equals(kind.inName()) ? step.inMask() : linear.equals(kind.outName()) ? step.outMask() : step.gateMask();
    double loss = Double.NaN;
    String fallback = null;
    for (SparseLlmSolver.LinearStep ls : step.linears()) {
      if (ls.linear().equals(linear)) {
        fallback = ls.fallback();
      }
    }
    return new PruneResult(w.clone(), mask, loss, mask.cardinality() / (double) w.length, fallback);
  }

  /** The block rebuilt from its shard file when an earlier run wrote it with the same settings, else null. */
  private DecoderBlock resume(int b, DecoderBlock dense, String prefix, BlockSink sink) {
    Path shard = sink.shardFile(b);
    try {
      FileSystem fs = shard.getFileSystem(hadoopConf);
      if (!fs.exists(shard)) {
        return null;
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    Map<String, TensorShardTable.Stored> stored = TensorShardTable.read(shard, hadoopConf);
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    for (String name : dense.tensors().keySet()) {
      TensorShardTable.Stored s = stored.get(prefix + name);
      if (s == null || !s.configFingerprint().equals(fingerprint)) {
        throw new SparkslimException("Cannot resume from " + shard + ": it was written by a run with different settings"
            + (s == null ? " (tensor " + prefix + name + " missing)" : " (fingerprint " + s.configFingerprint() + ", this run " + fingerprint + ")")
            + "; use a new 'output.path' or delete the old output");
      }
      tensors.put(name, s.tensor32());
    }
    log.accept("block " + b + ": resumed from " + shard);
    return dense.withTensors(tensors);
  }

  /** Per-block Hessian sums, one accumulator per linear input group; the treeAggregate zero value, seqOp and combOp. */
  static final class BlockStatistics implements Serializable {
    private static final long serialVersionUID = 1L;
    private final Map<String, HessianAccumulator> accumulators = new LinkedHashMap<>();
    private final Map<String, Integer> widths = new LinkedHashMap<>();

    BlockStatistics(DecoderBlock block) {
      for (String linear : block.linearNames()) {
        widths.put(block.inputGroup(linear), block.tensors().get(linear + ".weight").cols());
      }
    }

    BlockStatistics add(DecoderBlock block, Sample s) {
      TaskThreads.configureOnce();
      block.forward(s.hidden(), s.seqLen(), (group, x, rows) ->
          accumulators.computeIfAbsent(group, g -> new HessianAccumulator(widths.get(g))).add(x, rows));
      return this;
    }

    BlockStatistics merge(BlockStatistics other) {
      other.accumulators.forEach((g, h) -> accumulators.merge(g, h, HessianAccumulator::merge));
      return this;
    }

    Map<String, HessianAccumulator> accumulators() {
      return accumulators;
    }
  }
}
