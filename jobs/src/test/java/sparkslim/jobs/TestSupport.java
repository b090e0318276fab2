package sparkslim.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assertions;

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

  /**
   * Runs {@code sparkslim args} expecting a user error: returns stderr after asserting exit code 2 and no
   * {@code _SUCCESS} in {@code out}.
   */
  static String failingRun(java.nio.file.Path out, String... args) {
    java.io.PrintStream saved = System.err;
    java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
    int code;
    System.setErr(new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8));
    try {
      code = Main.run(args);
    } finally {
      System.setErr(saved);
    }
    String message = err.toString(java.nio.charset.StandardCharsets.UTF_8);
    System.out.println(message.lines().filter(l -> l.contains("error:")).findFirst().orElse(message));
    org.junit.jupiter.api.Assertions.assertEquals(Main.EXIT_USER_ERROR, code, message);
    org.junit.jupiter.api.Assertions.assertFalse(Files.exists(out.resolve("_SUCCESS")), "no _SUCCESS after a failed run");
    return message;
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

  /** Runs {@code sparkslim args} with the test hook {@code property=value} set (an injected failure), and returns the exit code. */
  static int sparkslimWith(String property, String value, String... args) {
    System.setProperty(property, value);
    try {
      return sparkslim(args);
    } finally {
      System.clearProperty(property);
    }
  }

  /** {@code base} followed by {@code extra}. */
  static String[] concat(String[] base, String... extra) {
    String[] all = new String[base.length + extra.length];
    System.arraycopy(base, 0, all, 0, base.length);
    System.arraycopy(extra, 0, all, base.length, extra.length);
    return all;
  }

  /** The safetensors files of OUT/model, sorted by name. */
  static List<Path> safetensors(Path out) throws IOException {
    try (Stream<Path> s = Files.list(out.resolve("model"))) {
      return s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().collect(Collectors.toList());
    }
  }

  /** OUT/model of both runs holds the same safetensors files, byte for byte. */
  static void assertSameModel(Path a, Path b) throws IOException {
    List<Path> fa = safetensors(a);
    List<Path> fb = safetensors(b);
    Assertions.assertEquals(fa.stream().map(Path::getFileName).collect(Collectors.toList()),
        fb.stream().map(Path::getFileName).collect(Collectors.toList()));
    for (int i = 0; i < fa.size(); i++) {
      Assertions.assertArrayEquals(Files.readAllBytes(fa.get(i)), Files.readAllBytes(fb.get(i)), fa.get(i).getFileName().toString());
    }
  }

  /** Runs {@code eval} on OUT/model (first 4 imdb_eval windows, the prune tests' eval set) and returns its PPL. */
  static double exportedModelPpl(Path out, Path evalOut) {
    Assertions.assertEquals(0, sparkslim("eval", "--model.path=" + out.resolve("model"), "--eval.texts=" + data("imdb.eval.txt"),
        "--eval.max-windows=4", "--output.path=" + evalOut, "--spark.master=local[2]"));
    return readJson(evalOut.resolve("report.json")).get("eval").get("imdb.eval.txt").get("ppl").asDouble();
  }
}
