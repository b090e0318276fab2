package sparkslim.core.plan;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelSpec;

/**
 * {@code finetune.*}: what recovery training trains, on which text, with which optimizer settings. Every value is
 * checked here; the LoRA targets against the model by {@link #check}.
 *
 * @param keepZeros null for auto (linears with at least {@link #AUTO_KEEP_ZEROS} exact zeros keep them)
 * @param teacherPath empty without distillation
 */
public record FinetuneSettings(Method method, String text, int seqlen, int batchSize, int microBatchSize, int epochs, int maxSteps, double learningRate,
                               double warmupFraction, double maxGradNorm, int seed, Boolean keepZeros, int checkpointEvery, int loraRank,
                               double loraAlpha, double loraDropout, List<String> loraTargets, String teacherPath, double kdTemperature,
                               double kdCeWeight, double quantNoise, int quantNoiseBlock) {
  /** Fraction of exact zeros from which {@code keep-zeros=auto} keeps a linear's zeros. */
  public static final double AUTO_KEEP_ZEROS = 0.10;
  /** The {@code finetune.lora.targets} item that selects every linear inside the blocks. */
  public static final String ALL_LINEAR = "all-linear";

  public FinetuneSettings {
    loraTargets = List.copyOf(loraTargets);
  }

  public enum Method {
    LORA, FULL, QAT;

    public String configName() {
      return name().toLowerCase(Locale.ROOT);
    }

    static Method parse(String text) {
      for (Method m : values()) {
        if (m.configName().equals(text)) {
          return m;
        }
      }
      throw new SparkslimException("'" + ConfigKey.FINETUNE_METHOD.key() + "' is set to '" + text + "' but must be one of lora | full | qat");
    }
  }

  public static FinetuneSettings of(Config c) {
    Method method = Method.parse(c.required(ConfigKey.FINETUNE_METHOD));
    String text = c.required(ConfigKey.FINETUNE_TEXT);
    int seqlen = Values.atLeast(c, ConfigKey.FINETUNE_SEQLEN, 2, "(a next-token loss needs 2 tokens)");
    int batch = Values.positive(c, ConfigKey.FINETUNE_BATCH_SIZE);
    int micro = Values.positive(c, ConfigKey.FINETUNE_MICRO_BATCH_SIZE);
    if (batch % micro != 0) {
      throw new SparkslimException("'" + ConfigKey.FINETUNE_MICRO_BATCH_SIZE.key() + "' is set to " + micro + " but must divide '"
          + ConfigKey.FINETUNE_BATCH_SIZE.key() + "' (" + batch + ")");
    }
    int epochs = Values.positive(c, ConfigKey.FINETUNE_EPOCHS);
    int maxSteps = Values.atLeast(c, ConfigKey.FINETUNE_MAX_STEPS, 0, "(0 = all)");
    double lr = Values.finite(c, ConfigKey.FINETUNE_LEARNING_RATE, "> 0");
    if (!(lr > 0)) {
      throw new SparkslimException("'" + ConfigKey.FINETUNE_LEARNING_RATE.key() + "' is set to " + lr + " but must be a finite number > 0");
    }
    double warmup = fraction(c, ConfigKey.FINETUNE_WARMUP_FRACTION, true);
    double clip = Values.finite(c, ConfigKey.FINETUNE_MAX_GRAD_NORM, ">= 0 (0 = no clipping)");
    if (clip < 0) {
      throw new SparkslimException("'" + ConfigKey.FINETUNE_MAX_GRAD_NORM.key() + "' is set to " + clip + " but must be >= 0 (0 = no clipping)");
    }
    int seed = Values.integer(c, ConfigKey.FINETUNE_SEED);
    String kz = Values.text(c, ConfigKey.FINETUNE_KEEP_ZEROS);
    Boolean keepZeros = switch (kz) {
      case "auto" -> null;
      case "true" -> true;
      case "false" -> false;
      default -> throw new SparkslimException("'" + ConfigKey.FINETUNE_KEEP_ZEROS.key() + "' is set to '" + kz + "' but must be auto | true | false");
    };
    int checkpointEvery = Values.positive(c, ConfigKey.FINETUNE_CHECKPOINT_EVERY);
    int rank = Values.positive(c, ConfigKey.FINETUNE_LORA_RANK);
    double alpha = Values.finite(c, ConfigKey.FINETUNE_LORA_ALPHA, "> 0");
    if (!(alpha > 0)) {
      throw new SparkslimException("'" + ConfigKey.FINETUNE_LORA_ALPHA.key() + "' is set to " + alpha + " but must be a finite number > 0");
    }
    double dropout = fraction(c, ConfigKey.FINETUNE_LORA_DROPOUT, false);
    List<String> targets = new ArrayList<>();
    for (String t : c.list(ConfigKey.FINETUNE_LORA_TARGETS)) {
      targets.add(t.trim());
    }
    if (targets.isEmpty()) {
      throw new SparkslimException("'" + ConfigKey.FINETUNE_LORA_TARGETS.key() + "' is empty: give all-linear or linear names (e.g. q_proj,v_proj)");
    }
    String teacher = Values.text(c, ConfigKey.FINETUNE_TEACHER_PATH);
    double temperature = Values.finite(c, ConfigKey.FINETUNE_KD_TEMPERATURE, "> 0");
    if (!(temperature > 0)) {
      throw new SparkslimException("'" + ConfigKey.FINETUNE_KD_TEMPERATURE.key() + "' is set to " + temperature + " but must be a finite number > 0");
    }
    double ceWeight = Values.finite(c, ConfigKey.FINETUNE_KD_CE_WEIGHT, ">= 0");
    if (ceWeight < 0) {
      throw new SparkslimException("'" + ConfigKey.FINETUNE_KD_CE_WEIGHT.key() + "' is set to " + ceWeight + " but must be >= 0");
    }
    double noise = Values.finite(c, ConfigKey.FINETUNE_QUANT_NOISE, "in (0, 1]");
    if (!(noise > 0 && noise <= 1)) {
      throw new SparkslimException("'" + ConfigKey.FINETUNE_QUANT_NOISE.key() + "' is set to " + noise + " but must be in (0, 1] (1 = plain QAT)");
    }
    int noiseBlock = Values.positive(c, ConfigKey.FINETUNE_QUANT_NOISE_BLOCK);
    return new FinetuneSettings(method, text, seqlen, batch, micro, epochs, maxSteps, lr, warmup, clip, seed, keepZeros, checkpointEvery, rank, alpha,
        dropout, targets, teacher, temperature, ceWeight, noise, noiseBlock);
  }

  /** A number in [0, 1] ({@code closed}) or [0, 1). */
  private static double fraction(Config c, ConfigKey key, boolean closed) {
    String range = closed ? "in [0, 1]" : "in [0, 1)";
    double v = Values.finite(c, key, range);
    if (v < 0 || v > 1 || (!closed && v == 1)) {
      throw new SparkslimException("'" + key.key() + "' is set to " + v + " but must be " + range);
    }
    return v;
  }

  /**
   * The LoRA targets as linear names of a block (relative to the block prefix): every linear for all-linear, else each
   * item matched as a whole name ({@code self_attn.q_proj}) or as its last part ({@code q_proj}). An item that matches
   * no linear of the model is an error naming the key, the item and the linears there are.
   */
  public Set<String> loraLinears(ModelSpec spec, String source) {
    List<String> linears = DecoderBlock.linearNames(spec);
    if (loraTargets.size() == 1 && loraTargets.get(0).equals(ALL_LINEAR)) {
      return new LinkedHashSet<>(linears);
    }
    Set<String> chosen = new LinkedHashSet<>();
    for (String item : loraTargets) {
      boolean matched = false;
      for (String linear : linears) {
        if (linear.equals(item) || linear.endsWith("." + item)) {
          chosen.add(linear);
          matched = true;
        }
      }
      if (!matched) {
        throw new SparkslimException("'" + ConfigKey.FINETUNE_LORA_TARGETS.key() + "' lists '" + item + "' but no linear of the " + spec.architecture()
            + " blocks in " + source + " matches it: expected all-linear or some of " + linears);
      }
    }
    return chosen;
  }

  /** Checks against the student's config.json ({@code source}): the LoRA targets and the window length. */
  public void check(ModelSpec spec, String source) {
    if (method == Method.LORA) {
      loraLinears(spec, source);
    }
    if (seqlen > spec.maxPositionEmbeddings()) {
      throw new SparkslimException("'" + ConfigKey.FINETUNE_SEQLEN.key() + "' is set to " + seqlen + " but " + source
          + " has max_position_embeddings=" + spec.maxPositionEmbeddings() + ": expected at most that");
    }
  }
}
