package sparkslim.core.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsFile;
import sparkslim.core.quant.QuantizedCheckpoint;

/**
 * A HuggingFace model directory read through the Hadoop {@link FileSystem} API: {@code config.json},
 * {@code model.safetensors} or shards with {@code model.safetensors.index.json}, and {@code tokenizer.json}.
 * Opening validates every tensor's presence, dtype and shape against {@code config.json} from the headers alone;
 * tensor data is read on demand, so one block loads without reading the others.
 */
public final class ModelDirectory {
  public static final String CONFIG_FILE = "config.json";
  public static final String INDEX_FILE = "model.safetensors.index.json";
  public static final String SINGLE_FILE = "model.safetensors";
  public static final String TOKENIZER_FILE = "tokenizer.json";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final FileSystem fs;
  private final Path root;
  private final JsonNode configJson;
  private final ModelSpec spec;
  private final Map<String, SafetensorsFile> fileOfTensor;
  private final QuantizedCheckpoint quantized; // null unless config.json has a quantization_config
  private final sparkslim.core.lowrank.LowRankCheckpoint lowRank; // null unless config.json has a lowrank section

  private ModelDirectory(FileSystem fs, Path root, JsonNode configJson, ModelSpec spec, Map<String, SafetensorsFile> fileOfTensor,
                         QuantizedCheckpoint quantized) {
    this.fs = fs;
    this.root = root;
    this.configJson = configJson;
    this.spec = spec;
    this.fileOfTensor = fileOfTensor;
    this.quantized = quantized;
    this.lowRank = sparkslim.core.lowrank.LowRankCheckpoint.parse(configJson, new Path(root, CONFIG_FILE).toString());
  }

  public static ModelDirectory open(String location, Configuration hadoopConf) {
    return open(location, hadoopConf, (spec, source) -> { });
  }

  /**
   * As {@link #open(String, Configuration)}, running {@code requirement} on the parsed config (with the config file's
   * path, for messages) before any weight file is read, e.g. a job's check that it supports the model's FFN.
   */
  public static ModelDirectory open(String location, Configuration hadoopConf, java.util.function.BiConsumer<ModelSpec, String> requirement) {
    Path given = new Path(location);
    FileSystem fs;
    Path root;
    try {
      fs = given.getFileSystem(hadoopConf);
      root = fs.makeQualified(given);
      if (!fs.exists(root)) {
        throw new SparkslimException("Model directory " + root + " does not exist (from 'model.path')");
      }
      if (!fs.getFileStatus(root).isDirectory()) {
        throw new SparkslimException("'model.path' must be a HuggingFace model directory, but " + root + " is a file");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot open model directory " + location, e);
    }
    Path configPath = new Path(root, CONFIG_FILE);
    JsonNode configJson = readJson(fs, configPath, "the model's config.json");
    ModelSpec spec = ModelSpec.parse(configJson, configPath.toString());
    requirement.accept(spec, configPath.toString());
    QuantizedCheckpoint quantized = QuantizedCheckpoint.parse(configJson, configPath.toString());
    Map<String, SafetensorsFile> fileOfTensor = openWeights(fs, root);
    Path tokenizer = new Path(root, TOKENIZER_FILE);
    try {
      if (!fs.exists(tokenizer)) {
        throw new SparkslimException("Missing " + tokenizer + ": expected a HuggingFace tokenizer.json next to config.json");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    ModelDirectory dir = new ModelDirectory(fs, root, configJson, spec, fileOfTensor, quantized);
    dir.validateTensors();
    return dir;
  }

  static JsonNode readJson(FileSystem fs, Path path, String what) {
    try {
      if (!fs.exists(path)) {
        throw new SparkslimException("Missing " + path + ": expected " + what);
      }
      try (InputStream in = fs.open(path)) {
        return JSON.readTree(in);
      }
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new SparkslimException("Cannot parse " + path + ": expected " + what + " in JSON, found invalid JSON (" + e.getOriginalMessage() + ")");
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + path, e);
    }
  }

  private static Map<String, SafetensorsFile> openWeights(FileSystem fs, Path root) {
    Path index = new Path(root, INDEX_FILE);
    Path single = new Path(root, SINGLE_FILE);
    Map<String, SafetensorsFile> fileOfTensor = new LinkedHashMap<>();
    try {
      if (fs.exists(index)) {
        JsonNode weightMap = readJson(fs, index, "a safetensors index with a weight_map").get("weight_map");
        if (weightMap == null || !weightMap.isObject()) {
          throw new SparkslimException("Corrupt index " + index + ": expected a 'weight_map' object");
        }
        Map<String, SafetensorsFile> files = new TreeMap<>();
        var fields = weightMap.fields();
        while (fields.hasNext()) {
          var e = fields.next();
          String fileName = e.getValue().asText();
          SafetensorsFile file = files.get(fileName);
          if (file == null) {
            Path shard = resolveInside(root, fileName, index, e.getKey());
            if (!fs.exists(shard)) {
              throw new SparkslimException("Index " + index + " maps tensor '" + e.getKey() + "' to shard '" + fileName + "', which does not exist");
            }
            file = SafetensorsFile.open(fs, shard);
            files.put(fileName, file);
          }
          fileOfTensor.put(e.getKey(), file);
        }
        return fileOfTensor;
      }
      if (fs.exists(single)) {
        SafetensorsFile file = SafetensorsFile.open(fs, single);
        for (String name : file.entries().keySet()) {
          fileOfTensor.put(name, file);
        }
        return fileOfTensor;
      }
      StringBuilder found = new StringBuilder();
      for (FileStatus st : fs.listStatus(root)) {
        found.append(found.length() == 0 ? "" : ", ").append(st.getPath().getName());
        String n = st.getPath().getName();
        if (n.endsWith(".bin") || n.endsWith(".pt") || n.endsWith(".pth") || n.endsWith(".pkl") || n.endsWith(".ckpt")) {
          throw new SparkslimException("Refusing pickle checkpoint " + st.getPath() + ": sparkslim reads only safetensors and never unpickles"
              + " (pickle files can run arbitrary code). Expected " + SINGLE_FILE + " or " + INDEX_FILE
              + " in " + root + "; convert the checkpoint to safetensors first (e.g. save_pretrained(..., safe_serialization=True))");
        }
      }
      throw new SparkslimException("No weights in " + root + ": expected " + SINGLE_FILE + " or " + INDEX_FILE + ", found [" + found + "]");
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot list " + root, e);
    }
  }

  /** Resolves a shard file name from the index; refuses absolute names and names that leave the model directory. */
  private static Path resolveInside(Path root, String fileName, Path index, String tensor) {
    boolean escapes = fileName.isEmpty() || fileName.startsWith("/") || fileName.contains("\\") || fileName.contains(":");
    int depth = 0;
    for (String part : fileName.split("/")) {
      if (part.equals("..")) {
        depth--;
      } else if (!part.isEmpty() && !part.equals(".")) {
        depth++;
      }
      escapes |= depth < 0;
    }
    if (escapes) {
      throw new SparkslimException("Index " + index + " maps tensor '" + tensor + "' to '" + fileName
          + "', which points outside the model directory: expected a shard file name inside " + root);
    }
    return new Path(root, fileName);
  }

  private void validateTensors() {
    Map<String, long[]> expected = new LinkedHashMap<>(spec.globalTensorShapes());
    for (int i = 0; i < spec.numLayers(); i++) {
      for (Map.Entry<String, long[]> e : spec.blockTensorShapes().entrySet()) {
        expected.put(spec.blockPrefix(i) + e.getKey(), e.getValue());
      }
    }
    for (Map.Entry<String, long[]> e : expected.entrySet()) {
      if (storedQuantized(e.getKey())) {
        quantized.check(e.getKey(), e.getValue(), fileOfTensor::get);
      } else if (storedFactored(e.getKey())) {
        int k = lowRank.rankOf(e.getKey());
        entry(sparkslim.core.lowrank.LowRankCheckpoint.uName(e.getKey()), new long[] {e.getValue()[0], k});
        entry(sparkslim.core.lowrank.LowRankCheckpoint.vName(e.getKey()), new long[] {k, e.getValue()[1]});
      } else {
        entry(e.getKey(), e.getValue());
      }
    }
  }

  /** True if the checkpoint stores this {@code <linear>.weight} quantized (compressed-tensors or GPTQ). */
  private boolean storedQuantized(String name) {
    return quantized != null && quantized.stores(name, fileOfTensor::containsKey);
  }

  /** True if the checkpoint stores this {@code <linear>.weight} as low-rank factors ({@code sparkslim lowrank}). */
  private boolean storedFactored(String name) {
    return lowRank != null && lowRank.rankOf(name) > 0 && !fileOfTensor.containsKey(name);
  }

  /** The factored layout of a {@code sparkslim lowrank} checkpoint, or null. */
  public sparkslim.core.lowrank.LowRankCheckpoint lowRank() {
    return lowRank;
  }

  /** The quantization of a quantized checkpoint, or null. */
  public QuantizedCheckpoint quantization() {
    return quantized;
  }

  /** Header entry of a tensor, checked against the shape {@code config.json} implies. */
  private SafetensorsFile.Entry entry(String name, long[] expectedShape) {
    SafetensorsFile file = fileOfTensor.get(name);
    if (file == null) {
      throw new SparkslimException("Tensor '" + name + "' is missing from " + (weightsDescription())
          + ": config.json (model_type=" + spec.modelType() + ", num_hidden_layers=" + spec.numLayers() + ") requires it");
    }
    SafetensorsFile.Entry entry = file.entries().get(name);
    if (entry == null) {
      throw new SparkslimException("Tensor '" + name + "' is missing from shard " + file.path() + " (the index " + new Path(root, INDEX_FILE)
          + " says it is there)");
    }
    if (!entry.dtype().isFloating()) {
      throw new SparkslimException("Tensor '" + name + "' in " + file.path() + ": unsupported dtype " + entry.dtype()
          + " for a weight (expected F32, F16 or BF16)");
    }
    if (!Arrays.equals(entry.shape(), expectedShape)) {
      throw new SparkslimException("Tensor '" + name + "' in " + file.path() + " has shape " + Arrays.toString(entry.shape())
          + " but " + new Path(root, CONFIG_FILE) + " implies " + Arrays.toString(expectedShape)
          + " (hidden_size=" + spec.hiddenSize() + ", intermediate_size/ffn_dim=" + spec.intermediateSize() + ", num_attention_heads="
          + spec.numHeads() + ", num_key_value_heads=" + spec.numKvHeads() + ", vocab_size=" + spec.vocabSize() + ")");
    }
    return entry;
  }

  private String weightsDescription() {
    try {
      return fs.exists(new Path(root, INDEX_FILE)) ? "index " + new Path(root, INDEX_FILE) : String.valueOf(new Path(root, SINGLE_FILE));
    } catch (IOException e) {
      return root.toString();
    }
  }

  public ModelSpec spec() {
    return spec;
  }

  public Path root() {
    return root;
  }

  public FileSystem fileSystem() {
    return fs;
  }

  public JsonNode configJson() {
    return configJson;
  }

  public Path tokenizerPath() {
    return new Path(root, TOKENIZER_FILE);
  }

  /** Reads one tensor, upcast to fp32. */
  public Tensor tensor(String name, long[] expectedShape) {
    if (storedQuantized(name)) { // the dequantized weights a loader computes
      return new Tensor(expectedShape.clone(), quantized.read(name, expectedShape, fileOfTensor::get).weights());
    }
    if (storedFactored(name)) { // W′ = U·V in fp32, the product the lowrank job propagated with
      int k = lowRank.rankOf(name);
      int rows = (int) expectedShape[0];
      int cols = (int) expectedShape[1];
      String u = sparkslim.core.lowrank.LowRankCheckpoint.uName(name);
      String v = sparkslim.core.lowrank.LowRankCheckpoint.vName(name);
      entry(u, new long[] {rows, k});
      entry(v, new long[] {k, cols});
      return new Tensor(expectedShape.clone(), sparkslim.core.compress.CompressedLinear.Factored.product(fileOfTensor.get(u).readFloats(u), rows, k,
          fileOfTensor.get(v).readFloats(v), cols));
    }
    SafetensorsFile.Entry e = entry(name, expectedShape);
    return new Tensor(e.shape(), fileOfTensor.get(name).readFloats(name));
  }

  /** Reads block {@code i} only; keys are names relative to {@link ModelSpec#blockPrefix}. */
  public Map<String, Tensor> loadBlock(int i) {
    if (i < 0 || i >= spec.numLayers()) {
      throw new IllegalArgumentException("Block " + i + " out of range [0, " + spec.numLayers() + ")");
    }
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> e : spec.blockTensorShapes().entrySet()) {
      out.put(e.getKey(), tensor(spec.blockPrefix(i) + e.getKey(), e.getValue()));
    }
    return out;
  }

  /**
   * Block {@code i} as held by the executors: matrices (2-D tensors) stored as BF16 or F16 stay 16-bit in memory
   * ({@link HalfTensor}) and are widened one linear at a time where used; the rest is read in fp32. A LLaMA-7B block
   * takes 0.40 GB so from bf16 files, against 0.81 GB in fp32, and computes the same values.
   */
  public DecoderBlock block(int i) {
    if (i < 0 || i >= spec.numLayers()) {
      throw new IllegalArgumentException("Block " + i + " out of range [0, " + spec.numLayers() + ")");
    }
    Map<String, Tensor> fp32 = new LinkedHashMap<>();
    Map<String, HalfTensor> halves = new LinkedHashMap<>();
    readStored(spec.blockTensorShapes(), spec.blockPrefix(i), null, fp32, halves);
    return DecoderBlock.of(spec, fp32, halves);
  }

  /**
   * The globals as held by the executors ({@link CausalLm#globalsOnly(ModelSpec, Map, Map)}): the embedding table, the
   * head and OPT's projections stay 16-bit when stored so (LLaMA-7B: 0.52 GB instead of 1.05 GB).
   */
  public CausalLm globals() {
    Map<String, Tensor> fp32 = new LinkedHashMap<>();
    Map<String, HalfTensor> halves = new LinkedHashMap<>();
    readStored(spec.globalTensorShapes(), "", "model.decoder.embed_positions.weight", fp32, halves);
    return CausalLm.globalsOnly(spec, fp32, halves);
  }

  /**
   * Reads the tensors of {@code shapes} (names relative to {@code prefix}, keys kept relative): a matrix (2-D) stored as
   * BF16 or F16 into {@code halves} as its 16-bit patterns, everything else (and {@code fp32Only}) into {@code fp32}.
   */
  private void readStored(Map<String, long[]> shapes, String prefix, String fp32Only, Map<String, Tensor> fp32,
      Map<String, HalfTensor> halves) {
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      String name = prefix + e.getKey();
      HalfTensor h = e.getValue().length == 2 && !e.getKey().equals(fp32Only) ? half(name, e.getValue()) : null;
      if (h != null) {
        halves.put(e.getKey(), h);
      } else {
        fp32.put(e.getKey(), tensor(name, e.getValue()));
      }
    }
  }

  /** The tensor as its 16-bit patterns if it is stored as BF16 or F16, else null. */
  private HalfTensor half(String name, long[] expectedShape) {
    if (storedQuantized(name) || storedFactored(name)) { // computed in fp32 by tensor(): need not be 16-bit values
      return null;
    }
    SafetensorsFile.Entry e = entry(name, expectedShape);
    if (e.dtype() != DType.BF16 && e.dtype() != DType.F16) {
      return null;
    }
    return HalfTensor.fromLittleEndian(e.shape(), e.dtype(), fileOfTensor.get(name).readHalfBytes(name));
  }

  /** Reads the embeddings, final norm and head (full names). */
  public Map<String, Tensor> loadGlobals() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> e : spec.globalTensorShapes().entrySet()) {
      out.put(e.getKey(), tensor(e.getKey(), e.getValue()));
    }
    return out;
  }

  /**
   * The whole model as the executors hold it: matrices stored BF16 or F16 stay 16-bit ({@link #block}, {@link #globals}),
   * half the memory of {@link #loadModel} and the same values. What a frozen base needs (LoRA), not what an optimizer
   * updates.
   */
  public CausalLm loadStoredModel() {
    java.util.List<DecoderBlock> blocks = new java.util.ArrayList<>();
    for (int i = 0; i < spec.numLayers(); i++) {
      blocks.add(block(i));
    }
    return globals().withBlocks(blocks);
  }

  /** Loads the whole model for the forward pass. */
  public CausalLm loadModel() {
    java.util.List<DecoderBlock> blocks = new java.util.ArrayList<>();
    for (int i = 0; i < spec.numLayers(); i++) {
      blocks.add(DecoderBlock.of(spec, loadBlock(i)));
    }
    return new CausalLm(spec, loadGlobals(), blocks);
  }
}
