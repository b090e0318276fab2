package sparkslim.core.train;

import java.io.Serializable;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import sparkslim.core.io.DType;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.DecoderBlock;
import sparkslim.core.model.ModelSpec;
import sparkslim.core.model.Tensor;
import sparkslim.core.quant.FakeQuant;
import sparkslim.core.quant.QuantScheme;

/**
 * Everything that builds a run's {@link Trainer} from its student (and teacher), small and serializable: the driver
 * builds its trainer (the one that steps) from it, and every executor builds the same one (the one that computes
 * gradients), so the LoRA adapters start from the same draws everywhere.
 *
 * @param loraTargets LoRA: linear names relative to a block; null for full fine-tuning and QAT
 * @param scheme QAT: the scheme the forward fake-quantizes with (and the export writes); null otherwise
 * @param keepZeros full names of the tensors whose exact zeros stay 0
 * @param distill whether the loss is distillation from a teacher
 */
public record TrainingRecipe(Set<String> loraTargets, int loraRank, double loraAlpha, double loraDropout, QuantScheme scheme, DType working,
                             double quantNoise, int quantNoiseBlock, Set<String> keepZeros, int totalSteps, double warmupFraction,
                             double learningRate, double maxGradNorm, long seed, boolean recompute, boolean distill, double kdTemperature,
                             double kdCeWeight) implements Serializable {
  public TrainingRecipe {
    loraTargets = loraTargets == null ? null : Set.copyOf(new LinkedHashSet<>(loraTargets));
    keepZeros = Set.copyOf(keepZeros);
  }

  /** The trainer of {@code student} ({@code teacher} null unless {@link #distill}). */
  public Trainer build(CausalLm student, CausalLm teacher) {
    LearningRateSchedule schedule = LearningRateSchedule.of(totalSteps, warmupFraction, learningRate);
    Trainer t = loraTargets != null
        ? Trainer.lora(student, loraTargets, loraRank, loraAlpha, loraDropout, schedule, maxGradNorm, recompute, seed)
        : Trainer.full(student, scheme == null ? null : new FakeQuant(scheme, working, quantNoise, quantNoiseBlock), keepZeros::contains,
            schedule, maxGradNorm, recompute, seed);
    if (distill) {
      if (teacher == null) {
        throw new IllegalArgumentException("A distillation recipe needs its teacher");
      }
      t.distilledFrom(teacher, kdTemperature, kdCeWeight);
    }
    return t;
  }

  /**
   * The tensors of {@code lm} whose zeros full fine-tuning keeps: every tensor ({@code keep} true), none (false), or
   * (null, auto) every linear weight of the blocks with at least {@code autoFraction} exact zeros: a pruned model.
   */
  public static Set<String> keptZeros(CausalLm lm, Boolean keep, double autoFraction) {
    Set<String> names = new LinkedHashSet<>();
    if (Boolean.FALSE.equals(keep)) {
      return names;
    }
    ModelSpec spec = lm.spec();
    if (keep != null) {
      names.addAll(lm.globals().keySet());
    }
    List<String> linears = DecoderBlock.linearNames(spec);
    for (int i = 0; i < lm.numBlocks(); i++) {
      for (Map.Entry<String, Tensor> e : lm.blocks().get(i).tensors().entrySet()) {
        String name = e.getKey();
        boolean linear = name.endsWith(".weight") && linears.contains(name.substring(0, name.length() - ".weight".length()));
        if (keep != null || (linear && zeroFraction(e.getValue().data()) >= autoFraction)) {
          names.add(spec.blockPrefix(i) + name);
        }
      }
    }
    return names;
  }

  private static double zeroFraction(float[] v) {
    long zeros = 0;
    for (float x : v) {
      if (x == 0f) {
        zeros++;
      }
    }
    return v.length == 0 ? 0 : (double) zeros / v.length;
  }

  /**
   * fp32 values one window's training pass keeps for its backward without recomputation (the tape of every block plus
   * the loss head's chunk): what activation checkpointing ({@code recompute}) trades for one extra forward per block.
   */
  public static long tapeFloats(ModelSpec spec, int seqlen) {
    long h = spec.hiddenSize();
    long perBlock = seqlen * (12 * h + 4L * spec.intermediateSize()) + (long) spec.numHeads() * seqlen * seqlen;
    return spec.numLayers() * perBlock + 128L * spec.vocabSize() * 2;
  }
}
