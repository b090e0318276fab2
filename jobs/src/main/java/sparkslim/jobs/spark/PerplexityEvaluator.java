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

  /**
   * Results sorted by (text, window). Consecutive windows of the same length go in stacks of {@link #stackSize}
   * (formed here, on the driver, before partitioning: a stack is the same on any
   * cluster), and each task runs its stacks through {@link CausalLm#windowNlls}.
   */
  public static List<WindowResult> evaluate(JavaSparkContext jsc, CausalLm lm, EvalTexts texts, int partitions) {
    List<List<EvalTexts.Window>> stacks = stacks(texts, stackSize(lm.spec(), texts));
    // local mode: the tasks run in the driver's JVM and read its model (no broadcast: serializing and reading back
    // the model was a tenth of a 64-window evaluation); a cluster broadcasts it
    String key = java.util.UUID.randomUUID().toString();
    Broadcast<CausalLm> model = jsc.isLocal() ? null : jsc.broadcast(lm);
    if (model == null) {
      LOCAL_MODELS.put(key, lm);
    }
    try {
      List<WindowResult> results = new ArrayList<>(jsc.parallelize(stacks, Math.max(1, Math.min(partitions, stacks.size())))
          .flatMap(stack -> {
            TaskThreads.configureOnce();
            CausalLm m = model == null ? LOCAL_MODELS.get(key) : model.value();
            return results(stack, m.windowNlls(stack.stream().map(EvalTexts.Window::tokens).toList())).iterator();
          }).collect());
      results.sort(Comparator.comparingInt(WindowResult::text).thenComparingInt(WindowResult::window));
      return results;
    } finally {
      if (model != null) {
        model.destroy();
      }
      LOCAL_MODELS.remove(key);
    }
  }

  private static final Map<String, CausalLm> LOCAL_MODELS = new java.util.concurrent.ConcurrentHashMap<>();

  /** Stacks an evaluation makes at least, when it has that many windows: small evaluations still spread over executors. */
  static final int MIN_STACKS = 8;

  /**
   * Windows per stack of an evaluation: {@link CausalLm#windowsPerProduct}, but no more than needed to make
   * {@value #MIN_STACKS} stacks. A function of the model's shape and the windows only, never of the cluster, so the
   * NLLs are the same on any cluster.
   */
  public static int stackSize(sparkslim.core.model.ModelSpec spec, EvalTexts texts) {
    int bySpread = (texts.windows().size() + MIN_STACKS - 1) / MIN_STACKS;
    return Math.max(1, Math.min(CausalLm.windowsPerProduct(spec, texts.seqlen()), bySpread));
  }

  /** A stack's NLLs as results, tagged with the executor that computed them. */
  private static List<WindowResult> results(List<EvalTexts.Window> stack, double[] nlls) {
    List<WindowResult> out = new ArrayList<>();
    for (int i = 0; i < nlls.length; i++) {
      EvalTexts.Window w = stack.get(i);
      out.add(new WindowResult(w.text(), w.window(), nlls[i], SparkEnv.get().executorId(), ProcessHandle.current().pid()));
    }
    return out;
  }

  /**
   * Consecutive windows of the same length in stacks of up to {@code perStack}, formed on the driver before
   * partitioning, so that a stack (and with it every product's rows) is the same on any cluster and in either mode.
   */
  static List<List<EvalTexts.Window>> stacks(EvalTexts texts, int perStack) {
    List<List<EvalTexts.Window>> stacks = new ArrayList<>();
    for (EvalTexts.Window w : texts.windows()) {
      List<EvalTexts.Window> last = stacks.isEmpty() ? null : stacks.get(stacks.size() - 1);
      if (last == null || last.size() == perStack || last.get(0).tokens().length != w.tokens().length) {
        last = new ArrayList<>();
        stacks.add(last);
      }
      last.add(w);
    }
    return stacks;
  }

  /** A stack of windows' hidden states (windows·seqLen, hiddenSize) between two blocks of a streamed evaluation. */
  public record HiddenStack(List<EvalTexts.Window> windows, float[] hidden) implements Serializable {
    int seqLen() {
      return windows.get(0).tokens().length;
    }
  }

  /**
   * Layer-sequential ("streamed") evaluation: the driver holds no weights. The windows become an RDD of hidden states
   * (embedded on the executors, which read the global tensors from the model files at {@code location}); for each
   * block in order, the RDD is mapped through the block (each executor reads it from the files), persisted
   * memory-and-disk, materialized, and the previous RDD unpersisted; the last stage applies the final norm, the head
   * and the window NLL. The windows go in the stacks of {@link #evaluate} ({@code perStack}: {@link #stackSize})
   * through exactly the ops of {@link CausalLm#windowNlls} in the same order, so the NLLs are bitwise those of
   * {@link #evaluate}. Results sorted by (text, window).
   *
   * @param location the model directory as every executor can open it (a qualified path)
   * @param log receives one progress line per stage
   */
  public static List<WindowResult> evaluateStreamed(JavaSparkContext jsc, String location, int numBlocks, int perStack, EvalTexts texts,
                                                    int partitions, Consumer<String> log) {
    long t0 = System.nanoTime();
    List<List<EvalTexts.Window>> stacks = stacks(texts, perStack);
    JavaRDD<HiddenStack> hidden = jsc.parallelize(stacks, Math.max(1, Math.min(partitions, stacks.size())))
        .map(stack -> {
          TaskThreads.configureOnce();
          float[] h = ExecutorModels.onlyGlobals(location).embedStacked(stack.stream().map(EvalTexts.Window::tokens).toList());
          return new HiddenStack(stack, h); // (windows·n, hiddenSize), as CausalLm.windowNlls stacks them
        }).persist(StorageLevel.MEMORY_AND_DISK_SER());
    try {
      hidden.count();
      log.accept(String.format(Locale.ROOT, "embedded %d windows in stacks of up to %d (%.1f s)", texts.windows().size(), perStack,
          (System.nanoTime() - t0) / 1e9));
      for (int b = 0; b < numBlocks; b++) {
        long tb = System.nanoTime();
        int block = b;
        JavaRDD<HiddenStack> next = hidden.map(h -> {
          TaskThreads.configureOnce();
          return new HiddenStack(h.windows(), ExecutorModels.onlyBlock(location, block).forward(h.hidden(), h.seqLen()));
        }).persist(StorageLevel.MEMORY_AND_DISK_SER());
        next.count();
        hidden.unpersist(false);
        hidden = next;
        log.accept(String.format(Locale.ROOT, "block %d/%d done (%.1f s)", b + 1, numBlocks, (System.nanoTime() - tb) / 1e9));
      }
      long th = System.nanoTime();
      List<WindowResult> results = new ArrayList<>(hidden.flatMap(h -> {
        TaskThreads.configureOnce();
        double[] nlls = ExecutorModels.onlyGlobals(location).nllsFromStackedHidden(h.hidden(),
            h.windows().stream().map(EvalTexts.Window::tokens).toList());
        return results(h.windows(), nlls).iterator();
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
