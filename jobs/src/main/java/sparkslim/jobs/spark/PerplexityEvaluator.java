package sparkslim.jobs.spark;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import sparkslim.core.eval.EvalTexts;
import sparkslim.core.eval.EvalWindows;
import sparkslim.core.io.WindowNllTable;
import sparkslim.core.model.CausalLm;

/**
 * Distributed perplexity: one Spark task per partition of evaluation windows, each running the broadcast model's
 * forward pass; the driver combines window NLLs in window order, so results never depend on the partitioning.
 */
public final class PerplexityEvaluator {
  private PerplexityEvaluator() {}

  /** One evaluated window, with where it ran. */
  public record WindowResult(int text, int window, double nll, String executorId, long pid) implements Serializable {}

  /** Results sorted by (text, window). */
  public static List<WindowResult> evaluate(JavaSparkContext jsc, CausalLm lm, EvalTexts texts, int partitions) {
    Broadcast<CausalLm> model = jsc.broadcast(lm);
    try {
      List<WindowResult> results = new ArrayList<>(jsc.parallelize(texts.windows(), Math.max(1, Math.min(partitions, texts.windows().size())))
          .map(w -> {
            TaskThreads.configureOnce();
            double nll = model.value().windowNll(w.tokens());
            return new WindowResult(w.text(), w.window(), nll, SparkEnv.get().executorId(), ProcessHandle.current().pid());
          }).collect());
      results.sort(Comparator.comparingInt(WindowResult::text).thenComparingInt(WindowResult::window));
      return results;
    } finally {
      model.destroy();
    }
  }

  /** One window's hidden states between two blocks of a streamed evaluation. */
  public record HiddenWindow(int text, int window, int[] tokens, float[] hidden) implements Serializable {}

  /**
   * Layer-sequential ("streamed") evaluation: the driver holds no weights. The windows become an RDD of hidden states
   * (embedded on the executors, which read the global tensors from the model files at {@code location}); for each
   * block in order, the RDD is mapped through the block (each executor reads it from the files), persisted
   * memory-and-disk, materialized, and the previous RDD unpersisted; the last stage applies the final norm, the head
   * and the window NLL. Each window goes through exactly the ops of {@link CausalLm#windowNll} in the same order, so
   * the NLLs are bitwise those of {@link #evaluate}. Results sorted by (text, window).
   *
   * @param location the model directory as every executor can open it (a qualified path)
   * @param log receives one progress line per stage
   */
  public static List<WindowResult> evaluateStreamed(JavaSparkContext jsc, String location, int numBlocks, EvalTexts texts, int partitions,
                                                    Consumer<String> log) {
    long t0 = System.nanoTime();
    JavaRDD<HiddenWindow> hidden = jsc.parallelize(texts.windows(), Math.max(1, Math.min(partitions, texts.windows().size())))
        .map(w -> {
          TaskThreads.configureOnce();
          return new HiddenWindow(w.text(), w.window(), w.tokens(), ExecutorModels.onlyGlobals(location).embed(w.tokens()));
        }).persist(StorageLevel.MEMORY_AND_DISK_SER());
    try {
      hidden.count();
      log.accept(String.format(Locale.ROOT, "embedded %d windows (%.1f s)", texts.windows().size(), (System.nanoTime() - t0) / 1e9));
      for (int b = 0; b < numBlocks; b++) {
        long tb = System.nanoTime();
        int block = b;
        JavaRDD<HiddenWindow> next = hidden.map(h -> {
          TaskThreads.configureOnce();
          float[] out = ExecutorModels.onlyBlock(location, block).forward(h.hidden(), h.tokens().length);
          return new HiddenWindow(h.text(), h.window(), h.tokens(), out);
        }).persist(StorageLevel.MEMORY_AND_DISK_SER());
        next.count();
        hidden.unpersist(false);
        hidden = next;
        log.accept(String.format(Locale.ROOT, "block %d/%d done (%.1f s)", b + 1, numBlocks, (System.nanoTime() - tb) / 1e9));
      }
      long th = System.nanoTime();
      List<WindowResult> results = new ArrayList<>(hidden.map(h -> {
        TaskThreads.configureOnce();
        double nll = ExecutorModels.onlyGlobals(location).nllFromLastHidden(h.hidden(), h.tokens());
        return new WindowResult(h.text(), h.window(), nll, SparkEnv.get().executorId(), ProcessHandle.current().pid());
      }).collect());
      log.accept(String.format(Locale.ROOT, "final norm, head and NLL done (%.1f s)", (System.nanoTime() - th) / 1e9));
      results.sort(Comparator.comparingInt(WindowResult::text).thenComparingInt(WindowResult::window));
      return results;
    } finally {
      hidden.unpersist(false);
    }
  }

  /** PPL of one text from sorted results. */
  public static double perplexity(List<WindowResult> results, int text) {
    return EvalWindows.perplexity(results.stream().filter(r -> r.text() == text).mapToDouble(WindowResult::nll).toArray());
  }

  /** Fills {@code node} with {"&lt;file name&gt;": {"ppl", "windows", "tokens", "seqlen", "mean_nll"}}. */
  public static void report(ObjectNode node, EvalTexts texts, List<WindowResult> results) {
    for (int t = 0; t < texts.names().size(); t++) {
      double ppl = perplexity(results, t);
      ObjectNode e = node.putObject(texts.names().get(t));
      e.put("ppl", ppl);
      e.put("windows", texts.windowCount(t));
      e.put("tokens", texts.tokenCounts().get(t));
      e.put("seqlen", texts.seqlen());
      e.put("mean_nll", Math.log(ppl));
    }
  }

  /** The executors that ran windows: [{"id", "pid", "windows"}], to prove multi-JVM runs. */
  public static void reportExecutors(ArrayNode executors, List<WindowResult> results) {
    Map<String, long[]> byExecutor = new TreeMap<>(); // id -> {pid, windows}
    for (WindowResult r : results) {
      byExecutor.computeIfAbsent(r.executorId(), k -> new long[] {r.pid(), 0})[1]++;
    }
    byExecutor.forEach((id, v) -> executors.addObject().put("id", id).put("pid", v[0]).put("windows", v[1]));
  }

  public static List<WindowNllTable.Row> rows(String runId, String model, EvalTexts texts, List<WindowResult> results) {
    List<WindowNllTable.Row> rows = new ArrayList<>();
    for (WindowResult r : results) {
      rows.add(new WindowNllTable.Row(runId, model, texts.names().get(r.text()), r.window(), texts.seqlen(), r.nll(), r.executorId()));
    }
    return rows;
  }
}
