package sparkslim.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.io.OutputDirectory;
import sparkslim.core.plan.SweepPlan;
import sparkslim.core.report.SweepCharts;
import sparkslim.core.report.SweepResults;
import sparkslim.jobs.spark.SparkSessions;

/**
 * {@code sparkslim sweep --config=SWEEP.yaml [--output.path=OUT]}: a grid of compressions in one Spark application.
 * <ol>
 *   <li>{@link SweepPlan} expands the file into points and checks every one (exit 2 names the point and the key) before
 *       Spark starts;</li>
 *   <li>one Spark session runs the points from {@code sweep.concurrency} driver threads, each in its own fair-scheduler
 *       pool, so the executors stay busy while one point is between stages. Each point is the ordinary job
 *       ({@code prune}, {@code depth-prune}, {@code quantize}; {@code eval} for each model's dense row) writing to
 *       {@code OUT/points/<point-id>/} with its own commit protocol; {@link SharedWork} hands the tokenized texts, the
 *       dense model, its evaluation and depth scores from the first point that computes them to the others;</li>
 *   <li>a point whose directory holds {@code _SUCCESS} and the same resolved settings is not rerun; a point that fails is
 *       a {@code failed} row with its message and the others go on;</li>
 *   <li>{@code results.parquet}, {@code results.csv}, {@code results.md}, the plots and {@code report.html} are written
 *       with {@code report.json} through the usual commit protocol, {@code _SUCCESS} last.</li>
 * </ol>
 */
public final class SweepJob {
  public static final String JOB = "sweep";
  /** Test hook: {@code -Dsparkslim.sweep.stop-after-points=n} fails the sweep once n points have run (a killed sweep). */
  public static final String STOP_AFTER_PROPERTY = "sparkslim.sweep.stop-after-points";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private SweepJob() {}

  /** The outcome of one point: its row and how long it took. */
  private record Outcome(SweepPlan.Point point, Map<String, Object> row, double seconds, boolean skipped) {}

  public static void run(List<String> args) {
    ConfigLoader.Arguments arguments = ConfigLoader.arguments(args);
    Map<String, String> overrides = arguments.overrides();
    if (arguments.configFiles().size() > 1) {
      throw new SparkslimException("'--config' names the sweep file, once (found " + arguments.configFiles() + ")");
    }
    String file = arguments.configFiles().isEmpty() ? null : arguments.configFiles().get(0);
    if (file == null) {
      throw new SparkslimException("Missing '--config=SWEEP.yaml': the sweep file with 'sweep.models' and 'sweep.grid' (see conf/sweep-examples.yaml)");
    }
    String sweepFile = file;
    Configuration hadoopConf = new Configuration();
    SweepPlan plan = SweepPlan.of(sweepFile, overrides, hadoopConf);
    Map<String, String> refused = plan.check(hadoopConf); // points their model cannot do: failed rows, not run
    refused.forEach((id, message) -> System.err.println("[sparkslim sweep] point " + id + " cannot run on its model: " + message));
    Map<String, Map<String, String>> sharedLayers = new LinkedHashMap<>();
    Map<String, String> cli = new LinkedHashMap<>(overrides);
    cli.remove(SweepPlan.CONCURRENCY);
    sharedLayers.put("command line", cli);
    Config config = ConfigLoader.layered(null, sharedLayers);
    JobRun run = JobRun.inside(JOB, config, JOB, null, SharedWork.sharing());
    String sweepYaml = read(file, hadoopConf);
    long points = plan.points().size();
    run.log("run %s: %d points on %d model(s) from %s, %d at once, output %s", run.runId(), points, plan.models().size(), file,
        plan.concurrency(), plan.outputPath());
    String master = SparkSessions.resolveMaster(config.string(ConfigKey.SPARK_MASTER).trim());

    run.withOutput(plan.outputPath(), (out, report) -> {
      SparkSession spark = SparkSessions.start(master, config.string(ConfigKey.SPARK_APP_NAME), Map.of("spark.scheduler.mode", "FAIR"));
      List<Outcome> outcomes = new ArrayList<>();
      long t0 = System.nanoTime();
      try {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Map<String, long[]> tasksByExecutor = new java.util.concurrent.ConcurrentSkipListMap<>(); // executor id -> {tasks}
        Map<String, String> hosts = new java.util.concurrent.ConcurrentHashMap<>();
        jsc.sc().addSparkListener(new org.apache.spark.scheduler.SparkListener() {
          @Override
          public void onTaskEnd(org.apache.spark.scheduler.SparkListenerTaskEnd end) {
            tasksByExecutor.computeIfAbsent(end.taskInfo().executorId(), k -> new long[1])[0]++;
            hosts.putIfAbsent(end.taskInfo().executorId(), end.taskInfo().host());
          }
        });
        outcomes.addAll(runPoints(plan, refused, jsc, run, out.fileSystem(), hadoopConf));
        ObjectNode sparkNode = report.putObject("spark").put("master", jsc.master()).put("app_id", jsc.sc().applicationId())
            .put("default_parallelism", jsc.defaultParallelism());
        var executors = sparkNode.putArray("executors");
        tasksByExecutor.forEach((id, n) -> executors.addObject().put("id", id).put("host", hosts.get(id)).put("tasks", n[0]));
        run.log("tasks by executor: %s", executors);
      } finally {
        spark.stop();
      }
      double wall = (System.nanoTime() - t0) / 1e9;
      SweepResults results = results(plan, outcomes);
      results.writeParquet(out.staged("results.parquet"), hadoopConf);
      out.writeString("results.csv", results.csv());
      List<String> shown = shownColumns(results);
      out.writeString("results.md", results.markdown(shown));
      out.writeString("sweep.yaml", sweepYaml);
      String pplColumn = results.columns().stream().filter(c -> c.startsWith("ppl ")).findFirst().orElse(null);
      Map<String, byte[]> plots = new LinkedHashMap<>();
      if (pplColumn != null) {
        putPlot(plots, "ppl-vs-sparsity.png", SweepCharts.pplAgainstSparsity(results, pplColumn));
        putPlot(plots, "ppl-vs-size.png", SweepCharts.pplAgainstSize(results, pplColumn));
        putPlot(plots, "depth-criteria.png", SweepCharts.depthCriteria(results, pplColumn));
      }
      for (Map.Entry<String, byte[]> p : plots.entrySet()) {
        try (var os = out.fileSystem().create(out.staged(p.getKey()))) {
          os.write(p.getValue());
        }
      }
      int failed = (int) outcomes.stream().filter(o -> "failed".equals(o.row().get("status"))).count();
      int skipped = (int) outcomes.stream().filter(Outcome::skipped).count();
      List<String> summary = new ArrayList<>();
      summary.add(String.format(Locale.ROOT, "%d points on %s: %d ok, %d failed, %d resumed from an earlier run", outcomes.size(),
          plan.models(), outcomes.size() - failed, failed, skipped));
      summary.add(String.format(Locale.ROOT, "wall time %.1f s on %s, %d points at once", wall, master, plan.concurrency()));
      ObjectNode sharedNode = report.putObject("shared");
      for (SharedWork.Step step : run.shared().steps().values()) {
        sharedNode.putObject(step.kind()).put("computed", step.computed()).put("reused", step.reused())
            .put("seconds", step.seconds()).put("saved_seconds", step.savedSeconds());
        summary.add(String.format(Locale.ROOT, "shared %s: computed %d time(s) in %.1f s, reused %d time(s) (about %.1f s saved)",
            step.kind(), step.computed(), step.seconds(), step.reused(), step.savedSeconds()));
      }
      out.writeString("report.html", SweepResults.html("sparkslim sweep: " + sweepFile, summary, results.htmlTable(shown), plots));
      report.put("sweep_file", sweepFile);
      report.put("points", outcomes.size());
      report.put("ok", outcomes.size() - failed);
      report.put("failed", failed);
      report.put("resumed", skipped);
      report.put("concurrency", plan.concurrency());
      report.put("seconds", wall);
      plan.models().forEach(report.putArray("models")::add);
      var rows = report.putArray("results");
      for (Map<String, Object> row : results.rows()) {
        rows.add(JSON.valueToTree(row));
      }
      run.log("%d points: %d ok, %d failed, %d resumed in %.1f s; wrote results.parquet, results.csv, results.md, %s and report.html",
          outcomes.size(), outcomes.size() - failed, failed, skipped, wall, String.join(", ", plots.keySet()));
      System.out.print(results.markdown(shown));
    });
  }

  private static void putPlot(Map<String, byte[]> plots, String name, byte[] png) {
    if (png != null) {
      plots.put(name, png);
    }
  }

  /** Runs (or resumes) every point, {@code plan.concurrency()} at a time, printing a progress line per finished point. */
  private static List<Outcome> runPoints(SweepPlan plan, Map<String, String> refused, JavaSparkContext jsc, JobRun sweep, FileSystem fs,
                                         Configuration conf) {
    List<SweepPlan.Point> points = plan.points();
    ExecutorService pool = Executors.newFixedThreadPool(plan.concurrency(), r -> {
      Thread t = new Thread(r, "sweep-point");
      t.setDaemon(true);
      return t;
    });
    AtomicInteger done = new AtomicInteger();
    AtomicInteger ran = new AtomicInteger();
    long start = System.nanoTime();
    String stopAfter = System.getProperty(STOP_AFTER_PROPERTY);
    List<Future<Outcome>> futures = new ArrayList<>();
    for (int i = 0; i < points.size(); i++) {
      SweepPlan.Point point = points.get(i);
      int index = i;
      futures.add(pool.submit(() -> {
        Outcome o = refused.containsKey(point.id()) ? new Outcome(point, row(point, null, "failed", refused.get(point.id()), null, fs), 0, false)
            : runPoint(point, index, jsc, sweep, fs, conf, stopAfter == null ? -1 : Integer.parseInt(stopAfter), ran);
        int n = done.incrementAndGet();
        double elapsed = (System.nanoTime() - start) / 1e9;
        double eta = elapsed / n * (points.size() - n);
        Object ppl = o.row().entrySet().stream().filter(e -> e.getKey().startsWith("ppl ")).map(Map.Entry::getValue).findFirst().orElse(null);
        String result = "failed".equals(o.row().get("status")) ? "FAILED: " + o.row().get("error")
            : ppl instanceof Double p ? String.format(Locale.ROOT, "ppl %.2f", p) : "ok";
        sweep.log("[%d/%d] %s: %s (%s%.0f s)%s", n, points.size(), point.label(), result, o.skipped() ? "resumed, " : "", o.seconds(),
            n < points.size() ? String.format(Locale.ROOT, ", about %s left", duration(eta)) : "");
        return o;
      }));
    }
    pool.shutdown();
    List<Outcome> outcomes = new ArrayList<>();
    try {
      for (Future<Outcome> f : futures) {
        outcomes.add(f.get());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      pool.shutdownNow();
      throw new IllegalStateException("Interrupted while waiting for the sweep's points", e);
    } catch (java.util.concurrent.ExecutionException e) {
      pool.shutdownNow();
      throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
    }
    return outcomes;
  }

  private static Outcome runPoint(SweepPlan.Point point, int index, JavaSparkContext jsc, JobRun sweep, FileSystem fs, Configuration conf,
                                  int stopAfter, AtomicInteger ran) {
    long t0 = System.nanoTime();
    Path dir = new Path(point.config().string(ConfigKey.OUTPUT_PATH));
    JsonNode previous = finished(dir, point.config(), fs);
    if (previous != null) {
      return new Outcome(point, row(point, previous, "ok", null, dir, fs), (System.nanoTime() - t0) / 1e9, true);
    }
    if (stopAfter >= 0 && ran.get() >= stopAfter) {
      throw new IllegalStateException("Stopped after " + stopAfter + " points (" + STOP_AFTER_PROPERTY + ")");
    }
    jsc.setLocalProperty("spark.scheduler.pool", "point-" + index);
    JobRun run = JobRun.inside(point.job().configName(), point.config(), "sweep " + point.label(), jsc, sweep.shared());
    try {
      switch (point.job()) {
        case PRUNE -> PruneJob.run(run);
        case DEPTH_PRUNE -> DepthPruneJob.run(run);
        case QUANTIZE -> QuantizeJob.run(run);
        case EVAL -> EvalJob.run(run);
        default -> throw new IllegalStateException("Unhandled job " + point.job());
      }
      ran.incrementAndGet();
      JsonNode report = readJson(new Path(dir, "report.json"), fs);
      return new Outcome(point, row(point, report, "ok", null, dir, fs), (System.nanoTime() - t0) / 1e9, false);
    } catch (RuntimeException | Error e) {
      ran.incrementAndGet();
      String message = e instanceof SparkslimException ? e.getMessage() : e.toString();
      sweep.log("point %s failed: %s", point.label(), message);
      return new Outcome(point, row(point, null, "failed", message, dir, fs), (System.nanoTime() - t0) / 1e9, false);
    } finally {
      jsc.setLocalProperty("spark.scheduler.pool", null);
    }
  }

  /**
   * The report of a point that an earlier run finished with the same settings ({@code _SUCCESS}, and its
   * {@code resolved-config.yaml} equal to this point's config but for {@code spark.*}), else null.
   */
  static JsonNode finished(Path dir, Config config, FileSystem fs) {
    try {
      if (!fs.exists(new Path(dir, OutputDirectory.SUCCESS_MARKER))) {
        return null;
      }
      Map<String, String> stored;
      try (InputStream in = fs.open(new Path(dir, "resolved-config.yaml"))) {
        stored = ConfigLoader.flattenTree(YAML.readTree(in), dir + "/resolved-config.yaml");
      }
      Map<String, String> now = new LinkedHashMap<>(config.values());
      stored.keySet().removeIf(k -> k.startsWith("spark."));
      now.keySet().removeIf(k -> k.startsWith("spark."));
      for (ConfigKey location : List.of(ConfigKey.MODEL_PATH, ConfigKey.OUTPUT_PATH)) { // relative or qualified: one location
        for (Map<String, String> m : List.of(stored, now)) {
          if (m.containsKey(location.key())) {
            m.put(location.key(), SweepPlan.qualified(m.get(location.key()), fs.getConf()));
          }
        }
      }
      return stored.equals(now) ? readJson(new Path(dir, "report.json"), fs) : null;
    } catch (IOException e) {
      return null; // unreadable: run the point again
    }
  }

  private static JsonNode readJson(Path file, FileSystem fs) {
    try (InputStream in = fs.open(file)) {
      return JSON.readTree(in);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + file, e);
    }
  }

  /** A point's row: its identity and swept values, then what its report measured. */
  private static Map<String, Object> row(SweepPlan.Point point, JsonNode report, String status, String error, Path dir, FileSystem fs) {
    Map<String, Object> row = new LinkedHashMap<>();
    row.put("point", point.id());
    row.put("model", point.modelName());
    row.put("job", point.job().configName());
    row.put("status", status);
    point.values().forEach(row::put);
    if (report != null) {
      measured(point, report, row, dir, fs);
    }
    row.put("error", error);
    return row;
  }

  private static void measured(SweepPlan.Point point, JsonNode report, Map<String, Object> row, Path dir, FileSystem fs) {
    Long size = modelBytes(point.job() == SweepPlan.Job.EVAL ? new Path(point.model()) : new Path(dir, "model"), fs);
    Long parameters = null;
    Long nonzero = null;
    Double sparsity = null;
    switch (point.job()) {
      case PRUNE -> {
        sparsity = report.path("sparsity").path("actual").asDouble();
        parameters = report.path("parameters").isNumber() ? report.path("parameters").asLong() : null;
        nonzero = report.path("nonzero_parameters").isNumber() ? report.path("nonzero_parameters").asLong() : null;
      }
      case DEPTH_PRUNE -> {
        long before = report.path("parameters_before").asLong();
        parameters = report.path("parameters_after").asLong();
        nonzero = parameters;
        sparsity = before > 0 ? 1.0 - (double) parameters / before : null;
      }
      case QUANTIZE -> {
        sparsity = report.path("zero_fraction").asDouble();
        parameters = report.path("parameters").isNumber() ? report.path("parameters").asLong() : null;
        nonzero = parameters == null ? null : Math.round(parameters * (1 - sparsity));
      }
      case EVAL -> {
        sparsity = 0.0;
        parameters = report.path("parameters").isNumber() ? report.path("parameters").asLong() : null;
        nonzero = parameters;
      }
      default -> { }
    }
    row.put("sparsity", sparsity);
    row.put("parameters", parameters);
    row.put("nonzero_parameters", nonzero);
    row.put("size_bytes", size);
    JsonNode bpw = report.path("quantization").path("bits_per_weight").path("model");
    row.put("bits_per_weight", bpw.isNumber() ? bpw.asDouble() : size != null && parameters != null && parameters > 0 ? 8.0 * size / parameters : null);
    JsonNode eval = report.path("eval");
    Iterator<Map.Entry<String, JsonNode>> texts = eval.fields();
    while (texts.hasNext()) {
      Map.Entry<String, JsonNode> t = texts.next();
      if (t.getValue().path("ppl").isNumber()) {
        row.put("ppl " + t.getKey(), t.getValue().path("ppl").asDouble());
      }
    }
    Iterator<Map.Entry<String, JsonNode>> seconds = report.path("seconds").fields();
    while (seconds.hasNext()) {
      Map.Entry<String, JsonNode> s = seconds.next();
      row.put("seconds " + s.getKey(), s.getValue().asDouble());
    }
  }

  /** Bytes of the safetensors files of a model directory (what a loader reads), or null if there are none. */
  private static Long modelBytes(Path model, FileSystem fs) {
    try {
      if (!fs.exists(model)) {
        return null;
      }
      long bytes = 0;
      for (FileStatus f : fs.listStatus(model)) {
        if (f.getPath().getName().endsWith(".safetensors")) {
          bytes += f.getLen();
        }
      }
      return bytes == 0 ? null : bytes;
    } catch (IOException e) {
      return null;
    }
  }

  /** The columns in a fixed order: identity, swept keys, measured figures (PPL per text, seconds by phase), error. */
  static SweepResults results(SweepPlan plan, List<Outcome> outcomes) {
    Set<String> columns = new LinkedHashSet<>(List.of("point", "model", "job", "status"));
    columns.addAll(plan.sweptKeys());
    columns.addAll(List.of("sparsity", "bits_per_weight", "size_bytes", "parameters", "nonzero_parameters"));
    Set<String> ppl = new LinkedHashSet<>();
    Set<String> seconds = new LinkedHashSet<>();
    for (Outcome o : outcomes) {
      o.row().keySet().forEach(k -> {
        if (k.startsWith("ppl ")) {
          ppl.add(k);
        } else if (k.startsWith("seconds ")) {
          seconds.add(k);
        }
      });
    }
    columns.addAll(ppl);
    columns.addAll(seconds);
    columns.add("point_seconds");
    columns.add("resumed");
    columns.add("error");
    List<Map<String, Object>> rows = new ArrayList<>();
    for (Outcome o : outcomes) {
      Map<String, Object> row = new LinkedHashMap<>();
      for (String c : columns) {
        row.put(c, o.row().get(c));
      }
      row.put("point_seconds", o.seconds());
      row.put("resumed", String.valueOf(o.skipped()));
      rows.add(row);
    }
    return new SweepResults(new ArrayList<>(columns), rows);
  }

  /** The columns of the markdown and HTML tables: the point id and per-phase seconds are left to the CSV and Parquet. */
  private static List<String> shownColumns(SweepResults results) {
    List<String> shown = new ArrayList<>();
    for (String c : results.columns()) {
      if (c.equals("point") || c.startsWith("seconds ") || c.equals("resumed") || c.equals("parameters")) {
        continue;
      }
      shown.add(c);
    }
    return shown;
  }

  private static String duration(double seconds) {
    long s = Math.round(seconds);
    return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", s / 3600, s % 3600 / 60)
        : s >= 60 ? String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60) : s + "s";
  }

  private static String read(String file, Configuration conf) {
    Path p = new Path(file);
    try (InputStream in = p.getFileSystem(conf).open(p)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + file, e);
    }
  }

}
