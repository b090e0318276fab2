package sparkslim.core.eval;

import java.util.Locale;
import sparkslim.core.SparkslimException;

/**
 * The value of {@code eval.mode}: how {@code eval} runs the model. Both modes do the same arithmetic in the same
 * order, so they give bitwise the same window NLLs and PPL.
 */
public enum EvalMode {
  /** Streamed when the model's fp32 size exceeds half of an executor's memory, else in-memory ({@link #decide}). */
  AUTO("auto"),
  /** The driver loads the whole model in fp32 and broadcasts it; each task runs whole windows. */
  IN_MEMORY("in-memory"),
  /**
   * Layer-sequential: the driver reads only headers; the windows' hidden states live in an RDD and go through one
   * block per stage, each executor reading that block from the model files.
   */
  STREAMED("streamed");

  private static final double GIB = 1024.0 * 1024 * 1024;
  private final String configName;

  EvalMode(String configName) {
    this.configName = configName;
  }

  public String configName() {
    return configName;
  }

  public static EvalMode parse(String text, String key) {
    for (EvalMode m : values()) {
      if (m.configName.equals(text.trim())) {
        return m;
      }
    }
    throw new SparkslimException("'" + key + "' is set to '" + text + "' but must be one of auto, in-memory, streamed");
  }

  /** The mode a run uses, and why (for the log). */
  public record Decision(EvalMode mode, String reason) {
    public String logLine() {
      return "mode " + mode.configName + ": " + reason;
    }
  }

  /**
   * Resolves this requested mode. {@code auto} picks {@link #STREAMED} when the model's fp32 bytes exceed half of
   * {@code executorMemoryBytes} (a broadcast model must fit next to Spark's own memory and the activations), else
   * {@link #IN_MEMORY}; an explicit mode is kept.
   */
  public Decision decide(long modelFp32Bytes, long executorMemoryBytes) {
    if (this != AUTO) {
      return new Decision(this, "set by 'eval.mode' (model " + gib(modelFp32Bytes) + " fp32, executor memory " + gib(executorMemoryBytes) + ")");
    }
    double half = executorMemoryBytes / 2.0;
    if (modelFp32Bytes > half) {
      return new Decision(STREAMED, "model " + gib(modelFp32Bytes) + " fp32 > half of executor memory " + gib(executorMemoryBytes));
    }
    return new Decision(IN_MEMORY, "model " + gib(modelFp32Bytes) + " fp32 <= half of executor memory " + gib(executorMemoryBytes));
  }

  static String gib(long bytes) {
    return String.format(Locale.ROOT, "%.3f GiB", bytes / GIB);
  }
}
