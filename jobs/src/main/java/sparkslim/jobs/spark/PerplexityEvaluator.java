package sparkslim.jobs.spark;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
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
