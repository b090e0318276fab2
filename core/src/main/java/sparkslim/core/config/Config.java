package sparkslim.core.config;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import sparkslim.core.SparkslimException;

/**
 * A fully resolved configuration: one string value per known {@link ConfigKey}, with typed accessors whose errors
 * name the key, the value found and what was expected. Built by {@link ConfigLoader}.
 */
public final class Config {
  private final Map<String, String> values; // key -> value, every known key present
  private final Map<String, String> origins; // key -> where the value came from

  Config(Map<String, String> values, Map<String, String> origins) {
    this.values = Collections.unmodifiableMap(new TreeMap<>(values));
    this.origins = Collections.unmodifiableMap(new TreeMap<>(origins));
  }

  public Map<String, String> values() {
    return values;
  }

  public Map<String, String> origins() {
    return origins;
  }

  public String string(ConfigKey key) {
    return values.getOrDefault(key.key(), "");
  }

  /** A string that must be set (non-empty). */
  public String required(ConfigKey key) {
    String v = string(key);
    if (v.isBlank()) {
      throw new SparkslimException("Missing required key '" + key.key() + "' (" + key.description() + "): pass --" + key.key() + "=...");
    }
    return v.trim();
  }

  public int integer(ConfigKey key) {
    String v = string(key).trim();
    try {
      return Integer.parseInt(v);
    } catch (NumberFormatException e) {
      throw new SparkslimException("'" + key.key() + "' is set to '" + v + "' but must be an integer");
    }
  }

  public double decimal(ConfigKey key) {
    String v = string(key).trim();
    try {
      return Double.parseDouble(v);
    } catch (NumberFormatException e) {
      throw new SparkslimException("'" + key.key() + "' is set to '" + v + "' but must be a number");
    }
  }

  public boolean bool(ConfigKey key) {
    String v = string(key).trim();
    if (v.equalsIgnoreCase("true") || v.equalsIgnoreCase("false")) {
      return Boolean.parseBoolean(v);
    }
    throw new SparkslimException("'" + key.key() + "' is set to '" + v + "' but must be true or false");
  }

  public List<String> list(ConfigKey key) {
    List<String> out = new ArrayList<>();
    for (String part : string(key).split(",")) {
      if (!part.isBlank()) {
        out.add(part.trim());
      }
    }
    return out;
  }

  /** A flat YAML rendering (one {@code key: value} per line) that {@link ConfigLoader} reads back. */
  public String toYaml() {
    StringBuilder sb = new StringBuilder("# sparkslim resolved configuration\n");
    Map<String, String> sorted = new LinkedHashMap<>(values);
    for (Map.Entry<String, String> e : sorted.entrySet()) {
      sb.append(e.getKey()).append(": ").append(quote(e.getValue()))
          .append("   # from ").append(origins.getOrDefault(e.getKey(), "defaults")).append('\n');
    }
    return sb.toString();
  }

  private static String quote(String v) {
    return "'" + v.replace("'", "''") + "'";
  }
}
