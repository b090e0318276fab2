package sparkslim.jobs.driver;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.function.FlatMapFunction;
import scala.Tuple2;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsFile;
import sparkslim.core.io.SafetensorsWriter;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.linalg.ExactSums;
import sparkslim.core.prune.sparsellm.FfnKind;
import sparkslim.core.prune.sparsellm.FfnStatistics;
import sparkslim.core.prune.sparsellm.LeastSquaresSums;
import sparkslim.core.prune.sparsellm.SparseLlmSolver;
import sparkslim.jobs.spark.ExecutorModels;
import sparkslim.jobs.spark.TaskThreads;

/**
 * One half of a SparseLLM alternation, solved where its statistics meet (docs/sparsellm.md §1.2 steps 1–3, §1.3
 * steps 1–3): the partition of the input fit (A = X, B = z or [z | s]) refits and prunes fc1 (OPT) or up and gate
 * (LLaMA); the partition of the output fit (A = p, B = Y) refits and prunes fc2/down and computes the executors'
 * M⁻¹ = (β·WᵀW + γI)⁻¹. Each writes its chosen fp32 weights and masks to the alternation's directory
 * ({@code _parts/block-NNNNN/sparsellm-TT/<linear>.parquet}, M⁻¹ as {@code p-update.safetensors}), where the
 * executors' variable updates and the next alternation's safeguard read them; after the last alternation it also
 * writes the block's part files, rounded to the output dtype as exported. The driver receives the per-linear record
 * and the objective only.
 */
public final class FfnSolveTask implements FlatMapFunction<Iterator<Tuple2<Long, ExactSums>>, FfnSolveTask.Outcome> {
  private static final long serialVersionUID = 1L;
  /** The partition of the output fit (largest solve: scheduled first) and of the input fit. */
  static final int OUTPUT_PARTITION = 0;
  static final int INPUT_PARTITION = 1;
  /** The tensor of {@link #P_UPDATE_FILE}: M⁻¹ (ffn, ffn), fp32. */
  static final String M_INV = "m_inv";
  static final String P_UPDATE_FILE = "p-update.safetensors";

  /** What a solve task sends back: its linears' records and, from the output fit's partition, the objective Σ L. */
  public record Outcome(int partition, List<SparseLlmSolver.LinearStep> linears, double objective, double seconds) implements Serializable {}

  private final SparseLlmSolver solver;
  private final DenseFfn dense;
  private final int block;
  private final int iteration;
  private final boolean last;
  private final String partsDir;
  private final String tensorPrefix; // block prefix of the tensor names in the part files
  private final DType outputDtype;
  private final String runId;
  private final String fingerprint;

  FfnSolveTask(SparseLlmSolver solver, DenseFfn dense, int block, int iteration, boolean last, String partsDir, String tensorPrefix,
               DType outputDtype, String runId, String fingerprint) {
    this.solver = solver;
    this.dense = dense;
    this.block = block;
    this.iteration = iteration;
    this.last = last;
    this.partsDir = partsDir;
    this.tensorPrefix = tensorPrefix;
    this.outputDtype = outputDtype;
    this.runId = runId;
    this.fingerprint = fingerprint;
  }

  /** The directory of alternation {@code iteration}'s chosen weights and M⁻¹. */
  static Path stepDir(String partsDir, int iteration) {
    return new Path(partsDir, String.format("sparsellm-%02d", iteration));
  }

  @Override
  public Iterator<Outcome> call(Iterator<Tuple2<Long, ExactSums>> slices) {
    TaskThreads.configureOnce();
    ExecutorModels.releaseBlocks(); // room for one fit's sums (LLaMA-7B output fit: 1.3 GB decoded)
    if (!slices.hasNext()) {
      return List.<Outcome>of().iterator();
    }
    long t0 = System.nanoTime();
    FfnKind kind = dense.kind();
    int d = dense.hidden();
    int f = dense.ffn();
    int[] sizes = FfnStatistics.componentSizes(kind, d, f);
    List<double[]> decoded = new ArrayList<>();
    long[] received = new long[sizes.length];
    for (int size : sizes) {
      decoded.add(null);
    }
    int first = -1;
    while (slices.hasNext()) {
      Tuple2<Long, ExactSums> slice = slices.next();
      int component = (int) (slice._1() >>> 32);
      int offset = (int) (slice._1() & 0xffffffffL);
      if (decoded.get(component) == null) {
        decoded.set(component, new double[sizes[component]]);
      }
      slice._2().decodeInto(decoded.get(component), offset);
      received[component] += slice._2().size();
      first = first < 0 ? component : Math.min(first, component);
    }
    boolean output = first >= FfnStatistics.INPUT_COMPONENTS;
    int from = output ? FfnStatistics.INPUT_COMPONENTS : 0;
    int to = output ? sizes.length : FfnStatistics.INPUT_COMPONENTS;
    for (int c = from; c < to; c++) {
      if (received[c] != sizes[c]) { // every slice of every map task is always emitted: a bug, not a user error
        throw new IllegalStateException("SparseLLM statistics of block " + block + ", component " + c + ": " + received[c] + " of "
            + sizes[c] + " entries arrived");
      }
    }
    Configuration conf = ExecutorModels.hadoopConf();
    List<SparseLlmSolver.LinearStep> linears = new ArrayList<>();
    double objective = Double.NaN;
    if (output) {
      objective = decoded.get(sizes.length - 1)[0];
      LeastSquaresSums sums = LeastSquaresSums.decode(f, d, new ArrayList<>(decoded.subList(FfnStatistics.INPUT_COMPONENTS,
          FfnStatistics.INPUT_COMPONENTS + FfnStatistics.OUTPUT_COMPONENTS)));
      decoded.clear(); // the packed Σ pᵀp is unpacked into sums: let it go
      SparseLlmSolver.Chosen out = solver.outputLinear(iteration, sums, kind, d, f, iteration == 0 ? dense.weight(kind.outName()) : null,
          dense.bias(kind.outName()), iteration == 0 ? null : previous(conf, kind.outName()));
      sums = null;
      write(conf, kind.outName(), new long[] {d, f}, out);
      linears.add(out.step());
      writeInverse(conf, solver.pUpdateInverse(out.weights(), d, f), f);
    } else {
      LeastSquaresSums sums = LeastSquaresSums.decode(d, kind == FfnKind.LLAMA_SWIGLU ? 2 * f : f,
          new ArrayList<>(decoded.subList(0, FfnStatistics.INPUT_COMPONENTS)));
      decoded.clear();
      boolean llama = kind == FfnKind.LLAMA_SWIGLU;
      List<SparseLlmSolver.Chosen> chosen = solver.inputLinears(iteration, sums, kind, d, f,
          iteration == 0 ? dense.weight(kind.inName()) : null, iteration == 0 && llama ? dense.weight(kind.gateName()) : null,
          dense.bias(kind.inName()), iteration == 0 ? null : previous(conf, kind.inName()),
          iteration == 0 || !llama ? null : previous(conf, kind.gateName()));
      write(conf, kind.inName(), new long[] {f, d}, chosen.get(0));
      linears.add(chosen.get(0).step());
      if (llama) {
        write(conf, kind.gateName(), new long[] {f, d}, chosen.get(1));
        linears.add(chosen.get(1).step());
      }
    }
    return List.of(new Outcome(output ? OUTPUT_PARTITION : INPUT_PARTITION, linears, objective, (System.nanoTime() - t0) / 1e9)).iterator();
  }

  /** The previous alternation's choice for {@code linear}, from its directory. */
  private SparseLlmSolver.Chosen previous(Configuration conf, String linear) {
    TensorShardTable.Stored s = readStep(partsDir, iteration - 1, tensorPrefix, linear, conf);
    return new SparseLlmSolver.Chosen(s.values(), s.mask(), null);
  }

  /** This alternation's choice in fp32; after the last one also the block's part file in the output dtype. */
  private void write(Configuration conf, String linear, long[] shape, SparseLlmSolver.Chosen chosen) {
    String name = tensorPrefix + linear + ".weight";
    TensorShardTable.writeStored(LinearSolveTask.partFile(stepDir(partsDir, iteration).toString(), linear), List.of(TensorShardTable.stored(
        runId, fingerprint, block, new TensorShardTable.Entry(name, shape, DType.F32, chosen.weights(), chosen.mask()))).iterator(), conf);
    if (last) {
      TensorShardTable.writeStored(LinearSolveTask.partFile(partsDir, linear), List.of(TensorShardTable.stored(runId, fingerprint, block,
          new TensorShardTable.Entry(name, shape, outputDtype, TensorShardTable.roundTo(chosen.weights(), outputDtype), chosen.mask())))
          .iterator(), conf);
    }
  }

  /** M⁻¹ (f, f) rounded to fp32, streamed row by row into {@link #P_UPDATE_FILE}. */
  private void writeInverse(Configuration conf, double[] mInv, int f) {
    Path file = new Path(stepDir(partsDir, iteration), P_UPDATE_FILE);
    try {
      FileSystem fs = file.getFileSystem(conf);
      SafetensorsWriter.writeFileStreaming(fs, file, List.of(new SafetensorsWriter.TensorHeader(M_INV, DType.F32, new long[] {f, f})),
          Map.of(), (header, out) -> {
            ByteBuffer row = ByteBuffer.allocate(4 * f).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < f; i++) {
              row.clear();
              for (int j = 0; j < f; j++) {
                row.putFloat((float) mInv[i * f + j]);
              }
              out.write(row.array());
            }
          });
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write " + file, e);
    }
  }

  /** M⁻¹ of alternation {@code iteration}, as {@link #writeInverse} wrote it. */
  static float[] readInverse(String partsDir, int iteration) {
    Path file = new Path(stepDir(partsDir, iteration), P_UPDATE_FILE);
    try {
      return SafetensorsFile.open(file.getFileSystem(ExecutorModels.hadoopConf()), file).readFloats(M_INV);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + file, e);
    }
  }

  /** The fp32 weight alternation {@code iteration} chose for {@code linear}. */
  static float[] readChosen(String partsDir, int iteration, String tensorPrefix, String linear) {
    return readStep(partsDir, iteration, tensorPrefix, linear, ExecutorModels.hadoopConf()).values();
  }

  /** What alternation {@code iteration} wrote for {@code linear}: its fp32 weight and mask. */
  private static TensorShardTable.Stored readStep(String partsDir, int iteration, String tensorPrefix, String linear, Configuration conf) {
    return TensorShardTable.read(LinearSolveTask.partFile(stepDir(partsDir, iteration).toString(), linear), conf)
        .get(tensorPrefix + linear + ".weight");
  }
}
