package sparkslim.jobs;

import java.util.Arrays;
import java.util.List;
import sparkslim.core.SparkslimException;

/**
 * Command-line entry point: {@code sparkslim <job> --key=value ...}. Exit codes: 0 success, 2 user error
 * (bad input or configuration: the message names the file or key), 1 internal failure.
 */
public final class Main {
  public static final int EXIT_OK = 0;
  public static final int EXIT_FAILURE = 1;
  public static final int EXIT_USER_ERROR = 2;

  private Main() {}

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs a job and returns its exit code (tests call this instead of {@link #main}). */
  public static int run(String[] args) {
    if (args.length == 0 || args[0].equals("--help") || args[0].equals("help")) {
      System.err.println(usage());
      return args.length == 0 ? EXIT_USER_ERROR : EXIT_OK;
    }
    String job = args[0];
    List<String> rest = Arrays.asList(args).subList(1, args.length);
    try {
      switch (job) {
        case "eval":
          EvalJob.run(rest);
          return EXIT_OK;
        default:
          throw new SparkslimException("Unknown job '" + job + "': expected one of eval\n" + usage());
      }
    } catch (SparkslimException e) {
      System.err.println("sparkslim " + job + ": error: " + e.getMessage());
      return EXIT_USER_ERROR;
    } catch (RuntimeException | Error e) {
      System.err.println("sparkslim " + job + ": internal failure: " + e);
      e.printStackTrace();
      return EXIT_FAILURE;
    }
  }

  static String usage() {
    return String.join("\n",
        "usage: sparkslim <job> [--config=FILE[,FILE...]] [--key=value ...]",
        "jobs:",
        "  eval   perplexity of a HuggingFace model on text files, windows partitioned over Spark tasks",
        "         --model.path=DIR --eval.texts=FILE[,FILE...] --output.path=OUT [--eval.seqlen=512]",
        "         [--eval.max-windows=N] [--spark.master=local[*]]",
        "Keys and defaults: conf/defaults.yaml.");
  }
}
