package sparkslim.jobs.driver;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;
import sparkslim.core.depth.BlockImportance;
import sparkslim.core.depth.GradientAccumulator;
import sparkslim.core.eval.EvalWindows;
import sparkslim.core.grad.CausalLmBackward;
import sparkslim.core.linalg.ExactSums;
import sparkslim.core.model.CausalLm;
import sparkslim.jobs.spark.ExactSlices;
import sparkslim.jobs.spark.ExecutorModels;
import sparkslim.jobs.spark.TaskThreads;

/**
 * Block importance on Spark, against one broadcast model (blocks are skipped in the layer loop, never copied), or,
 * for the PPL criterion of a model larger than an executor, streamed block by block from the model files:
 * <ul>
 *   <li>PPL criterion, in memory: one task per (candidate block × chunk of calibration windows); the driver sums each
 *       candidate's window NLLs in window order.</li>
 *   <li>PPL criterion, streamed ({@link #streamed}): the windows' hidden states go through one block per stage, as in
 *       the streamed eval. At block b the hidden states of the model without the removed blocks fork: a copy skips b
 *       (candidate b's branch) while the states go on through b; every branch already forked goes through b too. So each
 *       block is read once per executor per round, and each candidate's windows go through exactly the blocks, in the
 *       order, that the in-memory pass runs: the NLLs are bitwise the same.</li>
 *   <li>Taylor criterion: data-parallel backward passes, one task per partition of windows; the gradient sums leave the
 *       tasks as exact fixed-point slices, are reduced by key, and each reduced slice is scored where it lands; only the
 *       per-slice scores reach the driver, which adds them in key order.</li>
 * </ul>
 * Both give the same bits for any number of executors, partitions or chunks.
 */
public final class BlockImportanceScorer {
  /** Entries per gradient slice shipped through the shuffle (16 B each as exact sums: 1 MiB). */
  static final int GRADIENT_SLICE = 1 << 16;
  /** Marks the evaluation of the round's model itself, with no further block skipped. */
  static final int NO_CANDIDATE = -1;

  private final JavaSparkContext jsc;
  private final Broadcast<CausalLm> model; // null when streamed
  private final String location; // the model files, when streamed
  private final int numBlocks;
  private final List<int[]> windows;
  private final int partitions;

  /** What a round's scoring found: a score per block (NaN where not scored) and the round model's own score. */
  public record Scores(double[] scores, double modelScore) {}

  private record PplTask(int candidate, int from, int to) implements Serializable {}

  private record WindowNll(int candidate, int window, double nll) implements Serializable {}

  /**
   * @param partitions window chunks per PPL candidate, and partitions of the windows for the Taylor criterion
   */
  public BlockImportanceScorer(JavaSparkContext jsc, Broadcast<CausalLm> model, List<int[]> windows, int partitions) {
    this(jsc, model, null, model.value().numBlocks(), windows, partitions);
  }

  private BlockImportanceScorer(JavaSparkContext jsc, Broadcast<CausalLm> model, String location, int numBlocks, List<int[]> windows,
                                int partitions) {
    this.jsc = jsc;
    this.model = model;
    this.location = location;
    this.numBlocks = numBlocks;
    this.windows = List.copyOf(windows);
    this.partitions = Math.max(1, Math.min(partitions, windows.size()));
  }

  /**
   * A scorer that never holds the model: executors read the globals and one block at a time from the files at
   * {@code location} (as every executor can open it). Only the PPL criterion runs this way.
   */
  public static BlockImportanceScorer streamed(JavaSparkContext jsc, String location, int numBlocks, List<int[]> windows, int partitions) {
    return new BlockImportanceScorer(jsc, null, location, numBlocks, windows, partitions);
  }

  /** True if this scorer streams the model from its files. */
  public boolean isStreamed() {
    return model == null;
  }

  /**
   * PPL criterion: for each candidate b, the calibration PPL of the model without {@code removed} and b; and the PPL of
   * the model without {@code removed} alone.
   */
  public Scores ppl(Set<Integer> removed, List<Integer> candidates) {
    List<Integer> evaluated = new ArrayList<>(candidates);
    evaluated.add(0, NO_CANDIDATE);
    List<WindowNll> nlls = isStreamed() ? pplStreamed(removed, candidates) : pplInMemory(removed, evaluated);
    nlls.sort(Comparator.comparingInt(WindowNll::candidate).thenComparingInt(WindowNll::window));
    double[] scores = new double[numBlocks];
    Arrays.fill(scores, Double.NaN);
    double modelPpl = Double.NaN;
    for (int candidate : evaluated) {
      double ppl = EvalWindows.perplexity(nlls.stream().filter(n -> n.candidate() == candidate).mapToDouble(WindowNll::nll).toArray());
      if (candidate == NO_CANDIDATE) {
        modelPpl = ppl;
      } else {
        scores[candidate] = ppl;
      }
    }
    return new Scores(scores, modelPpl);
  }

  private List<WindowNll> pplInMemory(Set<Integer> removed, List<Integer> evaluated) {
    List<PplTask> tasks = new ArrayList<>();
    for (int candidate : evaluated) {
      for (int c = 0; c < partitions; c++) {
        tasks.add(new PplTask(candidate, c * windows.size() / partitions, (c + 1) * windows.size() / partitions));
      }
    }
    List<int[]> tokens = windows;
    Set<Integer> base = Set.copyOf(removed);
    Broadcast<CausalLm> lm = model;
    return new ArrayList<>(jsc.parallelize(tasks, tasks.size()).flatMap(t -> {
      TaskThreads.configureOnce();
      Set<Integer> skip = new HashSet<>(base);
      if (t.candidate() != NO_CANDIDATE) {
        skip.add(t.candidate());
      }
      List<WindowNll> out = new ArrayList<>();
      for (int w = t.from(); w < t.to(); w++) {
        out.add(new WindowNll(t.candidate(), w, lm.value().windowNll(tokens.get(w), skip)));
      }
      return out.iterator();
    }).collect());
  }

  /** One window of one candidate's branch between two blocks of a streamed round: its hidden states (seqLen, hidden). */
  private record Branch(int candidate, int window, float[] hidden) implements Serializable {}

  private List<WindowNll> pplStreamed(Set<Integer> removed, List<Integer> candidates) {
    List<int[]> tokens = windows;
    String files = location;
    Set<Integer> forks = Set.copyOf(candidates);
    List<Integer> indices = new ArrayList<>();
    for (int w = 0; w < windows.size(); w++) {
      indices.add(w);
    }
    JavaRDD<Branch> branches = jsc.parallelize(indices, partitions).map(w -> {
      TaskThreads.configureOnce();
      return new Branch(NO_CANDIDATE, w, ExecutorModels.onlyGlobals(files).embed(tokens.get(w)));
    }).persist(StorageLevel.MEMORY_AND_DISK_SER());
    try {
      branches.count();
      for (int b = 0; b < numBlocks; b++) {
        if (removed.contains(b)) {
          continue; // skipped by every branch
        }
        int block = b;
        JavaRDD<Branch> next = branches.flatMap(h -> {
          TaskThreads.configureOnce();
          int seqLen = tokens.get(h.window()).length;
          List<Branch> out = new ArrayList<>(2);
          if (h.candidate() == NO_CANDIDATE && forks.contains(block)) {
            out.add(new Branch(block, h.window(), h.hidden())); // candidate b's branch: the same states, block b skipped
          }
          out.add(new Branch(h.candidate(), h.window(), ExecutorModels.onlyBlock(files, block).forward(h.hidden(), seqLen)));
          return out.iterator();
        }).persist(StorageLevel.MEMORY_AND_DISK_SER());
        next.count();
        branches.unpersist(false);
        branches = next;
      }
      return new ArrayList<>(branches.map(h -> {
        TaskThreads.configureOnce();
        return new WindowNll(h.candidate(), h.window(), ExecutorModels.onlyGlobals(files).nllFromLastHidden(h.hidden(), tokens.get(h.window())));
      }).collect());
    } finally {
      branches.unpersist(false);
    }
  }

  /**
   * Taylor criterion on the model without {@code removed}: score_b = Σ over block b's weight tensors of Σ |W ⊙ ∂L/∂W|,
   * L the mean next-token NLL over all calibration predictions. The model score is L.
   */
  public Scores taylor(Set<Integer> removed) {
    if (isStreamed()) { // DepthPrunePlan refuses this before Spark starts
      throw new IllegalStateException("The Taylor criterion needs the model in memory");
    }
    long predictions = windows.stream().mapToLong(w -> w.length - 1L).sum();
    Set<Integer> skip = Set.copyOf(removed);
    Broadcast<CausalLm> lm = model;
    List<Tuple2<GradientAccumulator.Key, Double>> parts = new ArrayList<>(ExactSlices.reduceByKey(jsc.parallelize(windows, partitions).mapPartitions(it -> {
      TaskThreads.configureOnce();
      CausalLmBackward backward = new CausalLmBackward(lm.value());
      GradientAccumulator sums = new GradientAccumulator();
      while (it.hasNext()) {
        CausalLmBackward.Result r = backward.backward(it.next(), skip);
        sums.add(r.loss(), r.gradients());
      }
      return sums.slices(GRADIENT_SLICE);
    }).mapToPair(s -> new Tuple2<>(s.key(), s.sums())), Math.max(1, jsc.defaultParallelism()))
        .map(t -> {
          GradientAccumulator.Key key = t._1();
          double[] sum = t._2().toDoubles();
          if (key.block() == GradientAccumulator.LOSS_BLOCK) {
            return new Tuple2<>(key, sum[0] / predictions);
          }
          float[] w = lm.value().blocks().get(key.block()).tensors().get(key.tensor()).data();
          return new Tuple2<>(key, BlockImportance.taylor(w, key.offset(), sum, predictions));
        }).collect());
    parts.sort(Comparator.comparing(Tuple2::_1));
    double[] scores = new double[numBlocks];
    Arrays.fill(scores, Double.NaN);
    double loss = Double.NaN;
    for (Tuple2<GradientAccumulator.Key, Double> p : parts) {
      int block = p._1().block();
      if (block == GradientAccumulator.LOSS_BLOCK) {
        loss = p._2();
      } else {
        scores[block] = Double.isNaN(scores[block]) ? p._2() : scores[block] + p._2();
      }
    }
    return new Scores(scores, loss);
  }
}
