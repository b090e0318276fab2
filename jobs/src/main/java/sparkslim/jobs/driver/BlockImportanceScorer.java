package sparkslim.jobs.driver;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import scala.Tuple2;
import sparkslim.core.depth.BlockImportance;
import sparkslim.core.depth.GradientAccumulator;
import sparkslim.core.eval.EvalWindows;
import sparkslim.core.grad.CausalLmBackward;
import sparkslim.core.linalg.ExactSums;
import sparkslim.core.model.CausalLm;
import sparkslim.jobs.spark.ExactSlices;
import sparkslim.jobs.spark.TaskThreads;

/**
 * Block importance on Spark, against one broadcast model (blocks are skipped in the layer loop, never copied):
 * <ul>
 *   <li>PPL criterion: one task per (candidate block × chunk of calibration windows); the driver sums each candidate's
 *       window NLLs in window order.</li>
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
  private final Broadcast<CausalLm> model;
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
    this.jsc = jsc;
    this.model = model;
    this.windows = List.copyOf(windows);
    this.partitions = Math.max(1, Math.min(partitions, windows.size()));
  }

  /**
   * PPL criterion: for each candidate b, the calibration PPL of the model without {@code removed} and b; and the PPL of
   * the model without {@code removed} alone.
   */
  public Scores ppl(Set<Integer> removed, List<Integer> candidates) {
    List<PplTask> tasks = new ArrayList<>();
    List<Integer> evaluated = new ArrayList<>(candidates);
    evaluated.add(0, NO_CANDIDATE);
    for (int candidate : evaluated) {
      for (int c = 0; c < partitions; c++) {
        tasks.add(new PplTask(candidate, c * windows.size() / partitions, (c + 1) * windows.size() / partitions));
      }
    }
    List<int[]> tokens = windows;
    Set<Integer> base = Set.copyOf(removed);
    Broadcast<CausalLm> lm = model;
    List<WindowNll> nlls = new ArrayList<>(jsc.parallelize(tasks, tasks.size()).flatMap(t -> {
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
    nlls.sort(Comparator.comparingInt(WindowNll::candidate).thenComparingInt(WindowNll::window));
    double[] scores = new double[model.value().numBlocks()];
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

  /**
   * Taylor criterion on the model without {@code removed}: score_b = Σ over block b's weight tensors of Σ |W ⊙ ∂L/∂W|,
   * L the mean next-token NLL over all calibration predictions. The model score is L.
   */
  public Scores taylor(Set<Integer> removed) {
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
    double[] scores = new double[model.value().numBlocks()];
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
