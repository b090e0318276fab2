package sparkslim.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigLoader;
import sparkslim.core.io.OutputDirectory;
import sparkslim.jobs.spark.SparkSessions;

/**
 * The part every job shares, so that a job's own class holds only what differs (its plan and its Spark work):
 * <ol>
 *   <li>{@link #start}: the resolved {@link Config} (defaults, the job's own defaults, files, overrides), a run id, the
 *       start time and the log prefix {@code [sparkslim <job>]};</li>
 *   <li>the job parses its settings into a plan and checks them against the model (every user error surfaces there);</li>
 *   <li>{@link #onSpark}: prepares the output directory (everything written under {@code OUT/_temporary/<run>/}), starts
 *       Spark, runs the job's body with a {@code report.json} tree that already holds {@code job} and {@code run_id},
 *       then writes {@code resolved-config.yaml} and {@code report.json}, renames everything into place and writes
 *       {@code _SUCCESS} last. A failure aborts the output (no {@code _SUCCESS}) and Spark is always stopped.</li>
 * </ol>
 */
public final class JobRun {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** A job's Spark part: fills {@code report} and writes its outputs under {@code out}. */
  @FunctionalInterface
  public interface Body {
    void run(JavaSparkContext jsc, OutputDirectory out, ObjectNode report) throws IOException;
  }

  private final String job;
  private final String runId;
  private final Config config;
  private final String logLabel;
  private final JavaSparkContext sharedSpark; // a sweep's application; null: start one
  private final SharedWork shared;
  private final Configuration hadoopConf = new Configuration();
  private final long startNanos = System.nanoTime();

  private JobRun(String job, Config config, String logLabel, JavaSparkContext sharedSpark, SharedWork shared) {
    this.job = job;
    this.config = config;
    this.logLabel = logLabel;
    this.sharedSpark = sharedSpark;
    this.shared = shared;
    this.runId = job + "-" + UUID.randomUUID().toString().substring(0, 8);
  }

  /** Resolves the configuration of {@code job} from its command-line arguments. */
  public static JobRun start(String job, List<String> args) {
    return new JobRun(job, ConfigLoader.fromArgs(job, args), job, null, SharedWork.none());
  }

  /**
   * A run of {@code job} inside a running application (a sweep's point): it runs on {@code spark} and leaves it running,
   * takes what others already computed from {@code shared}, and logs as {@code [sparkslim <logLabel>]}.
   */
  public static JobRun inside(String job, Config config, String logLabel, JavaSparkContext spark, SharedWork shared) {
    return new JobRun(job, config, logLabel, spark, shared);
  }

  /** The calibration windows of checked settings (shared by a sweep's points on one model). */
  public List<int[]> calibrationWindows(sparkslim.core.plan.CalibrationSettings settings, sparkslim.core.model.ModelDirectory model) {
    return shared.get("calibration windows", model.root() + " " + settings,
        () -> sparkslim.jobs.driver.CalibrationSource.windows(settings, model, hadoopConf));
  }

  /** The eval texts of checked settings, or null when none are set (shared by a sweep's points on one model). */
  public sparkslim.core.eval.EvalTexts evalTexts(sparkslim.core.plan.EvalSettings settings, sparkslim.core.model.ModelDirectory model) {
    return settings.enabled() ? shared.get("eval texts", model.root() + " " + settings,
        () -> sparkslim.jobs.driver.EvalSource.texts(settings, model, hadoopConf)) : null;
  }

  /**
   * Hands {@code driver} block 0's statistics computed by an earlier run of this sweep on the same model and calibration
   * (persisted in the executors, memory and disk, until the application ends); outside a sweep it computes them.
   */
  public void shareFirstBlockStatistics(sparkslim.jobs.driver.LayerSequentialDriver driver, sparkslim.core.model.ModelDirectory model,
                                        sparkslim.core.plan.CalibrationSettings calibration) {
    if (!shared.isSharing()) {
      return;
    }
    driver.shareFirstBlockStatistics(compute -> shared.get("block 0 statistics", model.root() + " " + calibration, () -> {
      var statistics = compute.get();
      statistics.persist(org.apache.spark.storage.StorageLevel.MEMORY_AND_DISK());
      statistics.count(); // computed here, so that the shared step's seconds are the computation's
      return statistics;
    }));
  }

  /** Work shared with the other runs of this JVM (a sweep's points); outside a sweep it computes every time. */
  public SharedWork shared() {
    return shared;
  }

  public String job() {
    return job;
  }

  public String runId() {
    return runId;
  }

  public Config config() {
    return config;
  }

  public Configuration hadoopConf() {
    return hadoopConf;
  }

  /** Nanosecond time at which the run started (for the report's {@code seconds}). */
  public long startNanos() {
    return startNanos;
  }

  /** Seconds since the run started. */
  public double elapsedSeconds() {
    return (System.nanoTime() - startNanos) / 1e9;
  }

  /** One progress line on stderr: {@code [sparkslim <job>] ...}. */
  public void log(String format, Object... args) {
    System.err.println("[sparkslim " + logLabel + "] " + String.format(format, args));
  }

  /** A job's part that needs no Spark (e.g. {@code random-model}): fills {@code report} and writes under {@code out}. */
  @FunctionalInterface
  public interface OutputBody {
    void run(OutputDirectory out, ObjectNode report) throws IOException;
  }

  /**
   * Runs {@code body} on a Spark session of {@code master}, with the output directory and report owned here: the
   * commit protocol, {@code resolved-config.yaml}, {@code report.json} and {@code _SUCCESS}. Spark is always stopped.
   */
  public void onSpark(String outputPath, String master, String appName, Body body) {
    if (sharedSpark != null) {
      withOutput(outputPath, (out, report) -> body.run(sharedSpark, out, report));
      return;
    }
    withOutput(outputPath, (out, report) -> {
      SparkSession spark = SparkSessions.start(master, appName);
      try {
        body.run(JavaSparkContext.fromSparkContext(spark.sparkContext()), out, report);
      } finally {
        spark.stop();
      }
    });
  }

  /**
   * Runs {@code body} with the output directory prepared (everything staged under {@code OUT/_temporary/<run>/}) and a
   * report holding {@code job} and {@code run_id}; then writes {@code resolved-config.yaml} and {@code report.json},
   * renames everything into place and writes {@code _SUCCESS} last. A failure aborts the output.
   */
  public void withOutput(String outputPath, OutputBody body) {
    OutputDirectory out = OutputDirectory.prepare(outputPath, runId, hadoopConf);
    try {
      ObjectNode report = JSON.createObjectNode();
      report.put("job", job);
      report.put("run_id", runId);
      body.run(out, report);
      out.writeString("resolved-config.yaml", config.toYaml());
      out.writeString("report.json", JSON.writeValueAsString(report) + "\n");
      out.commit();
      log("wrote %s: report.json, resolved-config.yaml and _SUCCESS", out.root());
    } catch (JsonProcessingException e) {
      out.abort();
      throw new IllegalStateException(e);
    } catch (IOException e) {
      out.abort();
      throw new UncheckedIOException(e);
    } catch (RuntimeException | Error e) {
      out.abort();
      throw e;
    }
  }
}
