package sparkslim.jobs.driver;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;
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
import sparkslim.jobs.spark.TaskThreads;

/**
 * The SparseLLM alternation of one block's FFN on Spark (Bai et al. 2024; docs/sparsellm.md §1.2, §1.3). The
 * auxiliary variables (z, s, p) of every calibration sample live in a persisted RDD of {@link FfnState}, partitioned
 * like the samples; they are never collected. Each alternation is one round:
 * <ol>
 *   <li>executors sum the {@link FfnStatistics} of their samples (exact sums), one slice of
 *       {@link LeastSquaresSlices#ROW_BLOCK} rows at a time; the slices are merged by key across executors, so no single
 *       message holds the sums whole and the bytes collected depend only on d and f, never on the number of tokens;</li>
 *   <li>the driver refits, prunes with SparseGPT and keeps the better weights ({@link SparseLlmSolver});</li>
 *   <li>the driver broadcasts the pruned FFN and M⁻¹ (f×f);</li>
 *   <li>executors update p, z (and s) of their samples and evaluate the objective.</li>
 * </ol>
 */
public final class FfnAlternation {

  /** One alternation as logged: objective after the executor updates, per-linear weight terms, rejections. */
  public record Iteration(int block, int iteration, double objective, Map<String, Double> weightTerms, List<String> rejected,
                          long bytesCollected, double seconds) {}

  /** The final pruned FFN (the last alternation's weights and masks) and the history. */
  public record Result(SparseLlmSolver.Step step, List<Iteration> iterations) {}

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

  /** Runs the alternation for block {@code b}, whose input hidden states are {@code samples}. */
  public Result run(int b, JavaRDD<LayerSequentialDriver.Sample> samples, DecoderBlock dense, FfnKind kind) {
    FfnWeights denseFfn = FfnWeights.of(kind, dense.tensors());
    Broadcast<DecoderBlock> blockBc = jsc.broadcast(dense);
    Broadcast<FfnWeights> ffnBc = jsc.broadcast(denseFfn);
    JavaRDD<FfnState> states = samples.map(s -> {
      TaskThreads.configureOnce();
      float[][] x = new float[1][];
      blockBc.value().forward(s.hidden(), s.seqLen(), (group, in, rows) -> {
        if (group.equals("mlp_in")) {
          x[0] = in.clone();
        }
      });
      return FfnState.capture(s.index(), x[0], s.seqLen(), ffnBc.value());
    }).persist(StorageLevel.MEMORY_AND_DISK_SER());
    return run(b, states, denseFfn, List.of(blockBc, ffnBc));
  }

  /**
   * Runs the alternation on captured states (also used by the scale benchmark with synthetic states); unpersists
   * {@code states} and destroys {@code toRelease} when done.
   */
  public Result run(int b, JavaRDD<FfnState> states, FfnWeights denseFfn, List<Broadcast<?>> toRelease) {
    List<Iteration> iterations = new ArrayList<>();
    SparseLlmSolver.Step step = null;
    long t0 = System.nanoTime();
    long[] collected = new long[1];
    FfnStatistics.Sums sums = aggregate(states, denseFfn, collected);
    toRelease.forEach(bc -> bc.unpersist(false)); // not destroy: the states' lineage references them
    for (int t = 0; t < options.iterations(); t++) {
      step = solver.step(t, sums, denseFfn, step);
      Broadcast<Tuple2<FfnWeights, float[]>> stepBc = jsc.broadcast(new Tuple2<>(step.pruned(), step.mInv())); // W: f×d, d×f; M⁻¹: f×f
      SparseLlmOptions opts = options;
      JavaRDD<FfnState> next = states.map(s -> {
        TaskThreads.configureOnce();
        Tuple2<FfnWeights, float[]> st = stepBc.value();
        return s.update(st._1(), st._2(), opts);
      }).persist(StorageLevel.MEMORY_AND_DISK_SER());
      long bytesThisIteration = collected[0];
      collected[0] = 0;
      double objective;
      if (t + 1 < options.iterations()) {
        sums = null; // this round's statistics are spent: let them go before the next ones are fetched
        sums = aggregate(next, denseFfn, collected); // next round's statistics, and the objective after this round
        objective = sums.objective();
      } else {
        objective = next.map(FfnState::objective).treeAggregate(new ExactSums(1), (acc, v) -> {
          acc.add(0, v);
          return acc;
        }, ExactSums::merge, 2).toDouble(0);
        bytesThisIteration += ExactSlices.BYTES_PER_ENTRY;
      }
      states.unpersist(false);
      stepBc.unpersist(false);
      states = next;
      Map<String, Double> terms = new java.util.LinkedHashMap<>();
      List<String> rejected = new ArrayList<>();
      for (SparseLlmSolver.LinearStep ls : step.linears()) {
        terms.put(ls.linear(), ls.accepted() ? ls.candidateTerm() : ls.previousTerm());
        if (!ls.accepted()) {
          rejected.add(ls.linear());
        }
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      t0 = System.nanoTime();
      iterations.add(new Iteration(b, t, objective, terms, rejected, bytesThisIteration, seconds));
      log.accept(String.format("block %d sparsellm iteration %d: objective %.9g, weight terms %s%s, %d bytes collected (%.2fs)", b, t,
          objective, format(terms), rejected.isEmpty() ? "" : ", kept previous weights of " + rejected, bytesThisIteration, seconds));
    }
    states.unpersist(false);
    return new Result(step, iterations);
  }

  private static String format(Map<String, Double> terms) {
    StringBuilder sb = new StringBuilder("{");
    terms.forEach((k, v) -> sb.append(sb.length() > 1 ? ", " : "").append(k).append('=').append(String.format("%.6g", v)));
    return sb.append('}').toString();
  }

  /**
   * Σ of {@link FfnStatistics} over all states. Each task emits its partition's sums slice by slice, keyed by
   * (component, offset); the slices are merged by key on the executors (shuffle without map-side combine, so a task
   * holds one slice) and fetched one reduce partition at a time.
   * Exact sums: the result does not depend on partitioning or merge order.
   */
  FfnStatistics.Sums aggregate(JavaRDD<FfnState> states, FfnWeights ffn, long[] collected) {
    FfnKind kind = ffn.kind();
    int d = ffn.hidden();
    int f = ffn.ffn();
    int[] sizes = FfnStatistics.componentSizes(kind, d, f);
    long totalEntries = 0;
    for (int size : sizes) {
      totalEntries += size;
    }
    JavaPairRDD<Long, ExactSums> slices = states.mapPartitionsToPair(it -> {
      TaskThreads.configureOnce();
      List<FfnState> partition = new ArrayList<>();
      it.forEachRemaining(partition::add);
      return new SliceIterator(kind, d, f, partition);
    });
    JavaRDD<Tuple2<Long, ExactSums>> merged = ExactSlices.reduceByKey(slices, ExactSlices.reducers(totalEntries)).rdd().toJavaRDD();
    List<double[]> decoded = new ArrayList<>();
    for (int size : sizes) {
      decoded.add(new double[size]);
    }
    long[] received = new long[sizes.length]; // entries per component; keys are unique after the reduce
    Iterator<Tuple2<Long, ExactSums>> fetched = merged.toLocalIterator();
    while (fetched.hasNext()) {
      Tuple2<Long, ExactSums> slice = fetched.next();
      int component = (int) (slice._1() >>> 32);
      int offset = (int) (slice._1() & 0xffffffffL);
      slice._2().decodeInto(decoded.get(component), offset);
      received[component] += slice._2().size();
      collected[0] += (long) slice._2().size() * ExactSlices.BYTES_PER_ENTRY;
    }
    for (int c = 0; c < sizes.length; c++) {
      if (received[c] != sizes[c]) { // every slice of every partition's sums is always emitted, so this is a bug, not user error
        throw new IllegalStateException("Statistics component " + c + ": " + received[c] + " of " + sizes[c] + " entries reached the driver");
      }
    }
    return FfnStatistics.decode(kind, d, f, decoded);
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
