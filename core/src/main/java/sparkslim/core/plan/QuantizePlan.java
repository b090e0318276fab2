package sparkslim.core.plan;

import java.nio.charset.StandardCharsets;
import sparkslim.core.SparkslimException;
import sparkslim.core.compress.LinearSolver;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.io.DType;
import sparkslim.core.io.TensorShardTable;
import sparkslim.core.model.ModelSpec;

/**
 * The plan of {@code sparkslim quantize}: every setting parsed and checked by {@link #of}, then against the model by
 * {@link #check} as soon as its config.json is read (before any weight), all before Spark starts. RTN reads no data,
 * so the calibration source is required only by GPTQ.
 */
public record QuantizePlan(ModelSettings model, OutputSettings output, QuantizationSettings quantization, CalibrationSettings calibration,
                           EvalSettings eval, SparkSettings spark) {
  public static QuantizePlan of(Config c) {
    QuantizationSettings quantization = QuantizationSettings.of(c);
    if (quantization.method() == QuantizationSettings.Method.NONE) {
      throw new SparkslimException("'" + ConfigKey.QUANTIZATION_METHOD.key() + "' is none but sparkslim quantize needs rtn or gptq");
    }
    CalibrationSettings calibration = CalibrationSettings.of(c, quantization.readsCalibration());
    EvalSettings eval = EvalSettings.of(c, false);
    return new QuantizePlan(ModelSettings.of(c), OutputSettings.of(c), quantization, calibration, eval, SparkSettings.of(c));
  }

  /**
   * Checks the settings against the model's config.json ({@code source}): the group size against every linear's input
   * width, the calibration (GPTQ) and eval window lengths against max_position_embeddings, and that
   * {@code output.dtype=auto} resolves.
   */
  public QuantizePlan check(ModelSpec spec, String source) {
    quantization.check(spec, source);
    if (quantization.readsCalibration()) {
      calibration.check(spec, source);
    }
    eval.check(spec, source);
    output.check(spec, source);
    return this;
  }

  /** The per-linear solver for weights stored in {@code weightDtype}. */
  public LinearSolver solver(DType weightDtype) {
    return quantization.solver(weightDtype, null);
  }

  /**
   * The text the fingerprint hashes: the model's root, then every setting that changes the quantized tensors, one
   * {@code key=value} per line, with values in canonical form.
   */
  public String canonical(String modelRoot) {
    return String.join("\n", modelRoot, quantization.canonical(), quantization.readsCalibration() ? calibration.canonical() : "",
        ConfigKey.OUTPUT_DTYPE.key() + "=" + output.canonicalDtype());
  }

  /** SHA-256 of {@link #canonical}; resume refuses shards written with another fingerprint. */
  public String fingerprint(String modelRoot) {
    return TensorShardTable.sha256(canonical(modelRoot).getBytes(StandardCharsets.UTF_8));
  }
}
