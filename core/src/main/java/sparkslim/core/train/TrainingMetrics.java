package sparkslim.core.train;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.io.AvroSchemas;

/**
 * The per-step metrics of a training run ({@code TrainingStep.avsc}): {@code metrics/steps-NNNNN.parquet} holds the
 * steps from NNNNN up to the checkpoint written with it, so the files of a resumed run join up to the whole curve.
 */
public final class TrainingMetrics {
  public static final Schema SCHEMA = AvroSchemas.load("TrainingStep");

  private TrainingMetrics() {}

  /** One step. */
  public record Step(String runId, int step, int epoch, double loss, double gradNorm, double learningRate, long tokens, double seconds) {
    public double tokensPerSecond() {
      return seconds > 0 ? tokens / seconds : 0;
    }
  }

  /** The file of the steps from {@code firstStep}. */
  public static Path file(Path dir, int firstStep) {
    return new Path(dir, String.format("steps-%05d.parquet", firstStep));
  }

  public static void write(Path file, List<Step> steps, Configuration conf) {
    List<GenericRecord> records = new ArrayList<>();
    for (Step s : steps) {
      GenericRecord r = new GenericData.Record(SCHEMA);
      r.put("run_id", s.runId());
      r.put("step", s.step());
      r.put("epoch", s.epoch());
      r.put("loss", s.loss());
      r.put("grad_norm", s.gradNorm());
      r.put("learning_rate", s.learningRate());
      r.put("tokens", s.tokens());
      r.put("seconds", s.seconds());
      r.put("tokens_per_second", s.tokensPerSecond());
      records.add(r);
    }
    AvroSchemas.writeAtomically(file, SCHEMA, records, conf);
  }

  /** Every step in the metric files of {@code dir} below {@code untilStep} (exclusive), sorted by step. */
  public static List<Step> readAll(Path dir, int untilStep, Configuration conf) {
    List<Step> steps = new ArrayList<>();
    try {
      FileSystem fs = dir.getFileSystem(conf);
      if (!fs.exists(dir)) {
        return steps;
      }
      for (FileStatus st : fs.listStatus(dir, p -> p.getName().matches("steps-\\d{5,}\\.parquet"))) {
        AvroSchemas.forEach(st.getPath(), conf, r -> {
          int step = (Integer) r.get("step");
          if (step < untilStep) {
            steps.add(new Step(r.get("run_id").toString(), step, (Integer) r.get("epoch"), (Double) r.get("loss"), (Double) r.get("grad_norm"),
                (Double) r.get("learning_rate"), (Long) r.get("tokens"), (Double) r.get("seconds")));
          }
        });
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("Cannot read " + dir, e);
    }
    steps.sort(Comparator.comparingInt(Step::step));
    return steps;
  }
}
