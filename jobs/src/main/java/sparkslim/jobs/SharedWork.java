package sparkslim.jobs;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletionException;
import java.util.function.Supplier;

/**
 * Work that several runs in one JVM would otherwise repeat (a sweep's points): the tokenized calibration windows and eval
 * texts, the dense model, its evaluation and a depth criterion's block scores, each computed once per key and handed to
 * every run that asks for the same key. Concurrent asks for one key wait for the one computation. Outside a sweep
 * ({@link #none}) every ask computes. What is shared must not be modified by its users.
 */
public final class SharedWork {
  /** One kind of shared step: how often it was computed and reused, and the seconds its computations took. */
  public record Step(String kind, int computed, int reused, double seconds) {
    /** The seconds the reuses saved: each would have cost the mean computation. */
    public double savedSeconds() {
      return computed == 0 ? 0 : reused * seconds / computed;
    }
  }

  private final boolean sharing;
  private final Map<String, CompletableFuture<Object>> memo = new ConcurrentHashMap<>();
  private final Map<String, double[]> steps = new ConcurrentHashMap<>(); // kind -> {computed, reused, seconds}

  private SharedWork(boolean sharing) {
    this.sharing = sharing;
  }

  /** Computes every time (a single job run). */
  public static SharedWork none() {
    return new SharedWork(false);
  }

  /** Shares by key (a sweep). */
  public static SharedWork sharing() {
    return new SharedWork(true);
  }

  /** True in a sweep: values are shared by key. */
  public boolean isSharing() {
    return sharing;
  }

  /** The value of {@code kind} for {@code key}: computed by {@code compute} on the first ask, the same object afterwards. */
  @SuppressWarnings("unchecked")
  public <T> T get(String kind, String key, Supplier<T> compute) {
    if (!sharing) {
      return compute.get();
    }
    CompletableFuture<Object> mine = new CompletableFuture<>();
    CompletableFuture<Object> existing = memo.putIfAbsent(kind + "\u0000" + key, mine);
    if (existing != null) {
      count(kind, 0, 1, 0);
      try {
        return (T) existing.join();
      } catch (CompletionException e) {
        throw e.getCause() instanceof RuntimeException r ? r : e;
      }
    }
    long start = System.nanoTime();
    try {
      T value = compute.get();
      mine.complete(value);
      count(kind, 1, 0, (System.nanoTime() - start) / 1e9);
      return value;
    } catch (RuntimeException | Error e) {
      memo.remove(kind + "\u0000" + key, mine); // a later ask tries again
      mine.completeExceptionally(e);
      throw e;
    }
  }

  private void count(String kind, int computed, int reused, double seconds) {
    steps.compute(kind, (k, v) -> {
      double[] s = v == null ? new double[3] : v;
      s[0] += computed;
      s[1] += reused;
      s[2] += seconds;
      return s;
    });
  }

  /** Every kind asked for so far, by name. */
  public Map<String, Step> steps() {
    Map<String, Step> out = new TreeMap<>();
    steps.forEach((k, s) -> out.put(k, new Step(k, (int) s[0], (int) s[1], s[2])));
    return out;
  }
}
