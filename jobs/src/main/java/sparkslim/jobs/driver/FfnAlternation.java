package sparkslim.jobs.driver;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;
import sparkslim.core.io.DType;
import sparkslim.core.linalg.ExactSums;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.prune.sparsellm.FfnKind;
import sparkslim.core.prune.sparsellm.FfnState;
import sparkslim.core.prune.sparsellm.FfnStatistics;
import sparkslim.core.prune.sparsellm.FfnWeights;
import sparkslim.core.prune.sparsellm.LeastSquaresSlices;
import sparkslim.core.prune.sparsellm.SparseLlmOptions;
import sparkslim.core.prune.sparsellm.SparseLlmSolver;
import sparkslim.jobs.spark.ExactSlices;
import sparkslim.jobs.spark.ExecutorModels;
import sparkslim.jobs.spark.TaskThreads;

/**
 * The SparseLLM alternation of one block's FFN on Spark (Bai et al. 2024; docs/sparsellm.md §1.2, §1.3). The
 * auxiliary variables (z, s, p) of every calibration sample live in a persisted RDD of {@link FfnState}, partitioned
 * like the samples; they are never collected. Each alternation is one round:
 * <ol>
 *   <li>executors sum the {@link FfnStatistics} of their samples (exact sums), one slice of
 *       {@link LeastSquaresSlices#ROW_BLOCK} rows at a time, keyed by (component, offset); Spark merges the slices by
 *       key and routes them to two partitions, the input fit's and the output fit's, where they meet whole;</li>
 *   <li>two solve tasks ({@link FfnSolveTask}) run in parallel: the input fit's refits and prunes fc1 (up and gate),
 *       the output fit's refits and prunes fc2 (down) and computes M⁻¹; each keeps the better of its new and previous
 *       weights, and writes its choice to the alternation's directory under the block's part files;</li>
 *   <li>executors read the chosen FFN and M⁻¹ from there (once per JVM) and update p, z (and s) of their samples
 *       and the objective.</li>
 * </ol>
 * The driver holds no statistics and no weights: it receives the per-linear records and the objective, Σ L over the
 * samples (one exact sum). Results do not depend on the number of executors or partitions.
 */
public final class FfnAlternation {

  /** One alternation as logged: objective after the executor updates, per-linear weight terms, rejections. */
  public record Iteration(int block, int iteration, double objective, Map<String, Double> weightTerms, List<String> rejected,
                          long bytesCollected, double seconds) {}

  /** The last alternation's per-linear record (the chosen weights are in the block's part files) and the history. */
  public record Result(List<SparseLlmSolver.LinearStep> linears, List<Iteration> iterations) {
    /** The fallback the last alternation's solve of {@code linear} took, or null. */
    public String fallback(String linear) {
      for (SparseLlmSolver.LinearStep ls : linears) {
        if (ls.linear().equals(linear)) {
          return ls.fallback();
        }
      }
      return null;
    }
  }

  /** Where an alternation's files go and what the final part files are stamped with. */
  public record Parts(String dir, String tensorPrefix, DType outputDtype, String runId, String fingerprint) implements Serializable {}

  private final JavaSparkContext jsc;
  private final SparseLlmSolver solver;
  private final SparseLlmOptions options;
  private final Consumer<String> log;

  public FfnAlternation(JavaSparkContext jsc, SparseLlmSolver solver, SparseLlmOptions options, Consumer<String> log) {
    this.jsc = jsc;
    this.solver = solver;
    this.options = options;
    this.log = log;
  }

  /**
   * Runs the alternation for block {@code b}, whose input hidden states are {@code samples}; each executor reads the
   * dense block from the model files at {@code location}.
   */
  public Result run(int b, JavaRDD<LayerSequentialDriver.Sample> samples, String location, DenseFfn dense, Parts parts) {
    JavaRDD<FfnState> states = samples.mapPartitions(it -> {
      TaskThreads.configureOnce();
      DecoderBlock block = ExecutorModels.block(location, b);
      FfnWeights ffn = null; // widened once per task, when it has a sample
      List<FfnState> out = new ArrayList<>();
      while (it.hasNext()) {
        LayerSequentialDriver.Sample s = it.next();
        float[][] x = new float[1][];
        block.forward(s.hidden(), s.seqLen(), (group, in, rows) -> {
          if (group.equals("mlp_in")) {
            x[0] = in.clone();
          }
        });
        if (ffn == null) {
          ffn = FfnWeights.of(dense.kind(), block);
        }
        out.add(FfnState.capture(s.index(), x[0], s.seqLen(), ffn));
      }
      return out.iterator();
    }).persist(StorageLevel.DISK_ONLY());
    return run(b, states, dense, parts);
  }

  /**
   * Runs the alternation on captured states (also used by the scale benchmark with synthetic states); unpersists
   * {@code states} when done. The alternations' directories stay under {@code parts.dir()} until the caller deletes
   * them with the block's parts.
   */
  public Result run(int b, JavaRDD<FfnState> states, DenseFfn dense, Parts parts) {
    List<Iteration> iterations = new ArrayList<>();
    List<SparseLlmSolver.LinearStep> linears = null;
    SparseLlmOptions opts = options;
    for (int t = 0; t < options.iterations(); t++) {
      long t0 = System.nanoTime();
      boolean last = t + 1 == options.iterations();
      List<FfnSolveTask.Outcome> outcomes = solve(b, t, last, states, dense, parts);
      if (t > 0) { // the objective of these statistics is the one after the previous alternation's updates
        iterations.set(t - 1, withObjective(iterations.get(t - 1), objective(outcomes)));
      }
      int iteration = t;
      JavaRDD<FfnState> next = states.map(s -> {
        TaskThreads.configureOnce();
        Step step = Step.of(parts, iteration, dense); // read once per JVM
        return s.update(step.weights(), step.mInv(), opts);
      }).persist(StorageLevel.DISK_ONLY());
      double objective = Double.NaN;
      if (last) {
        objective = next.map(FfnState::objective).treeAggregate(new ExactSums(1), (acc, v) -> {
          acc.add(0, v);
          return acc;
        }, ExactSums::merge, 2).toDouble(0);
      } else {
        next.count();
      }
      states.unpersist(false);
      states = next;
      linears = new ArrayList<>();
      for (FfnSolveTask.Outcome o : outcomes) {
        linears.addAll(o.linears());
      }
      Map<String, Double> terms = new LinkedHashMap<>();
      List<String> rejected = new ArrayList<>();
      for (String name : order(dense.kind())) {
        for (SparseLlmSolver.LinearStep ls : linears) {
          if (ls.linear().equals(name)) {
            terms.put(ls.linear(), ls.accepted() ? ls.candidateTerm() : ls.previousTerm());
            if (!ls.accepted()) {
              rejected.add(ls.linear());
            }
          }
        }
      }
      iterations.add(new Iteration(b, t, objective, terms, rejected, ExactSlices.BYTES_PER_ENTRY, (System.nanoTime() - t0) / 1e9));
      if (last) {
        iterations.forEach(this::logIteration);
      }
    }
    states.unpersist(false);
    return new Result(linears, iterations);
  }

  private void logIteration(Iteration it) {
    log.accept(String.format("block %d sparsellm iteration %d: objective %.9g, weight terms %s%s, %d bytes collected (%.2fs)", it.block(),
        it.iteration(), it.objective(), format(it.weightTerms()), it.rejected().isEmpty() ? "" : ", kept previous weights of " + it.rejected(),
        it.bytesCollected(), it.seconds()));
  }

  private static Iteration withObjective(Iteration it, double objective) {
    return new Iteration(it.block(), it.iteration(), objective, it.weightTerms(), it.rejected(), it.bytesCollected(), it.seconds());
  }

  private static double objective(List<FfnSolveTask.Outcome> outcomes) {
    for (FfnSolveTask.Outcome o : outcomes) {
      if (o.partition() == FfnSolveTask.OUTPUT_PARTITION) {
        return o.objective();
      }
    }
    throw new IllegalStateException("The output fit's solve returned no objective");
  }

  /** The FFN's linears in the order the log and the metrics list them. */
  private static List<String> order(FfnKind kind) {
    return kind.gateName() == null ? List.of(kind.inName(), kind.outName()) : List.of(kind.inName(), kind.gateName(), kind.outName());
  }

  /** The chosen weights and M⁻¹ of one alternation as an executor holds them (read once per JVM). */
  private record Step(FfnWeights weights, float[] mInv) {
    static Step of(Parts parts, int iteration, DenseFfn dense) {
      return ExecutorModels.step(parts.dir() + "#sparsellm-" + iteration, () -> {
        FfnKind k = dense.kind();
        float[] in = FfnSolveTask.readChosen(parts.dir(), iteration, parts.tensorPrefix(), k.inName()); // (f, d)
        float[] gate = k.gateName() == null ? null : FfnSolveTask.readChosen(parts.dir(), iteration, parts.tensorPrefix(), k.gateName());
        float[] out = FfnSolveTask.readChosen(parts.dir(), iteration, parts.tensorPrefix(), k.outName()); // (d, f)
        return new Step(dense.withMatrices(in, gate, out), FfnSolveTask.readInverse(parts.dir(), iteration)); // M⁻¹ (f, f)
      });
    }
  }

  private static String format(Map<String, Double> terms) {
    StringBuilder sb = new StringBuilder("{");
    terms.forEach((k, v) -> sb.append(sb.length() > 1 ? ", " : "").append(k).append('=').append(String.format("%.6g", v)));
    return sb.append('}').toString();
  }

  /**
   * One alternation's statistics and solves: each task emits its partition's sums slice by slice, keyed by
   * (component, offset); the slices are merged by key (shuffle without map-side combine, so a task holds one slice)
   * and routed to the two fits' partitions, whose tasks solve. Exact sums: the result does not depend on partitioning
   * or merge order.
   */
  List<FfnSolveTask.Outcome> solve(int b, int iteration, boolean last, JavaRDD<FfnState> states, DenseFfn dense, Parts parts) {
    FfnKind kind = dense.kind();
    int d = dense.hidden();
    int f = dense.ffn();
    long totalEntries = 0;
    for (int size : FfnStatistics.componentSizes(kind, d, f)) {
      totalEntries += size;
    }
    JavaPairRDD<Long, ExactSums> slices = states.mapPartitionsToPair(it -> {
      TaskThreads.configureOnce();
      List<FfnState> partition = new ArrayList<>();
      it.forEachRemaining(partition::add);
      return new SliceIterator(kind, d, f, partition);
    });
    jsc.setJobDescription("sparkslim prune: block " + b + " sparsellm iteration " + iteration);
    List<FfnSolveTask.Outcome> outcomes = ExactSlices.reduceByKey(slices, ExactSlices.reducers(totalEntries))
        .partitionBy(new FitPartitioner())
        .mapPartitions(new FfnSolveTask(solver, dense, b, iteration, last, parts.dir(), parts.tensorPrefix(), parts.outputDtype(),
            parts.runId(), parts.fingerprint()))
        .collect();
    if (outcomes.size() != 2) {
      throw new IllegalStateException("Block " + b + " sparsellm iteration " + iteration + ": " + outcomes.size() + " of 2 fits were solved");
    }
    return outcomes;
  }

  /** The input fit's components to {@link FfnSolveTask#INPUT_PARTITION}, the output fit's and the objective to the other. */
  static final class FitPartitioner extends Partitioner {
    private static final long serialVersionUID = 1L;

    @Override
    public int numPartitions() {
      return 2;
    }

    @Override
    public int getPartition(Object key) {
      int component = (int) ((Long) key >>> 32);
      return component < FfnStatistics.INPUT_COMPONENTS ? FfnSolveTask.INPUT_PARTITION : FfnSolveTask.OUTPUT_PARTITION;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof FitPartitioner;
    }

    @Override
    public int hashCode() {
      return FitPartitioner.class.hashCode();
    }
  }

  /**
   * Emits a partition's statistics in slices keyed (component &lt;&lt; 32 | offset), with components numbered as in
   * {@link FfnStatistics#components()}: the input fit's, then the output fit's ({@link LeastSquaresSlices}, one block
   * of rows over all the partition's samples at a time), then the objective. Each slice is computed when the shuffle
   * writer (which streams records to disk) asks for it, so a task holds one block of sums at a time: at LLaMA-7B shapes
   * about 0.1 GB, plus 0.2 GB of fp64 scratch, instead of the 3.3 GB of whole accumulators.
   */
  private static final class SliceIterator implements Iterator<Tuple2<Long, ExactSums>> {
    private final Iterator<Tuple2<Long, ExactSums>> slices;

    SliceIterator(FfnKind kind, int hidden, int ffn, List<FfnState> partition) {
      int inputOut = kind == FfnKind.LLAMA_SWIGLU ? 2 * ffn : ffn;
      int outputBase = FfnStatistics.INPUT_COMPONENTS;
      int objectiveIndex = FfnStatistics.INPUT_COMPONENTS + FfnStatistics.OUTPUT_COMPONENTS;
      Iterator<LeastSquaresSlices.Slice> input = new LeastSquaresSlices(hidden, inputOut, partition.stream().map(FfnState::inputSample).toList());
      Iterator<LeastSquaresSlices.Slice> output = new LeastSquaresSlices(ffn, hidden, partition.stream().map(FfnState::outputSample).toList());
      ExactSums objective = new ExactSums(1);
      partition.forEach(s -> objective.add(0, s.objective()));
      this.slices = java.util.stream.Stream.concat(
          java.util.stream.Stream.concat(stream(input).map(sl -> key(sl.component(), sl.offset(), sl.sums())),
              stream(output).map(sl -> key(outputBase + sl.component(), sl.offset(), sl.sums()))),
          java.util.stream.Stream.of(key(objectiveIndex, 0, objective))).iterator();
    }

    private static <T> java.util.stream.Stream<T> stream(Iterator<T> it) {
      return java.util.stream.StreamSupport.stream(java.util.Spliterators.spliteratorUnknownSize(it, java.util.Spliterator.ORDERED), false);
    }

    private static Tuple2<Long, ExactSums> key(int component, int offset, ExactSums sums) {
      return new Tuple2<>(((long) component << 32) | offset, sums);
    }

    @Override
    public boolean hasNext() {
      return slices.hasNext();
    }

    @Override
    public Tuple2<Long, ExactSums> next() {
      return slices.next();
    }
  }
}
