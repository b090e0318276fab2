package sparkslim.jobs.spark;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaPairRDD;
import scala.Tuple2;
import sparkslim.core.linalg.ExactSums;

/**
 * The reduce step every statistic shares (Hessian slices of {@code prune}, SparseLLM's least-squares sums, Taylor
 * gradient slices of {@code depth-prune}): slices of exact sums keyed by what they are a part of, merged by key. The
 * shuffle has no map-side combine, so a map task streams its slices out one at a time instead of holding them all; the
 * sums are fixed-point, so any partitioning and any merge order give the same bits.
 */
public final class ExactSlices {
  /** Target bytes of merged sums per reduce partition. */
  public static final long BYTES_PER_REDUCE_PARTITION = 64L << 20;
  /** Bytes per exact sum (128-bit fixed point). */
  public static final int BYTES_PER_ENTRY = 16;

  private ExactSlices() {}

  /** Reduce partitions for {@code entries} sums in total: about 64 MB each, 1 to 200. */
  public static int reducers(long entries) {
    return (int) Math.max(1, Math.min(200, (entries * BYTES_PER_ENTRY + BYTES_PER_REDUCE_PARTITION - 1) / BYTES_PER_REDUCE_PARTITION));
  }

  /** The slices merged by key over {@code reducers} partitions. */
  public static <K> JavaPairRDD<K, ExactSums> reduceByKey(JavaPairRDD<K, ExactSums> slices, int reducers) {
    return slices.partitionBy(new HashPartitioner(reducers)).mapPartitionsToPair(it -> {
      Map<K, ExactSums> sums = new HashMap<>();
      while (it.hasNext()) {
        Tuple2<K, ExactSums> slice = it.next();
        sums.merge(slice._1(), slice._2(), ExactSums::merge);
      }
      List<Tuple2<K, ExactSums>> out = new ArrayList<>();
      sums.forEach((k, v) -> out.add(new Tuple2<>(k, v)));
      return out.iterator();
    }, true);
  }
}
