package sparkslim.jobs.driver;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.function.FlatMapFunction;
import scala.Tuple2;
import sparkslim.core.calib.InputStatistics;
import sparkslim.core.compress.CompressedLinear;
import sparkslim.core.compress.LinearSolver;
import sparkslim.core.io.DType;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.lowrank.LowRankCheckpoint;
import sparkslim.core.linalg.GramSlices;
import sparkslim.core.model.ModelDirectory;
import sparkslim.core.prune.LinearCensus;
import sparkslim.core.prune.LinearPruner;
import sparkslim.core.prune.MaskStructure;
import sparkslim.core.quant.QuantStrategy;
import sparkslim.core.quant.QuantizedShardTable;
import sparkslim.jobs.spark.ExecutorModels;
import sparkslim.jobs.spark.TaskThreads;

/**
 * Solves one linear where its statistics meet (one Spark partition per linear, see {@link LinearStatistics}): decodes
 * the merged slices into Σ XᵀX, reads the dense weight from the model files, runs the solver, rounds to the output dtype
 * exactly as exported, measures the reconstruction loss, and writes the compressed linear to its part file
 * {@code shards/_parts/block-NNNNN/<linear>.parquet}. Only the outcome (a few numbers) goes back to the driver.
 * A linear whose compressed weight was computed by a block-level step (SparseLLM's FFN) is read from its part file
 * instead of solved, and only measured.
 */
public final class LinearSolveTask implements FlatMapFunction<Iterator<Tuple2<String, LinearStatistics.Slice>>, LinearSolveTask.Solved> {
  private static final long serialVersionUID = 1L;

  /** What a solve task sends back. */
  public record Solved(LayerSequentialDriver.LinearOutcome outcome, LinearCensus census) implements Serializable {}

  private final String modelLocation;
  private final int block;
  private final Map<String, LinearStatistics.LinearShape> shapes;
  private final LinearSolver solver;
  private final MaskStructure maskStructure;
  private final DType outputDtype;
  private final String partsDir;
  private final String runId;
  private final String fingerprint;
  private final Map<String, String> precomputed; // linear -> fallback tag (may be "") of a weight a block-level step wrote
  private final ExecutorKillHook killHook; // test hook, null unless a test asks for it
  private final QuantStrategy quantStrategy; // how quantized results are stored (their part files: QuantizedLinear.avsc), or null

  public LinearSolveTask(String modelLocation, int block, Map<String, LinearStatistics.LinearShape> shapes, LinearSolver solver,
                  MaskStructure maskStructure, DType outputDtype, String partsDir, String runId, String fingerprint,
                  Map<String, String> precomputed, ExecutorKillHook killHook, QuantStrategy quantStrategy) {
    this.modelLocation = modelLocation;
    this.block = block;
    this.shapes = shapes;
    this.solver = solver;
    this.maskStructure = maskStructure;
    this.outputDtype = outputDtype;
    this.partsDir = partsDir;
    this.runId = runId;
    this.fingerprint = fingerprint;
    this.precomputed = precomputed;
    this.killHook = killHook;
    this.quantStrategy = quantStrategy;
  }

  /** The part file of one linear of a block. */
  public static Path partFile(String partsDir, String linear) {
    return new Path(partsDir, linear + ".parquet");
  }

  @Override
  public Iterator<Solved> call(Iterator<Tuple2<String, LinearStatistics.Slice>> slices) {
    TaskThreads.configureOnce();
    ExecutorModels.releaseBlocks(); // room for one linear's Σ XᵀX (LLaMA-7B down_proj: 0.49 GB packed, 0.97 GB full)
    List<Solved> out = new ArrayList<>();
    if (!slices.hasNext()) {
      return out.iterator();
    }
    long t0 = System.nanoTime();
    String linear = null;
    double[] packed = null; // Σ XᵀX, packed upper triangle
    long received = 0;
    long[] counts = null;
    while (slices.hasNext()) {
      Tuple2<String, LinearStatistics.Slice> s = slices.next();
      if (linear == null) {
        linear = s._1();
        packed = new double[GramSlices.packedSize(shapes.get(linear).cols())];
      } else if (!linear.equals(s._1())) {
        throw new IllegalStateException("Solve partition of '" + linear + "' received slices of '" + s._1() + "'");
      }
      LinearStatistics.Slice slice = s._2();
      if (slice.offset() == LinearStatistics.COUNTS) {
        counts = new long[] {(long) slice.sums().toDouble(0), (long) slice.sums().toDouble(1)};
      } else {
        slice.sums().decodeInto(packed, slice.offset());
        received += slice.sums().size();
      }
    }
    LinearStatistics.LinearShape shape = shapes.get(linear);
    if (received != packed.length || counts == null) { // every slice of every task is always emitted: a bug, not a user error
      throw new IllegalStateException("Statistics of '" + linear + "' in block " + block + ": " + received + " of " + packed.length
          + " entries" + (counts == null ? " and no counts" : "") + " arrived");
    }
    InputStatistics stats = new InputStatistics(shape.cols(), packed, counts[0], counts[1]);
    out.add(solve(linear, shape, stats, t0));
    return out.iterator();
  }

  /**
   * The same solve for a solver that reads no statistics (RTN): each element of the partition is a linear's name; no
   * reconstruction loss is measured (NaN).
   */
  public FlatMapFunction<Iterator<String>, Solved> withoutStatistics() {
    return linears -> {
      TaskThreads.configureOnce();
      List<Solved> out = new ArrayList<>();
      while (linears.hasNext()) {
        String linear = linears.next();
        out.add(solve(linear, shapes.get(linear), null, System.nanoTime()));
      }
      return out.iterator();
    };
  }

  private Solved solve(String linear, LinearStatistics.LinearShape shape, InputStatistics stats, long t0) {
    ModelDirectory model = ExecutorModels.open(modelLocation);
    String name = model.spec().blockPrefix(block) + linear + ".weight";
    long[] dims = {shape.rows(), shape.cols()};
    float[] w = model.tensor(name, dims).data(); // (outFeatures, inFeatures), dense
    Configuration conf = ExecutorModels.hadoopConf();
    Path part = partFile(partsDir, linear);
    // (cols, cols): the Hessian while solving, then Σ XᵀX for the loss
    double[] full = stats == null ? null : new double[shape.cols() * shape.cols()];
    float[] rounded; // the weights as exported: rounded to the output dtype, or dequantized exactly
    double solverLoss;
    String fallback;
    if (precomputed.containsKey(linear)) {
      TensorShardTable.Stored stored = TensorShardTable.read(part, conf).get(name);
      rounded = stored.values();
      solverLoss = Double.NaN;
      fallback = precomputed.get(linear).isEmpty() ? null : precomputed.get(linear);
    } else {
      CompressedLinear r = solver.solve(w, shape.rows(), shape.cols(), stats, full);
      solverLoss = r.loss();
      fallback = r.fallback();
      if (r instanceof CompressedLinear.Quantized q) {
        rounded = q.weights();
        QuantizedShardTable.write(part, List.of(new QuantizedShardTable.Row(runId, fingerprint, block,
            name.substring(0, name.length() - ".weight".length()), quantStrategy, q)), conf);
      } else if (r instanceof CompressedLinear.Factored f) { // the factors in the output dtype; W′ = U·V of those in fp32
        float[] u = TensorShardTable.roundTo(f.u(), outputDtype); // (rows, rank)
        float[] v = TensorShardTable.roundTo(f.v(), outputDtype); // (rank, cols)
        rounded = CompressedLinear.Factored.product(u, f.rows(), f.rank(), v, f.cols());
        TensorShardTable.writeStored(part, List.of(
            TensorShardTable.stored(runId, fingerprint, block, new TensorShardTable.Entry(LowRankCheckpoint.uName(name),
                new long[] {f.rows(), f.rank()}, outputDtype, u, null)),
            TensorShardTable.stored(runId, fingerprint, block, new TensorShardTable.Entry(LowRankCheckpoint.vName(name),
                new long[] {f.rank(), f.cols()}, outputDtype, v, null))).iterator(), conf);
      } else {
        rounded = TensorShardTable.roundTo(r.weights(), outputDtype);
        TensorShardTable.writeStored(part, List.of(TensorShardTable.stored(runId, fingerprint, block,
            new TensorShardTable.Entry(name, dims, outputDtype, rounded, r.mask()))).iterator(), conf);
      }
    }
    if (killHook != null) {
      killHook.inSolve(); // after the part file is written: the retried task finds it there
    }
    LinearCensus census = LinearCensus.of(rounded, shape.rows(), shape.cols(), maskStructure);
    double loss = stats == null ? Double.NaN
        : LinearPruner.reconstructionLoss(w, rounded, shape.rows(), shape.cols(), stats, stats.gramInto(full));
    double seconds = (System.nanoTime() - t0) / 1e9;
    return new Solved(new LayerSequentialDriver.LinearOutcome(block, linear, census.numel(), census.zeros(), loss, solverLoss, seconds,
        fallback), census);
  }
}
