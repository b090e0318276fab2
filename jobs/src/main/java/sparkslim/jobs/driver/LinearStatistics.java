package sparkslim.jobs.driver;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import scala.Tuple2;
import sparkslim.core.linalg.ExactSums;
import sparkslim.core.linalg.GramSlices;
import sparkslim.core.model.DecoderBlock;
import sparkslim.jobs.spark.ExactSlices;
import sparkslim.jobs.spark.ExecutorModels;
import sparkslim.jobs.spark.TaskThreads;

/**
 * The statistics pipeline of a block's linears: each task runs its calibration samples through the dense block and
 * emits the exact sums Σ XᵀX of every input group (q/k/v share one, gate/up share one) as slices of
 * {@link GramSlices#ROW_BLOCK} rows of the packed triangle, keyed by (group, offset), plus one slice of counts. Spark
 * reduces the slices by key (exact fixed-point sums: any partitioning and merge order give the same bits), then routes
 * each merged slice to the partition of every linear that reads the group, one partition per linear. There the linear's
 * statistics meet whole, where it is solved ({@link LinearSolveTask}). No task, and not the driver, ever holds a whole
 * block's statistics: a map task holds one slice of sums at a time, a reducer its share of slices, a solve task one
 * linear's.
 */
public final class LinearStatistics {
  /** The offset of the counts slice: [sequences, tokens]. */
  public static final int COUNTS = -1;

  private LinearStatistics() {}

  /** Key of one slice: an input group and the offset of the slice in the group's packed triangle ({@link #COUNTS} for counts). */
  public record SliceKey(String group, int offset) implements Serializable {}

  /** A merged slice on its way to a linear. */
  public record Slice(int offset, ExactSums sums) implements Serializable {}

  /** One linear to solve: its input group and weight shape (outFeatures, inFeatures). */
  public record LinearShape(String linear, String group, int rows, int cols) implements Serializable {
    /** FLOP estimate of a SparseGPT solve, for ordering the solve tasks largest first: 4n³/3 (factorizations) + rows·n² (updates). */
    double cost() {
      return 4.0 / 3 * Math.pow(cols, 3) + (double) rows * cols * cols;
    }
  }

  /**
   * The merged statistics of each linear in {@code linears}, one partition per linear, largest solve first.
   *
   * @param samples the block's calibration inputs
   * @param modelLocation the model, read by each executor (the dense block's weights never pass through the driver)
   * @param killHook test hook ({@link ExecutorKillHook}), null unless a test asks for it
   */
  public static JavaPairRDD<String, Slice> compute(JavaRDD<LayerSequentialDriver.Sample> samples, String modelLocation, int block,
                                                   List<LinearShape> linears, ExecutorKillHook killHook) {
    Map<String, Integer> widths = new LinkedHashMap<>();
    Map<String, List<String>> readers = new LinkedHashMap<>();
    long entries = 0;
    for (LinearShape l : linears) {
      if (widths.put(l.group(), l.cols()) == null) {
        entries += GramSlices.packedSize(l.cols());
      }
      readers.computeIfAbsent(l.group(), g -> new ArrayList<>()).add(l.linear());
    }
    JavaPairRDD<SliceKey, ExactSums> slices = samples.mapPartitionsToPair(it -> {
      TaskThreads.configureOnce();
      ExecutorModels.releaseGlobals(); // the samples are embedded: the embedding table and head are not needed any more
      DecoderBlock dense = ExecutorModels.block(modelLocation, block);
      Map<String, List<float[]>> inputs = new LinkedHashMap<>(); // group -> each sample's (tokens, width) input
      Map<String, List<Integer>> tokens = new LinkedHashMap<>();
      while (it.hasNext()) {
        LayerSequentialDriver.Sample s = it.next();
        dense.forward(s.hidden(), s.seqLen(), (group, x, rows) -> {
          if (widths.containsKey(group)) {
            inputs.computeIfAbsent(group, g -> new ArrayList<>()).add(x.clone());
            tokens.computeIfAbsent(group, g -> new ArrayList<>()).add(rows);
          }
        });
      }
      return new SliceIterator(widths, inputs, tokens);
    });
    JavaPairRDD<SliceKey, ExactSums> merged = ExactSlices.reduceByKey(slices, ExactSlices.reducers(entries));
    if (killHook != null) { // in the merge task, once it has fetched and merged its slices
      merged = merged.mapPartitionsToPair(it -> {
        killHook.inSliceMerge();
        return it;
      }, true);
    }
    List<String> order = new ArrayList<>();
    linears.stream().sorted((a, b) -> Double.compare(b.cost(), a.cost())).forEach(l -> order.add(l.linear()));
    return merged.flatMapToPair(kv -> {
      List<Tuple2<String, Slice>> out = new ArrayList<>();
      for (String linear : readers.get(kv._1().group())) {
        out.add(new Tuple2<>(linear, new Slice(kv._1().offset(), kv._2())));
      }
      return out.iterator();
    }).partitionBy(new LinearPartitioner(order));
  }

  /** One partition per linear, in the given order (Spark schedules lower partitions first: largest solves first). */
  static final class LinearPartitioner extends Partitioner {
    private static final long serialVersionUID = 1L;
    private final Map<String, Integer> index = new HashMap<>();

    LinearPartitioner(List<String> order) {
      for (int i = 0; i < order.size(); i++) {
        index.put(order.get(i), i);
      }
    }

    @Override
    public int numPartitions() {
      return index.size();
    }

    @Override
    public int getPartition(Object key) {
      Integer i = index.get((String) key);
      if (i == null) {
        throw new IllegalArgumentException("No solve partition for linear '" + key + "'");
      }
      return i;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof LinearPartitioner p && p.index.equals(index);
    }

    @Override
    public int hashCode() {
      return index.hashCode();
    }
  }

  /**
   * A task's slices, computed when the shuffle writer asks for them: per group, the counts, then the packed triangle's
   * row blocks over all the task's samples. The task holds its samples' inputs and one block of sums.
   */
  private static final class SliceIterator implements Iterator<Tuple2<SliceKey, ExactSums>> {
    private final Iterator<String> groups;
    private final Map<String, Integer> widths;
    private final Map<String, List<float[]>> inputs;
    private final Map<String, List<Integer>> tokens;
    private String group;
    private GramSlices gram;
    private int[] groupTokens;
    private int row = -1; // -1: the counts slice is next

    SliceIterator(Map<String, Integer> widths, Map<String, List<float[]>> inputs, Map<String, List<Integer>> tokens) {
      this.widths = widths;
      this.inputs = inputs;
      this.tokens = tokens;
      this.groups = new ArrayList<>(inputs.keySet()).iterator();
    }

    @Override
    public boolean hasNext() {
      return group != null || groups.hasNext();
    }

    @Override
    public Tuple2<SliceKey, ExactSums> next() {
      if (group == null) {
        group = groups.next();
        groupTokens = tokens.get(group).stream().mapToInt(Integer::intValue).toArray();
        int maxTokens = 1;
        for (int t : groupTokens) {
          maxTokens = Math.max(maxTokens, t);
        }
        gram = new GramSlices(widths.get(group), maxTokens);
        row = -1;
      }
      int n = widths.get(group);
      if (row < 0) {
        ExactSums counts = new ExactSums(2);
        for (int t : groupTokens) {
          counts.add(0, 1);
          counts.add(1, t);
        }
        row = 0;
        return new Tuple2<>(new SliceKey(group, COUNTS), counts);
      }
      ExactSums sums = gram.rows(row, inputs.get(group), groupTokens);
      Tuple2<SliceKey, ExactSums> out = new Tuple2<>(new SliceKey(group, GramSlices.packedRowStart(n, row)), sums);
      row += GramSlices.ROW_BLOCK;
      if (row >= n) {
        inputs.remove(group); // this group's inputs are spent
        group = null;
        gram = null;
      }
      return out;
    }
  }
}
