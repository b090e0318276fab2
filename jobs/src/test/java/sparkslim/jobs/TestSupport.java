package sparkslim.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Shared helpers for job tests: example locations, golden numbers, running a job in-process. */
final class TestSupport {
  static final ObjectMapper JSON = new ObjectMapper();

  private TestSupport() {}

  static Path examples() {
    String prop = System.getProperty("sparkslim.examples");
    Path p = prop != null ? Path.of(prop) : Path.of("..", "examples");
    return p.toAbsolutePath().normalize();
  }

  static Path model(String name) {
    return examples().resolve("models").resolve(name);
  }

  static Path data(String file) {
    return examples().resolve("data").resolve(file);
  }

  static JsonNode golden() {
    return readJson(examples().resolve("golden").resolve("golden.json"));
  }

  static JsonNode readJson(Path p) {
    try {
      return JSON.readTree(p.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Runs {@code sparkslim <args>} in this JVM and returns the exit code. */
  static int sparkslim(String... args) {
    return Main.run(args);
  }

  static List<String> args(String job, String... kv) {
    List<String> out = new ArrayList<>();
    out.add(job);
    for (String s : kv) {
      out.add(s);
    }
    return out;
  }

  /** Makes sure local-cluster[...] finds $SPARK_HOME/jars (the build points SPARK_HOME at target/fake-spark-home). */
  static void ensureSparkHome() {
    String home = System.getenv("SPARK_HOME");
    if (home != null) {
      try {
        Files.createDirectories(Path.of(home, "jars"));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
