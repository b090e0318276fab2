package sparkslim.core;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the vendored examples/ directory (models, data, golden files) from tests. */
public final class Examples {
  private Examples() {}

  public static Path dir() {
    String prop = System.getProperty("sparkslim.examples");
    Path p = prop != null ? Path.of(prop) : Path.of("..", "examples");
    if (!Files.isDirectory(p)) {
      throw new IllegalStateException("examples/ not found at " + p.toAbsolutePath());
    }
    return p.toAbsolutePath().normalize();
  }

  public static Path model(String name) {
    return dir().resolve("models").resolve(name);
  }

  public static Path golden(String file) {
    return dir().resolve("golden").resolve(file);
  }

  public static Path data(String file) {
    return dir().resolve("data").resolve(file);
  }
}
