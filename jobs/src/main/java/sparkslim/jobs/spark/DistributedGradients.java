package sparkslim.jobs.spark;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import scala.Tuple2;
import sparkslim.core.linalg.ExactSums;
import sparkslim.core.model.CausalLm;
import sparkslim.core.train.Trainer;
import sparkslim.core.train.TrainingRecipe;

/**
 * One data-parallel training step's gradients on Spark: the batch's windows are split over tasks; each task takes the
 * step's parameters into its executor's trainer (built once per JVM from the recipe and the student and teacher, which
 * each JVM reads from their model directories once, {@link #model}: no model is broadcast),
 * sums its windows' gradients and loss as exact sums and emits them in slices keyed by (parameter, offset); the slices
 * are reduced by key ({@link ExactSlices}) and collected (in local mode both the parameters and the sums are handed over
 * in memory, {@link #compute}). The total is bitwise the same on any number of executors
 * and partitions: each window's dropout and Quant-Noise draws come from its index and the step, never from its task.
 */
public final class DistributedGradients {
  /** Entries per slice of a parameter's sums (16 MB on the wire). */
  public static final int SLICE = 1 << 20;
  /** The keys of the summed loss and of the number of predictions (exact integers). */
  static final String LOSS = "#loss";
  static final String PREDICTIONS = "#predictions";

  /** A window of the batch: its index in the training data (it seeds the window's draws) and its tokens. */
  public record Window(int id, int[] tokens) implements Serializable {}

  /** Consecutive windows of a batch whose gradients are summed in fp32 before their exact sum: never split over tasks. */
  public record MicroBatch(List<Window> windows) implements Serializable {}

  /** What a slice of sums is part of. */
  record SliceKey(String parameter, int offset) implements Serializable {}

  private static final Object LOCK = new Object();
  /** Local mode: each running step's parameters (the driver's arrays) and its tasks' merged sums, by run and step. */
  private static final Map<String, Map<String, float[]>> LOCAL_PARAMETERS = new ConcurrentHashMap<>();
  private static final Map<String, Trainer.GradientSums> LOCAL_SUMS = new ConcurrentHashMap<>();
  private static final Map<String, CausalLm> MODELS = new LinkedHashMap<>(); // by location and form: this JVM's student and teacher
  private static String trainerKey; // the run whose trainer this JVM holds
  private static Trainer trainer;
  private static int loadedStep = -1;

  private DistributedGradients() {}

  /**
   * The summed gradients of step {@code step} over the windows of {@code microBatches} (whole micro-batches per task).
   *
   * <p>On a cluster (and {@code local-cluster}) the step's parameters go out as a broadcast and the task sums come back
   * through {@link ExactSlices}' shuffle. In local mode the tasks run in the driver's JVM, so both are handed over in
   * memory instead: the tasks read the driver's parameter arrays and merge their sums into one total, which the driver
   * takes when the job ends; nothing is serialized. The sums are exact, so both paths give the same bits
   * ({@code FinetuneJobTest} compares {@code local[2]} with {@code local-cluster}).
   *
   * @param runKey names the run (the executors keep one trainer per JVM, rebuilt when the key changes)
   * @param sizes the trainable parameters' sizes, in their order
   * @param parameters the step's trainable parameter values (the driver's live arrays: not changed here)
   */
  public static Trainer.GradientSums compute(JavaSparkContext jsc, String runKey, ModelSource student, ModelSource teacher,
      TrainingRecipe recipe, Map<String, float[]> parameters, Map<String, Integer> sizes, int step, List<MicroBatch> microBatches,
      int partitions) {
    int tasks = Math.max(1, Math.min(partitions, microBatches.size()));
    if (jsc.isLocal()) {
      String key = runKey + "#" + step;
      LOCAL_PARAMETERS.put(key, parameters);
      try {
        jsc.parallelize(microBatches, tasks).foreachPartition(it -> {
          Trainer.GradientSums sums = taskSums(runKey, student, teacher, recipe, () -> LOCAL_PARAMETERS.get(key), step, it);
          LOCAL_SUMS.merge(key, sums, Trainer.GradientSums::merge); // atomic per key; exact, so in any order
        });
        Trainer.GradientSums total = LOCAL_SUMS.remove(key);
        if (total == null) {
          throw new IllegalStateException("Step " + step + " of run " + runKey + " left no gradient sums");
        }
        return total;
      } finally {
        LOCAL_PARAMETERS.remove(key);
        LOCAL_SUMS.remove(key);
      }
    }
    Broadcast<Map<String, float[]>> shared = jsc.broadcast(new LinkedHashMap<>(parameters));
    try {
      JavaPairRDD<SliceKey, ExactSums> slices = jsc.parallelize(microBatches, tasks).mapPartitionsToPair(it -> {
        Trainer.GradientSums sums = taskSums(runKey, student, teacher, recipe, shared::value, step, it);
        List<Tuple2<SliceKey, ExactSums>> out = new ArrayList<>();
        sums.gradients().forEach((name, s) -> {
          for (int from = 0; from < s.size(); from += SLICE) {
            out.add(new Tuple2<>(new SliceKey(name, from), s.slice(from, Math.min(s.size(), from + SLICE))));
          }
        });
        ExactSums predictions = new ExactSums(1);
        predictions.add(0, sums.predictions());
        out.add(new Tuple2<>(new SliceKey(LOSS, 0), sums.loss()));
        out.add(new Tuple2<>(new SliceKey(PREDICTIONS, 0), predictions));
        return out.iterator();
      });
      long entries = sizes.values().stream().mapToLong(Integer::longValue).sum();
      List<Tuple2<SliceKey, ExactSums>> reduced = ExactSlices.reduceByKey(slices, ExactSlices.reducers(entries)).collect();
      Map<String, ExactSums> gradients = new LinkedHashMap<>();
      sizes.forEach((name, size) -> gradients.put(name, new ExactSums(size)));
      ExactSums loss = new ExactSums(1);
      ExactSums predictions = new ExactSums(1);
      for (Tuple2<SliceKey, ExactSums> r : reduced) {
        if (r._1().parameter().equals(LOSS)) {
          loss.merge(r._2());
        } else if (r._1().parameter().equals(PREDICTIONS)) {
          predictions.merge(r._2());
        } else {
          gradients.get(r._1().parameter()).mergeAt(r._1().offset(), r._2());
        }
      }
      return new Trainer.GradientSums(gradients, loss, Math.round(predictions.toDouble(0)));
    } finally {
      shared.destroy();
    }
  }

  /** One task: its windows' gradient sums, with this JVM's trainer holding the step's parameters. */
  private static Trainer.GradientSums taskSums(String runKey, ModelSource student, ModelSource teacher, TrainingRecipe recipe,
      Supplier<Map<String, float[]>> parameters, int step, Iterator<MicroBatch> it) {
    TaskThreads.configureOnce();
    List<int[]> tokens = new ArrayList<>();
    List<Integer> ids = new ArrayList<>();
    int size = -1;
    while (it.hasNext()) {
      MicroBatch m = it.next();
      if (size >= 0 && m.windows().size() != size) {
        throw new IllegalArgumentException("Micro-batches of " + size + " and " + m.windows().size() + " windows in one task");
      }
      size = m.windows().size();
      m.windows().forEach(w -> {
        tokens.add(w.tokens());
        ids.add(w.id());
      });
    }
    Trainer t = executorTrainer(runKey, student, teacher, recipe, parameters, step);
    return t.gradientSums(step, tokens, ids.stream().mapToInt(Integer::intValue).toArray(), Math.max(size, 1)); // an empty task: no windows
  }

  /**
   * This JVM's trainer of run {@code runKey} holding the parameters of {@code step}: built on first use, the step's
   * parameters loaded once (concurrent tasks of the step share them; the driver starts the next step only when every
   * task of this one has finished).
   */
  private static Trainer executorTrainer(String runKey, ModelSource student, ModelSource teacher, TrainingRecipe recipe,
      Supplier<Map<String, float[]>> parameters, int step) {
    synchronized (LOCK) {
      if (!runKey.equals(trainerKey)) {
        trainer = null; // the previous run's first
        trainerKey = null;
        trainer = recipe.build(model(student), teacher == null ? null : model(teacher));
        trainerKey = runKey;
        loadedStep = -1;
      }
      if (loadedStep != step) {
        trainer.load(parameters.get());
        loadedStep = step;
      }
      return trainer;
    }
  }

  /**
   * Where a JVM reads a model: its directory as every executor can open it (a qualified path) and whether its matrices
   * stay as stored ({@code stored}: 16-bit, for a frozen base or a teacher) or are widened to fp32 (trained in place).
   */
  public record ModelSource(String location, boolean stored) implements Serializable {}

  /**
   * The model of {@code source}, read once per JVM. The driver takes its student from here too, so in local mode the
   * driver and its tasks share one copy. Full fine-tuning trains that copy in place: {@link #clear} drops it when the
   * run ends.
   */
  public static CausalLm model(ModelSource source) {
    synchronized (LOCK) {
      String key = source.location() + (source.stored() ? "#stored" : "#fp32");
      CausalLm m = MODELS.get(key);
      if (m == null) {
        sparkslim.core.model.ModelDirectory dir = ExecutorModels.open(source.location());
        m = source.stored() ? dir.loadStoredModel() : dir.loadModel();
        MODELS.put(key, m);
      }
      return m;
    }
  }

  /** Drops this JVM's trainer and models (the driver calls it when a run ends: local-mode tasks ran in its JVM). */
  public static void clear() {
    synchronized (LOCK) {
      trainer = null;
      trainerKey = null;
      loadedStep = -1;
      MODELS.clear();
    }
  }
}
