package sparkslim.core.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import sparkslim.core.SparkslimException;

/**
 * Resolves configuration, later sources overriding earlier ones:
 * <ol>
 *   <li>{@code conf/defaults.yaml} (bundled in the jar as {@code sparkslim/defaults.yaml}), then, for a job that has one,
 *       {@code conf/defaults-<job>.yaml} (the few defaults of that job that differ, e.g. depth-prune's calibration size);</li>
 *   <li>each {@code --config=FILE[,FILE...]} in order (nested YAML maps or dotted keys);</li>
 *   <li>{@code --key=value} command-line overrides, in order.</li>
 * </ol>
 * Unknown keys are rejected with the key, where it came from and the closest known key.
 */
public final class ConfigLoader {
  public static final String DEFAULTS_RESOURCE = "sparkslim/defaults.yaml";
  public static final String CONFIG_FILES_OPTION = "config";
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private ConfigLoader() {}

  /** Parses {@code --key=value} arguments (a bare {@code --flag} means {@code true}). */
  public static Config fromArgs(List<String> args) {
    return fromArgs(null, args);
  }

  /** As {@link #fromArgs(List)}, with {@code conf/defaults-<job>.yaml} (if bundled) applied right after the defaults. */
  public static Config fromArgs(String job, List<String> args) {
    Arguments parsed = arguments(args);
    return load(job, parsed.configFiles(), parsed.overrides());
  }

  /** Command-line arguments: the {@code --config} files in order, and every other {@code --key=value} in order. */
  public record Arguments(List<String> configFiles, Map<String, String> overrides) {}

  /** Splits {@code --config=FILE[,FILE...]} from the {@code --key=value} overrides (a bare {@code --flag} means true). */
  public static Arguments arguments(List<String> args) {
    Map<String, String> overrides = new LinkedHashMap<>();
    List<String> configFiles = new ArrayList<>();
    for (String arg : args) {
      if (!arg.startsWith("--")) {
        throw new SparkslimException("Unexpected argument '" + arg + "': expected --key=value");
      }
      int eq = arg.indexOf('=');
      String key = eq < 0 ? arg.substring(2) : arg.substring(2, eq);
      String value = eq < 0 ? "true" : arg.substring(eq + 1);
      if (key.equals(CONFIG_FILES_OPTION)) {
        for (String f : value.split(",")) {
          if (!f.isBlank()) {
            configFiles.add(f.trim());
          }
        }
      } else {
        overrides.put(key, value);
      }
    }
    return new Arguments(configFiles, overrides);
  }

  public static Config load(List<String> configFiles, Map<String, String> overrides) {
    return load(null, configFiles, overrides);
  }

  /**
   * The defaults of {@code job} (as {@link #fromArgs(String, List)}), then each layer in order: its key is the origin
   * named in messages and in {@code resolved-config.yaml} (e.g. a sweep file's shared keys, then one grid block's values).
   */
  public static Config layered(String job, Map<String, Map<String, String>> layers) {
    Config base = load(job, List.of(), Map.of());
    Map<String, String> values = new LinkedHashMap<>(base.values());
    Map<String, String> origins = new LinkedHashMap<>(base.origins());
    for (Map.Entry<String, Map<String, String>> layer : layers.entrySet()) {
      apply(layer.getValue(), values, origins, layer.getKey(), false);
    }
    return new Config(values, origins);
  }

  /** Nested maps become dotted keys, lists comma-separated values (as in a {@code --config} file). */
  public static Map<String, String> flattenTree(JsonNode tree, String source) {
    return flatten(tree, source);
  }

  static Config load(String job, List<String> configFiles, Map<String, String> overrides) {
    Map<String, String> values = new LinkedHashMap<>();
    Map<String, String> origins = new LinkedHashMap<>();
    try (InputStream in = ConfigLoader.class.getClassLoader().getResourceAsStream(DEFAULTS_RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException("Missing bundled " + DEFAULTS_RESOURCE + " on the class path");
      }
      apply(flatten(YAML.readTree(in), DEFAULTS_RESOURCE), values, origins, "conf/defaults.yaml");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (job != null) {
      String resource = "sparkslim/defaults-" + job + ".yaml";
      try (InputStream in = ConfigLoader.class.getClassLoader().getResourceAsStream(resource)) {
        if (in != null) {
          apply(flatten(YAML.readTree(in), resource), values, origins, "conf/defaults-" + job + ".yaml");
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    for (String file : configFiles) {
      Path p = Path.of(file);
      if (!Files.isRegularFile(p)) {
        throw new SparkslimException("Config file " + file + " does not exist (from '--" + CONFIG_FILES_OPTION + "')");
      }
      JsonNode tree;
      try {
        tree = YAML.readTree(p.toFile());
      } catch (IOException e) {
        throw new SparkslimException("Cannot parse config file " + file + ": expected YAML key: value pairs (" + e.getMessage() + ")");
      }
      apply(flatten(tree, file), values, origins, file);
    }
    apply(overrides, values, origins, "command line");
    for (ConfigKey k : ConfigKey.values()) {
      if (!values.containsKey(k.key())) {
        throw new IllegalStateException("conf/defaults.yaml has no default for '" + k.key() + "'");
      }
    }
    return new Config(values, origins);
  }

  private static void apply(Map<String, String> source, Map<String, String> values, Map<String, String> origins, String origin) {
    apply(source, values, origins, origin, true);
  }

  private static void apply(Map<String, String> source, Map<String, String> values, Map<String, String> origins, String origin,
                            boolean logOverrides) {
    for (Map.Entry<String, String> e : source.entrySet()) {
      if (ConfigKey.find(e.getKey()).isEmpty()) {
        throw new SparkslimException("Unknown config key '" + e.getKey() + "' (from " + origin + "); did you mean '"
            + ConfigKey.closest(e.getKey()) + "'?");
      }
      if (logOverrides && !origin.startsWith("conf/defaults") && !e.getValue().equals(values.get(e.getKey()))) {
        System.err.println("Overriding: " + e.getKey() + " = " + e.getValue() + " (from " + origin + ")");
      }
      values.put(e.getKey(), e.getValue());
      origins.put(e.getKey(), origin);
    }
  }

  /** Nested maps become dotted keys; lists become comma-separated values; null becomes "". */
  static Map<String, String> flatten(JsonNode tree, String source) {
    Map<String, String> out = new LinkedHashMap<>();
    if (tree == null || tree.isNull() || tree.isMissingNode()) {
      return out;
    }
    if (!tree.isObject()) {
      throw new SparkslimException("Config file " + source + ": expected a map of keys, found " + tree.getNodeType());
    }
    flatten("", tree, out);
    return out;
  }

  private static void flatten(String prefix, JsonNode node, Map<String, String> out) {
    leaves(node, (key, v) -> {
      if (v.isArray()) {
        List<String> parts = new ArrayList<>();
        v.forEach(x -> parts.add(x.asText()));
        out.put(key, String.join(",", parts));
      } else {
        out.put(key, v.isNull() ? "" : v.asText());
      }
    });
  }

  /** Calls {@code action} with the dotted key and value of every non-mapping node under {@code node}, in file order. */
  public static void leaves(JsonNode node, java.util.function.BiConsumer<String, JsonNode> action) {
    leaves("", node, action);
  }

  private static void leaves(String prefix, JsonNode node, java.util.function.BiConsumer<String, JsonNode> action) {
    Iterator<Map.Entry<String, JsonNode>> it = node.fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> e = it.next();
      String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
      if (e.getValue().isObject()) {
        leaves(key, e.getValue(), action);
      } else {
        action.accept(key, e.getValue());
      }
    }
  }

}
