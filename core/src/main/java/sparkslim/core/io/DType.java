package sparkslim.core.io;

import sparkslim.core.SparkslimException;

/** Safetensors element types that sparkslim reads. Floating types are upcast to fp32 on read. */
public enum DType {
  F32(4), F16(2), BF16(2), I64(8), I32(4);

  private final int bytes;

  DType(int bytes) {
    this.bytes = bytes;
  }

  public int bytes() {
    return bytes;
  }

  public boolean isFloating() {
    return this == F32 || this == F16 || this == BF16;
  }

  /** Parses a safetensors dtype string; {@code where} names the file and tensor for the error message. */
  public static DType parse(String name, String where) {
    for (DType t : values()) {
      if (t.name().equals(name)) {
        return t;
      }
    }
    throw new SparkslimException(where + ": unsupported dtype '" + name
        + "' (expected one of F32, F16, BF16 for weights; I64 or I32 for token ids)");
  }

  /** Parses a user-facing dtype name as written in config ("float32", "fp16", "bf16", ...). */
  public static DType parseFloating(String name, String key) {
    switch (name.toLowerCase(java.util.Locale.ROOT)) {
      case "f32": case "fp32": case "float32": case "float": return F32;
      case "f16": case "fp16": case "float16": case "half": return F16;
      case "bf16": case "bfloat16": return BF16;
      default:
        throw new SparkslimException("'" + key + "' is set to '" + name + "' but must be one of float32, float16, bfloat16");
    }
  }

  /** The HuggingFace config.json spelling ("float32", "float16", "bfloat16"). */
  public String hfName() {
    switch (this) {
      case F32: return "float32";
      case F16: return "float16";
      case BF16: return "bfloat16";
      default: return name().toLowerCase(java.util.Locale.ROOT);
    }
  }
}
