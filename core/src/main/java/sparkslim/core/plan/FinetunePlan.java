package sparkslim.core.plan;

import java.util.Arrays;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.model.ModelSpec;

/**
 * The plan of {@code sparkslim finetune}: every setting parsed and checked by {@link #of}, then against the student's
 * config.json by {@link #check} and against the teacher's by {@link #checkTeacher}, all before Spark starts. QAT needs
 * the scheme it trains for ({@code quantization.method=rtn} and its bits, group size and symmetry: the export rounds
 * the trained weights on the grids the forward used); the other methods take no quantization settings.
 */
public record FinetunePlan(ModelSettings model, OutputSettings output, FinetuneSettings finetune, QuantizationSettings quantization,
                           EvalSettings eval, SparkSettings spark) {
  public static FinetunePlan of(Config c) {
    FinetuneSettings finetune = FinetuneSettings.of(c);
    QuantizationSettings quantization = QuantizationSettings.of(c);
    String method = ConfigKey.QUANTIZATION_METHOD.key();
    if (finetune.method() == FinetuneSettings.Method.QAT) {
      if (quantization.method() != QuantizationSettings.Method.RTN) {
        throw new SparkslimException("'" + ConfigKey.FINETUNE_METHOD.key() + "' is qat but '" + method + "' is "
            + quantization.method().configName() + ": QAT trains for a quantization scheme, set --" + method
            + "=rtn and the scheme (--quantization.bits, --quantization.group-size, --quantization.symmetric)");
      }
    } else if (quantization.method() != QuantizationSettings.Method.NONE) {
      throw new SparkslimException("'" + method + "' is " + quantization.method().configName() + " with '" + ConfigKey.FINETUNE_METHOD.key()
          + "' " + finetune.method().configName() + ": only qat trains for a quantization scheme (or run sparkslim quantize on the result)");
    }
    return new FinetunePlan(ModelSettings.of(c), OutputSettings.of(c), finetune, quantization, EvalSettings.of(c, false), SparkSettings.of(c));
  }

  /** Checks against the student's config.json ({@code source}). */
  public FinetunePlan check(ModelSpec spec, String source) {
    finetune.check(spec, source);
    if (finetune.method() == FinetuneSettings.Method.QAT) {
      quantization.check(spec, source);
    }
    eval.check(spec, source);
    output.check(spec, source);
    return this;
  }

  /**
   * A teacher must share the student's vocabulary and tokenizer (the KL compares next-token distributions position by
   * position): the same vocab_size and the same tokenizer.json bytes.
   */
  public void checkTeacher(ModelSpec student, byte[] studentTokenizer, ModelSpec teacher, byte[] teacherTokenizer, String teacherSource) {
    String key = ConfigKey.FINETUNE_TEACHER_PATH.key();
    if (teacher.vocabSize() != student.vocabSize()) {
      throw new SparkslimException("'" + key + "' = " + teacherSource + " has vocab_size=" + teacher.vocabSize() + " but the student has "
          + student.vocabSize() + ": distillation needs the same vocabulary");
    }
    if (!Arrays.equals(studentTokenizer, teacherTokenizer)) {
      throw new SparkslimException("'" + key + "' = " + teacherSource + " has a tokenizer.json that differs from the student's:"
          + " distillation needs the same tokenizer");
    }
    if (finetune.seqlen() > teacher.maxPositionEmbeddings()) {
      throw new SparkslimException("'" + ConfigKey.FINETUNE_SEQLEN.key() + "' is set to " + finetune.seqlen() + " but the teacher "
          + teacherSource + " has max_position_embeddings=" + teacher.maxPositionEmbeddings());
    }
  }

  /**
   * The text the fingerprint hashes: the model's root, the training text's tokens (their SHA-256), every setting that
   * changes the trajectory (not {@code max-steps} or {@code checkpoint-every}, so a run may be extended or checkpoint
   * more often and still resume), the QAT scheme and the output dtype.
   */
  public String canonical(String modelRoot, String tokensSha256) {
    FinetuneSettings f = finetune;
    return String.join("\n", modelRoot, "tokens=" + tokensSha256, "method=" + f.method().configName(), "seqlen=" + f.seqlen(),
        "batch=" + f.batchSize(), "micro-batch=" + f.microBatchSize(), "epochs=" + f.epochs(), "lr=" + f.learningRate(), "warmup=" + f.warmupFraction(),
        "clip=" + f.maxGradNorm(), "seed=" + f.seed(), "keep-zeros=" + f.keepZeros(), "lora=" + f.loraRank() + "/" + f.loraAlpha() + "/"
            + f.loraDropout() + "/" + f.loraTargets(), "teacher=" + f.teacherPath(), "kd=" + f.kdTemperature() + "/" + f.kdCeWeight(),
        "quant-noise=" + f.quantNoise() + "/" + f.quantNoiseBlock(), f.method() == FinetuneSettings.Method.QAT ? quantization.canonical() : "",
        ConfigKey.OUTPUT_DTYPE.key() + "=" + output.canonicalDtype());
  }

  /** SHA-256 of {@link #canonical}; resume refuses a checkpoint written with another fingerprint. */
  public String fingerprint(String modelRoot, String tokensSha256) {
    return sparkslim.core.io.TensorShardTable.sha256(canonical(modelRoot, tokensSha256).getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }

  /**
   * The recipe of the run's trainer for {@code student} (its zeros decide {@code keep-zeros=auto}): {@code totalSteps}
   * spans the schedule; {@code outputDtype} is the dtype of the export, whose scales QAT trains with.
   */
  public sparkslim.core.train.TrainingRecipe recipe(sparkslim.core.model.CausalLm student, String source, int totalSteps,
      sparkslim.core.io.DType outputDtype, boolean recompute) {
    FinetuneSettings f = finetune;
    boolean lora = f.method() == FinetuneSettings.Method.LORA;
    boolean qat = f.method() == FinetuneSettings.Method.QAT;
    sparkslim.core.quant.QuantScheme scheme = qat ? quantization.scheme(outputDtype) : null;
    return new sparkslim.core.train.TrainingRecipe(lora ? f.loraLinears(student.spec(), source) : null, f.loraRank(), f.loraAlpha(), f.loraDropout(),
        scheme, qat ? sparkslim.core.quant.RtnSolver.workingDtype(outputDtype, scheme.scaleDtype()) : null, f.quantNoise(), f.quantNoiseBlock(),
        lora ? java.util.Set.of() : sparkslim.core.train.TrainingRecipe.keptZeros(student, f.keepZeros(), FinetuneSettings.AUTO_KEEP_ZEROS),
        totalSteps, f.warmupFraction(), f.learningRate(), f.maxGradNorm(), f.seed(), recompute, !f.teacherPath().isEmpty(), f.kdTemperature(),
        f.kdCeWeight());
  }
}
