package sparkslim.core.model;

/** Decoder architectures the forward pass implements, keyed by HuggingFace {@code model_type}. */
public enum Architecture {
  LLAMA("llama"), OPT("opt");

  private final String modelType;

  Architecture(String modelType) {
    this.modelType = modelType;
  }

  public String modelType() {
    return modelType;
  }
}
