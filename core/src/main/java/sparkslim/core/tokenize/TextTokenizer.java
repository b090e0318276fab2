package sparkslim.core.tokenize;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;

/**
 * A HuggingFace {@code tokenizer.json} through DJL's tokenizers: no truncation, no padding, no special tokens added,
 * so the ids equal {@code tokenizer(text, add_special_tokens=False)} in Python.
 */
public final class TextTokenizer implements AutoCloseable {
  private final HuggingFaceTokenizer tokenizer;
  private final String source;

  private TextTokenizer(HuggingFaceTokenizer tokenizer, String source) {
    this.tokenizer = tokenizer;
    this.source = source;
  }

  /** Loads {@code tokenizer.json} from any Hadoop file system (copied to a local temporary file when not local). */
  public static TextTokenizer load(FileSystem fs, Path tokenizerJson) {
    java.nio.file.Path local;
    try {
      if (!fs.exists(tokenizerJson)) {
        throw new SparkslimException("Missing " + tokenizerJson + ": expected a HuggingFace tokenizer.json");
      }
      local = Files.createTempFile("sparkslim-tokenizer", ".json");
      try (InputStream in = fs.open(tokenizerJson)) {
        Files.copy(in, local, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + tokenizerJson, e);
    }
    try {
      HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
          .optTokenizerPath(local)
          .optTruncation(false)
          .optPadding(false)
          .optAddSpecialTokens(false)
          .build();
      return new TextTokenizer(t, tokenizerJson.toString());
    } catch (IOException | RuntimeException e) {
      throw new SparkslimException("Cannot load tokenizer " + tokenizerJson + ": expected a HuggingFace tokenizer.json, found an unreadable file ("
          + e.getMessage() + ")", e);
    } finally {
      try {
        Files.deleteIfExists(local);
      } catch (IOException ignored) {
        // a leftover temporary file is harmless
      }
    }
  }

  public int[] encode(String text) {
    Encoding enc = tokenizer.encode(text, false, false);
    long[] ids = enc.getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = Math.toIntExact(ids[i]);
    }
    return out;
  }

  public String source() {
    return source;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
