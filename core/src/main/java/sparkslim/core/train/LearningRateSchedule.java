package sparkslim.core.train;

/**
 * Linear warmup, then linear decay to 0 (the schedule of transformers' {@code get_linear_schedule_with_warmup}): the
 * step after k scheduler steps (k = 0 … totalSteps − 1) uses lr·k/w while k &lt; w, else lr·(totalSteps − k)/(totalSteps − w),
 * with w = ⌈warmupFraction·totalSteps⌉ warmup steps. The first step thus uses learning rate 0. With 156 steps and a
 * fraction of 0.1: w = 16, lr·k/16 for k &lt; 16, else lr·(156 − k)/140.
 */
public record LearningRateSchedule(int totalSteps, int warmupSteps, double peak) {
  public LearningRateSchedule {
    if (totalSteps <= 0 || warmupSteps < 0 || warmupSteps > totalSteps || !(peak > 0 && Double.isFinite(peak))) {
      throw new IllegalArgumentException("A learning-rate schedule needs totalSteps > 0, 0 <= warmupSteps <= totalSteps and a finite"
          + " peak > 0, found " + totalSteps + ", " + warmupSteps + ", " + peak);
    }
  }

  /** w = ⌈fraction·totalSteps⌉, as transformers' {@code TrainingArguments.get_warmup_steps}. */
  public static LearningRateSchedule of(int totalSteps, double warmupFraction, double peak) {
    return new LearningRateSchedule(totalSteps, (int) Math.ceil(warmupFraction * totalSteps), peak);
  }

  /** The learning rate of the step after {@code k} scheduler steps (0-based). */
  public double at(int k) {
    if (k < warmupSteps) {
      return peak * k / warmupSteps;
    }
    return peak * Math.max(0, totalSteps - k) / Math.max(1, totalSteps - warmupSteps);
  }
}
