package sparkslim.core.eval;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;
import sparkslim.core.tokenize.TextFiles;
import sparkslim.core.tokenize.TextTokenizer;

/** Evaluation texts tokenized and cut into windows on the driver, ready to be partitioned. */
public record EvalTexts(List<String> names, List<Integer> tokenCounts, List<Window> windows, int seqlen) implements Serializable {

  /** One window; {@code text} indexes {@link #names}. */
  public record Window(int text, int window, int[] tokens) implements Serializable {}

  /**
   * Reads, tokenizes and cuts every text. {@code key} is the config key that named the files (for errors);
   * report keys are the file names, which must be unique.
   */
  public static EvalTexts prepare(TextTokenizer tokenizer, List<String> files, int seqlen, int maxWindows, Configuration conf, String key) {
    List<String> names = new ArrayList<>();
    List<Integer> counts = new ArrayList<>();
    List<Window> windows = new ArrayList<>();
    for (int t = 0; t < files.size(); t++) {
      Path path = new Path(files.get(t));
      int[] tokens = tokenizer.encode(TextFiles.read(path, conf, key));
      List<int[]> cut = EvalWindows.cut(tokens, seqlen, maxWindows, path.toString());
      if (names.contains(path.getName())) {
        throw new SparkslimException("'" + key + "' names two files called " + path.getName() + ": report keys are file names and must be unique");
      }
      names.add(path.getName());
      counts.add(tokens.length);
      for (int w = 0; w < cut.size(); w++) {
        windows.add(new Window(t, w, cut.get(w)));
      }
    }
    return new EvalTexts(List.copyOf(names), List.copyOf(counts), List.copyOf(windows), seqlen);
  }

  public long windowCount(int text) {
    return windows.stream().filter(w -> w.text() == text).count();
  }
}
