package sparkslim.core.tokenize;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;

/** Reads text as the evaluation protocol says: the whole file as UTF-8, with CRLF and lone CR turned into LF. */
public final class TextFiles {
  private TextFiles() {}

  public static String read(Path path, Configuration conf, String key) {
    try {
      FileSystem fs = path.getFileSystem(conf);
      if (!fs.exists(path)) {
        throw new SparkslimException("Text file " + path + " does not exist (from '" + key + "')");
      }
      if (fs.getFileStatus(path).isDirectory()) {
        throw new SparkslimException("'" + key + "' must name a text file, but " + path + " is a directory");
      }
      try (InputStream in = fs.open(path)) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        in.transferTo(out);
        return normalizeNewlines(new String(out.toByteArray(), StandardCharsets.UTF_8));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + path, e);
    }
  }

  public static String normalizeNewlines(String s) {
    return s.indexOf('\r') < 0 ? s : s.replace("\r\n", "\n").replace('\r', '\n');
  }
}
