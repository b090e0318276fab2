package sparkslim.core.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;

/**
 * An output directory with a commit protocol, on any Hadoop file system: everything is written under
 * {@code OUT/_temporary/<runId>/}, then {@link #commit} renames each entry into {@code OUT/} and writes {@code _SUCCESS}
 * last. A run that dies leaves no {@code _SUCCESS}, so a partial output never looks complete.
 */
public final class OutputDirectory {
  public static final String SUCCESS_MARKER = "_SUCCESS";
  public static final String TEMPORARY = "_temporary";

  private final FileSystem fs;
  private final Path root;
  private final Path staging;

  private OutputDirectory(FileSystem fs, Path root, Path staging) {
    this.fs = fs;
    this.root = root;
    this.staging = staging;
  }

  /** Creates {@code OUT/_temporary/<runId>}; removes a stale {@code _SUCCESS} so the directory reads as incomplete until commit. */
  public static OutputDirectory prepare(String location, String runId, Configuration conf) {
    try {
      Path given = new Path(location);
      FileSystem fs = given.getFileSystem(conf);
      Path root = fs.makeQualified(given);
      if (fs.exists(root) && !fs.getFileStatus(root).isDirectory()) {
        throw new SparkslimException("'output.path' must be a directory, but " + root + " is a file");
      }
      fs.delete(new Path(root, SUCCESS_MARKER), false);
      Path staging = new Path(new Path(root, TEMPORARY), runId);
      if (!fs.mkdirs(staging)) {
        throw new SparkslimException("Cannot create output directory " + staging + " (from 'output.path')");
      }
      return new OutputDirectory(fs, root, staging);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot prepare output directory " + location, e);
    }
  }

  public FileSystem fileSystem() {
    return fs;
  }

  public Path root() {
    return root;
  }

  /** The staging directory itself, {@code OUT/_temporary/<runId>}: its entries are what {@link #commit} moves into place. */
  public Path stagingDir() {
    return staging;
  }

  /** Where to write {@code name} before commit. */
  public Path staged(String name) {
    return new Path(staging, name);
  }

  public void writeString(String name, String content) {
    try (FSDataOutputStream out = fs.create(staged(name), true)) {
      out.write(content.getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write " + staged(name), e);
    }
  }

  /** Moves every staged entry into place, then writes {@code _SUCCESS}. */
  public void commit() {
    try {
      for (FileStatus st : fs.listStatus(staging)) {
        Path target = new Path(root, st.getPath().getName());
        if (fs.exists(target)) {
          fs.delete(target, true);
        }
        if (!fs.rename(st.getPath(), target)) {
          throw new IOException("rename " + st.getPath() + " -> " + target + " failed");
        }
      }
      fs.delete(new Path(root, TEMPORARY), true);
      fs.create(new Path(root, SUCCESS_MARKER), true).close();
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot commit output " + root, e);
    }
  }

  /** Deletes the staged files of this run (after a failure); the directory stays without {@code _SUCCESS}. */
  public void abort() {
    try {
      fs.delete(staging, true);
    } catch (IOException e) {
      // best effort: the missing _SUCCESS already marks the output incomplete
    }
  }
}
