package sparkslim.core.plan;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;
import sparkslim.core.config.ConfigLoader;

/**
 * The plan of {@code sparkslim sweep}: a sweep file's models and grid expanded into points, each a complete config of an
 * ordinary job ({@code prune}, {@code depth-prune} or {@code quantize}) that has been parsed into that job's plan, so
 * every user error of every point surfaces here, before Spark starts. The file:
 * <pre>
 * sweep:
 *   models: [DIR, ...]
 *   grid:                      # blocks; each is the cross product of its lists
 *     - {pruning.method: [wanda, sparsegpt], pruning.sparsity: [0.5, 0.6]}
 *     - {depth.criterion: [ppl, taylor], depth.num-blocks: [1, 2]}
 *   concurrency: 2             # points running at once (driver threads)
 * calibration: {...}           # every other key: an ordinary config key shared by all points
 * </pre>
 * A block's job follows from its keys: {@code depth.*} → depth-prune, {@code pruning.*} → prune, else
 * {@code quantization.*} → quantize.
 */
public record SweepPlan(String source, List<String> models, List<Point> points, int concurrency, String outputPath,
                        List<String> sweptKeys) {
  public static final String SWEEP = "sweep";
  public static final String MODELS = "sweep.models";
  public static final String GRID = "sweep.grid";
  public static final String CONCURRENCY = "sweep.concurrency";
  /** Keys that one application shares: a grid cannot vary them. */
  private static final Set<String> NOT_SWEPT = Set.of(ConfigKey.MODEL_PATH.key(), ConfigKey.OUTPUT_PATH.key());
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  /** The job a point runs. */
  public enum Job {
    PRUNE("prune", "pruning."), DEPTH_PRUNE("depth-prune", "depth."), QUANTIZE("quantize", "quantization."),
    /** Each model's dense row (when eval.texts is set): never chosen by a grid block. */
    EVAL("eval", "eval.");

    private final String configName;
    private final String prefix;

    Job(String configName, String prefix) {
      this.configName = configName;
      this.prefix = prefix;
    }

    public String configName() {
      return configName;
    }

    /** The key prefix this job owns ({@code pruning.}), left out of point ids. */
    public String prefix() {
      return prefix;
    }
  }

  /**
   * One point: a model, its job, the swept values (key → value, in grid order), the grid block (0-based) that made it,
   * its id (its directory under {@code OUT/points/}), a short label for progress lines, and its resolved config.
   */
  public record Point(String model, String modelName, Job job, Map<String, String> values, int block, String id, String label,
                      Config config) {}

  /**
   * Reads and expands {@code file}; {@code overrides} are command-line {@code --key=value} pairs: ordinary keys apply to every
   * point, {@code sweep.concurrency} sets the concurrency.
   */
  public static SweepPlan of(String file, Map<String, String> overrides, org.apache.hadoop.conf.Configuration conf) {
    return of(parse(file, conf), file, overrides, location -> qualified(location, conf));
  }

  /**
   * A model or output location made absolute on its file system ({@code examples/m} → {@code file:/home/u/examples/m}):
   * a point's tasks open it on executors whose working directory is not the driver's.
   */
  public static String qualified(String location, org.apache.hadoop.conf.Configuration conf) {
    org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(location.trim());
    try {
      return p.getFileSystem(conf).makeQualified(p).toString();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("Cannot resolve " + location, e);
    }
  }

  /** The sweep file's YAML tree, read from a local path or any Hadoop file system (hdfs://...). */
  public static JsonNode parse(String file, org.apache.hadoop.conf.Configuration conf) {
    org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(file);
    try {
      org.apache.hadoop.fs.FileSystem fs = p.getFileSystem(conf);
      if (!fs.isFile(p)) {
        throw new SparkslimException("Sweep file " + file + " does not exist (from '--config')");
      }
      try (java.io.InputStream in = fs.open(p)) {
        return YAML.readTree(in);
      }
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new SparkslimException("Cannot parse sweep file " + file + ": expected YAML (" + e.getOriginalMessage() + ")");
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("Cannot read sweep file " + file, e);
    }
  }

  /** As {@link #of(String, Map, org.apache.hadoop.conf.Configuration)}, from the parsed file ({@code source} names it in messages). */
  public static SweepPlan of(JsonNode tree, String source, Map<String, String> overrides) {
    return of(tree, source, overrides, location -> location);
  }

  private static SweepPlan of(JsonNode tree, String source, Map<String, String> overrides, java.util.function.UnaryOperator<String> qualify) {
    if (tree == null || !tree.isObject()) {
      throw new SparkslimException("Sweep file " + source + ": expected a mapping with a 'sweep' key (models and grid), found "
          + (tree == null || tree.isMissingNode() ? "an empty file" : "a " + tree.getNodeType().toString().toLowerCase()));
    }
    JsonNode sweep = tree.get(SWEEP);
    if (sweep == null || !sweep.isObject()) {
      throw new SparkslimException("Sweep file " + source + ": expected a mapping under 'sweep' (with '" + MODELS + "' and '" + GRID
          + "'), found " + (sweep == null ? "no 'sweep' key" : "a " + sweep.getNodeType().toString().toLowerCase()));
    }
    Iterator<String> names = sweep.fieldNames();
    while (names.hasNext()) {
      String name = SWEEP + "." + names.next();
      if (!name.equals(MODELS) && !name.equals(GRID) && !name.equals(CONCURRENCY)) {
        throw new SparkslimException("Sweep file " + source + ": unknown key '" + name + "': expected " + MODELS + ", " + GRID + " and "
            + CONCURRENCY);
      }
    }
    List<String> models = new ArrayList<>();
    strings(sweep.get("models"), source, MODELS).forEach(m -> models.add(qualify.apply(m)));
    if (models.isEmpty()) {
      throw new SparkslimException("Sweep file " + source + ": '" + MODELS + "' is empty: expected at least one model directory");
    }
    Map<String, String> cli = new LinkedHashMap<>(overrides);
    String concurrencyText = cli.containsKey(CONCURRENCY) ? cli.remove(CONCURRENCY)
        : sweep.has("concurrency") ? sweep.get("concurrency").asText() : "2";
    int concurrency;
    try {
      concurrency = Integer.parseInt(concurrencyText.trim());
    } catch (NumberFormatException e) {
      concurrency = 0;
    }
    if (concurrency < 1) {
      throw new SparkslimException("Sweep file " + source + ": '" + CONCURRENCY + "' is '" + concurrencyText
          + "' but must be a whole number >= 1 (points running at once)");
    }

    // Shared keys: everything but 'sweep', flattened as a --config file is; unknown keys are rejected by ConfigLoader.
    com.fasterxml.jackson.databind.node.ObjectNode shared = ((com.fasterxml.jackson.databind.node.ObjectNode) tree).deepCopy();
    shared.remove(SWEEP);
    Map<String, String> sharedKeys = ConfigLoader.flattenTree(shared, source);
    for (String key : sharedKeys.keySet()) {
      if (ConfigKey.find(key).isEmpty()) {
        throw new SparkslimException("Sweep file " + source + ": unknown config key '" + key + "' among the shared keys; did you mean '"
            + ConfigKey.closest(key) + "'?");
      }
    }
    for (String key : cli.keySet()) {
      if (ConfigKey.find(key).isEmpty()) {
        throw new SparkslimException("Unknown config key '" + key + "' (from command line); did you mean '" + ConfigKey.closest(key) + "'?");
      }
    }
    if (sharedKeys.containsKey(ConfigKey.MODEL_PATH.key()) || cli.containsKey(ConfigKey.MODEL_PATH.key())) {
      throw new SparkslimException("Sweep file " + source + ": '" + ConfigKey.MODEL_PATH.key() + "' is set, but a sweep takes its models from '"
          + MODELS + "'");
    }
    String outputPath = cli.getOrDefault(ConfigKey.OUTPUT_PATH.key(), sharedKeys.getOrDefault(ConfigKey.OUTPUT_PATH.key(), "")).trim();
    if (outputPath.isEmpty()) {
      throw new SparkslimException("Missing required key '" + ConfigKey.OUTPUT_PATH.key() + "' (the sweep's output directory; points go to "
          + "OUT/points/<point-id>/): set --" + ConfigKey.OUTPUT_PATH.key() + "=OUT or put it in " + source);
    }
    outputPath = qualify.apply(outputPath);
    sharedKeys.remove(ConfigKey.OUTPUT_PATH.key());
    cli.remove(ConfigKey.OUTPUT_PATH.key());

    List<Map<String, List<String>>> grid = grid(sweep.get("grid"), source);
    Set<String> swept = new LinkedHashSet<>();
    grid.forEach(b -> swept.addAll(b.keySet()));
    for (String key : cli.keySet()) {
      if (swept.contains(key)) {
        throw new SparkslimException("'" + key + "' is set on the command line but " + source + " sweeps it in its grid: drop one of the two");
      }
    }

    List<Point> points = new ArrayList<>();
    Map<String, String> identities = new LinkedHashMap<>(); // identity -> "grid block i"
    Map<String, String> ids = new LinkedHashMap<>();
    Set<String> modelNames = new LinkedHashSet<>();
    for (int m = 0; m < models.size(); m++) {
      String model = models.get(m);
      String modelName = modelName(model);
      if (!modelNames.add(modelName)) { // two directories with one name: the second is named by its position
        modelName = modelName + "-" + (m + 1);
        modelNames.add(modelName);
      }
      Map<String, Map<String, String>> denseLayers = new LinkedHashMap<>();
      denseLayers.put(source, sharedKeys);
      denseLayers.put("command line", cli);
      String denseId = modelName + "__dense";
      denseLayers.put(source + ", dense", Map.of(ConfigKey.MODEL_PATH.key(), model, ConfigKey.OUTPUT_PATH.key(),
          outputPath.replaceAll("/+$", "") + "/points/" + denseId));
      Config dense = ConfigLoader.layered(Job.EVAL.configName(), denseLayers);
      if (!dense.list(ConfigKey.EVAL_TEXTS).isEmpty()) {
        try {
          plan(Job.EVAL, dense, null, null);
        } catch (SparkslimException e) {
          throw new SparkslimException("Sweep file " + source + ", the dense evaluation of " + model + ": " + e.getMessage(), e);
        }
        ids.put(denseId, modelName + " dense");
        points.add(new Point(model, modelName, Job.EVAL, Map.of(), -1, denseId, modelName + " dense", dense));
      }
      for (int b = 0; b < grid.size(); b++) {
        Map<String, List<String>> block = grid.get(b);
        Job job = job(block, source, b);
        for (Map<String, String> values : crossProduct(block)) {
          String label = modelName + " " + String.join(" ", values.values());
          String identity = model + "\u0000" + job + "\u0000" + normalized(values);
          String where = "grid block " + (b + 1);
          String previous = identities.putIfAbsent(identity, where);
          if (previous != null) {
            throw new SparkslimException("Sweep file " + source + ": " + previous + " and " + where + " both produce the point '" + label + "' ("
                + values + " on " + model + "): each point must appear once");
          }
          String id = pointId(modelName, job, values);
          String clash = ids.putIfAbsent(id, label);
          if (clash != null) {
            throw new SparkslimException("Sweep file " + source + ": the points '" + clash + "' and '" + label + "' get the same directory name '"
                + id + "': spell their values differently");
          }
          Map<String, Map<String, String>> layers = new LinkedHashMap<>();
          layers.put(source, sharedKeys);
          layers.put("command line", cli);
          Map<String, String> pointKeys = new LinkedHashMap<>(values);
          pointKeys.put(ConfigKey.MODEL_PATH.key(), model);
          pointKeys.put(ConfigKey.OUTPUT_PATH.key(), outputPath.replaceAll("/+$", "") + "/points/" + id);
          layers.put(source + ", " + where, pointKeys);
          Config config;
          try {
            config = ConfigLoader.layered(job.configName(), layers);
            plan(job, config, null, null);
          } catch (SparkslimException e) {
            throw new SparkslimException("Sweep point '" + label + "' (" + where + " of " + source + ", " + job.configName() + "): " + e.getMessage(),
                e);
          }
          points.add(new Point(model, modelName, job, values, b, id, label, config));
        }
      }
    }
    return new SweepPlan(source, List.copyOf(models), List.copyOf(points), concurrency, outputPath, List.copyOf(swept));
  }

  /**
   * Checks every point against its model's config.json (read once per model, no weights): the checks each job runs
   * before Spark ({@link PrunePlan#check}, ...). A model directory that cannot be opened is a user error; a point its
   * model cannot do (SparseLLM on an FFN it does not support, more blocks removed than the model has) is returned, by
   * point id, with its message: the sweep records it as a failed row and runs the others.
   */
  public Map<String, String> check(org.apache.hadoop.conf.Configuration hadoopConf) {
    Map<String, String> failed = new LinkedHashMap<>();
    for (String model : models) {
      sparkslim.core.model.ModelDirectory directory = sparkslim.core.model.ModelDirectory.open(model, hadoopConf);
      String configSource = directory.root() + "/" + sparkslim.core.model.ModelDirectory.CONFIG_FILE;
      for (Point point : points) {
        if (!point.model().equals(model)) {
          continue;
        }
        try {
          plan(point.job(), point.config(), directory.spec(), configSource);
        } catch (SparkslimException e) {
          failed.put(point.id(), e.getMessage());
        }
      }
    }
    return failed;
  }

  /**
   * Parses {@code config} into {@code job}'s plan (the job's own checks) and, when {@code spec} is given, checks it
   * against the model's config.json ({@code source}) as the job does before Spark starts.
   */
  private static void plan(Job job, Config config, sparkslim.core.model.ModelSpec spec, String source) {
    switch (job) {
      case PRUNE -> {
        PrunePlan plan = PrunePlan.of(config);
        if (spec != null) {
          plan.check(spec, source);
        }
      }
      case DEPTH_PRUNE -> {
        DepthPrunePlan plan = DepthPrunePlan.of(config);
        if (spec != null) {
          plan.check(spec, source).depth().protectedBlocks(spec.numLayers(), source);
        }
      }
      case QUANTIZE -> {
        QuantizePlan plan = QuantizePlan.of(config);
        if (spec != null) {
          plan.check(spec, source);
        }
      }
      case EVAL -> {
        EvalPlan plan = EvalPlan.of(config);
        if (spec != null) {
          plan.check(spec, source);
        }
      }
      default -> throw new IllegalStateException("Unhandled job " + job);
    }
  }

  private static List<Map<String, List<String>>> grid(JsonNode node, String source) {
    if (node == null || node.isNull() || (node.isArray() && node.isEmpty())) {
      throw new SparkslimException("Sweep file " + source + ": '" + GRID + "' is empty: expected a list of grid blocks such as "
          + "{pruning.method: [wanda, sparsegpt], pruning.sparsity: [0.5, 0.6]}");
    }
    if (!node.isArray()) {
      throw new SparkslimException("Sweep file " + source + ": '" + GRID + "' must be a list of grid blocks (mappings of key to values), found a "
          + node.getNodeType().toString().toLowerCase());
    }
    List<Map<String, List<String>>> blocks = new ArrayList<>();
    for (int b = 0; b < node.size(); b++) {
      JsonNode block = node.get(b);
      String where = "grid block " + (b + 1);
      if (!block.isObject() || block.isEmpty()) {
        throw new SparkslimException("Sweep file " + source + ": " + where + " must be a non-empty mapping of config keys to lists of values, found "
            + (block.isObject() ? "an empty mapping" : "a " + block.getNodeType().toString().toLowerCase()));
      }
      blocks.add(blockValues(block, source, where));
    }
    return blocks;
  }

  /** A block's keys (dotted or nested) to their lists of values; a scalar is a list of one. */
  private static Map<String, List<String>> blockValues(JsonNode block, String source, String where) {
    Map<String, List<String>> out = new LinkedHashMap<>();
    ConfigLoader.leaves(block, (key, v) -> {
      if (ConfigKey.find(key).isEmpty()) {
        throw new SparkslimException("Sweep file " + source + ": unknown config key '" + key + "' in " + where + "; did you mean '"
            + ConfigKey.closest(key) + "'?");
      }
      if (NOT_SWEPT.contains(key) || key.startsWith("spark.")) {
        throw new SparkslimException("Sweep file " + source + ": " + where + " sweeps '" + key + "', which all points of one sweep share ("
            + (key.equals(ConfigKey.MODEL_PATH.key()) ? "list models under '" + MODELS + "'" : "set it once, outside the grid") + ")");
      }
      List<String> values = new ArrayList<>();
      if (v.isArray()) {
        v.forEach(x -> values.add(x.asText()));
      } else {
        values.add(v.asText());
      }
      if (values.isEmpty()) {
        throw new SparkslimException("Sweep file " + source + ": '" + key + "' in " + where + " has no values: expected a non-empty list");
      }
      out.put(key, values);
    });
    return out;
  }

  private static Job job(Map<String, List<String>> block, String source, int b) {
    boolean depth = block.keySet().stream().anyMatch(k -> k.startsWith(Job.DEPTH_PRUNE.prefix()));
    boolean pruning = block.keySet().stream().anyMatch(k -> k.startsWith(Job.PRUNE.prefix()));
    boolean quantization = block.keySet().stream().anyMatch(k -> k.startsWith(Job.QUANTIZE.prefix()));
    if (depth && pruning) {
      throw new SparkslimException("Sweep file " + source + ": grid block " + (b + 1) + " sweeps both depth.* and pruning.* keys: put depth "
          + "pruning and pruning in separate blocks (each point runs one job)");
    }
    if (depth) {
      return Job.DEPTH_PRUNE;
    }
    if (pruning) {
      return Job.PRUNE;
    }
    if (quantization) {
      return Job.QUANTIZE;
    }
    throw new SparkslimException("Sweep file " + source + ": grid block " + (b + 1) + " sweeps " + block.keySet() + " but no method key: "
        + "a block needs a pruning.*, depth.* or quantization.* key to say which job its points run");
  }

  private static List<Map<String, String>> crossProduct(Map<String, List<String>> block) {
    List<Map<String, String>> out = new ArrayList<>();
    out.add(new LinkedHashMap<>());
    for (Map.Entry<String, List<String>> e : block.entrySet()) {
      List<Map<String, String>> next = new ArrayList<>();
      for (Map<String, String> partial : out) {
        for (String v : e.getValue()) {
          Map<String, String> m = new LinkedHashMap<>(partial);
          m.put(e.getKey(), v);
          next.add(m);
        }
      }
      out = next;
    }
    return out;
  }

  /** Values compared as their settings would be: keys sorted, numbers by value ({@code 0.5} = {@code 0.50}), text trimmed. */
  private static String normalized(Map<String, String> values) {
    Map<String, String> sorted = new TreeMap<>();
    values.forEach((k, v) -> {
      String t = v.trim();
      try {
        t = new BigDecimal(t).stripTrailingZeros().toPlainString();
      } catch (NumberFormatException e) {
        t = t.toLowerCase();
      }
      sorted.put(k, t);
    });
    return sorted.toString();
  }

  /** {@code tiny-llama-imdb__prune__method=wanda__sparsity=0.5}: a file name on local disks and HDFS alike. */
  static String pointId(String modelName, Job job, Map<String, String> values) {
    StringBuilder id = new StringBuilder(modelName).append("__").append(job.configName());
    values.forEach((k, v) -> id.append("__").append(k.startsWith(job.prefix()) ? k.substring(job.prefix().length()) : k).append('=')
        .append(v.trim().replaceAll("[^A-Za-z0-9._-]", "-")));
    return id.toString();
  }

  /** The last path segment of a model location. */
  static String modelName(String model) {
    String trimmed = model.trim().replaceAll("/+$", "");
    return trimmed.substring(trimmed.lastIndexOf('/') + 1);
  }

  private static List<String> strings(JsonNode node, String source, String key) {
    List<String> out = new ArrayList<>();
    if (node == null || node.isNull()) {
      return out;
    }
    if (node.isArray()) {
      node.forEach(x -> out.add(x.asText()));
    } else if (node.isValueNode()) {
      for (String part : node.asText().split(",")) {
        if (!part.isBlank()) {
          out.add(part.trim());
        }
      }
    } else {
      throw new SparkslimException("Sweep file " + source + ": '" + key + "' must be a list, found a mapping");
    }
    return out;
  }
}
