package sparkslim.core.depth;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import sparkslim.core.linalg.ExactSums;

/**
 * Mergeable sums for the Taylor criterion: per block and scored weight tensor, the exact sum over calibration windows of
 * the gradient of each window's summed next-token NLL, and the sum of those losses. The sums are fixed-point
 * ({@link ExactSums}), so any partitioning and merge order gives the same bits. They leave a task as {@link Slice}s,
 * which Spark reduces by key; nothing ever holds every tensor's sums but the task that made them.
 */
public final class GradientAccumulator implements Serializable {
  private static final long serialVersionUID = 1L;
  /** The key of the summed loss among the slices. */
  public static final int LOSS_BLOCK = -1;
  public static final String LOSS_TENSOR = "loss";

  private final Map<Integer, Map<String, ExactSums>> sums = new LinkedHashMap<>(); // block -> tensor -> Σ gradient
  private final ExactSums loss = new ExactSums(1);

  /** Where a slice of sums belongs: a block's tensor and the first entry, or the loss ({@link #LOSS_BLOCK}). */
  public record Key(int block, String tensor, int offset) implements Serializable, Comparable<Key> {
    @Override
    public int compareTo(Key o) {
      int c = Integer.compare(block, o.block);
      c = c != 0 ? c : tensor.compareTo(o.tensor);
      return c != 0 ? c : Integer.compare(offset, o.offset);
    }
  }

  /** Entries [key.offset, key.offset + sums.size()) of one sum. */
  public record Slice(Key key, ExactSums sums) implements Serializable {}

  /**
   * Adds one window: its summed NLL and its gradients, block → tensor name (relative to the block prefix) → ∂/∂tensor.
   * Only the scored tensors ({@link BlockImportance#isScored}) are kept.
   */
  public void add(double windowLoss, Map<Integer, Map<String, double[]>> gradients) {
    loss.add(0, windowLoss);
    for (Map.Entry<Integer, Map<String, double[]>> block : gradients.entrySet()) {
      for (Map.Entry<String, double[]> t : block.getValue().entrySet()) {
        if (BlockImportance.isScored(t.getKey())) {
          sums.computeIfAbsent(block.getKey(), b -> new LinkedHashMap<>())
              .computeIfAbsent(t.getKey(), n -> new ExactSums(t.getValue().length))
              .add(t.getValue(), 0);
        }
      }
    }
  }

  /** The sums cut into slices of at most {@code sliceSize} entries (copies made one at a time), then the loss. */
  public Iterator<Slice> slices(int sliceSize) {
    List<Map.Entry<Key, ExactSums>> tensors = new ArrayList<>();
    sums.forEach((block, byName) -> byName.forEach((name, s) -> tensors.add(Map.entry(new Key(block, name, 0), s))));
    return new Iterator<>() {
      private int tensor;
      private int offset;
      private boolean lossDone;

      @Override
      public boolean hasNext() {
        return tensor < tensors.size() || !lossDone;
      }

      @Override
      public Slice next() {
        if (tensor == tensors.size()) {
          lossDone = true;
          return new Slice(new Key(LOSS_BLOCK, LOSS_TENSOR, 0), loss);
        }
        Map.Entry<Key, ExactSums> e = tensors.get(tensor);
        int end = Math.min(e.getValue().size(), offset + sliceSize);
        Slice s = new Slice(new Key(e.getKey().block(), e.getKey().tensor(), offset), e.getValue().slice(offset, end));
        offset = end;
        if (offset == e.getValue().size()) {
          tensor++;
          offset = 0;
        }
        return s;
      }
    };
  }
}
