package sparkslim.core.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;
import sparkslim.core.io.DType;
import sparkslim.core.io.SafetensorsWriter;
import sparkslim.core.model.CausalLm;
import sparkslim.core.model.LoraAdapter;
import sparkslim.core.model.ModelSpec;

/**
 * Writes a model's LoRA adapters as a PEFT adapter directory: {@code adapter_model.safetensors} with
 * {@code base_model.model.<block prefix><linear>.lora_A.weight} (r, in) and {@code .lora_B.weight} (out, r) in fp32, and
 * {@code adapter_config.json} (peft_type LORA, r, lora_alpha, lora_dropout, target_modules, bias none, task_type
 * CAUSAL_LM), the layout {@code PeftModel.from_pretrained} loads next to the unadapted base.
 */
public final class PeftAdapterWriter {
  private PeftAdapterWriter() {}

  /** PEFT's prefix in front of a transformers parameter name. */
  public static final String PREFIX = "base_model.model.";

  public static void write(CausalLm adapted, double dropout, String baseModel, FileSystem fs, Path dir) {
    ModelSpec spec = adapted.spec();
    List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
    Set<String> targets = new TreeSet<>();
    int rank = -1;
    double alpha = 0;
    for (int i = 0; i < adapted.numBlocks(); i++) {
      for (Map.Entry<String, LoraAdapter> e : adapted.blocks().get(i).adapters().entrySet()) {
        LoraAdapter a = e.getValue();
        long[] shape = spec.blockTensorShapes().get(e.getKey() + ".weight"); // (out, in)
        String name = PREFIX + spec.blockPrefix(i) + e.getKey();
        tensors.add(SafetensorsWriter.Tensor.ofFloats(name + ".lora_A.weight", DType.F32, new long[] {a.rank(), shape[1]}, a.a()));
        tensors.add(SafetensorsWriter.Tensor.ofFloats(name + ".lora_B.weight", DType.F32, new long[] {shape[0], a.rank()}, a.b()));
        targets.add(e.getKey().substring(e.getKey().lastIndexOf('.') + 1));
        rank = a.rank();
        alpha = a.alpha();
      }
    }
    if (tensors.isEmpty()) {
      throw new IllegalArgumentException("The model has no LoRA adapters to write");
    }
    tensors.sort(java.util.Comparator.comparing(SafetensorsWriter.Tensor::name));
    SafetensorsWriter.writeFile(fs, new Path(dir, "adapter_model.safetensors"), tensors, Map.of("format", "pt"));
    ObjectMapper json = new ObjectMapper();
    ObjectNode config = json.createObjectNode();
    config.put("peft_type", "LORA");
    config.put("task_type", "CAUSAL_LM");
    config.put("base_model_name_or_path", baseModel);
    config.put("r", rank);
    config.put("lora_alpha", alpha);
    config.put("lora_dropout", dropout);
    config.put("bias", "none");
    config.put("fan_in_fan_out", false);
    config.put("inference_mode", true);
    ArrayNode modules = config.putArray("target_modules");
    targets.forEach(modules::add);
    try (OutputStream out = fs.create(new Path(dir, "adapter_config.json"), true)) {
      out.write(json.writerWithDefaultPrettyPrinter().writeValueAsString(config).getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new SparkslimException("Cannot write " + new Path(dir, "adapter_config.json") + ": " + e.getMessage(), e);
    }
  }
}
