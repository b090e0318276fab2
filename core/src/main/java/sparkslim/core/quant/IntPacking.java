package sparkslim.core.quant;

/**
 * Packs b-bit unsigned values into int32 words as a little-endian bit stream along the last axis: value i of a row
 * occupies bits [i·b, i·b + b) of the row's stream, word k holding stream bits [32k, 32k + 32), so a 3-bit value may
 * cross a word boundary. This is compressed-tensors 0.18's {@code pack_to_int32} (docs/depth_quant.md §2.7) and, for
 * b ∈ {2, 4, 8}, also GPTQ's word layout along its packed axis (§2.6: input row r·f + t at bits b·t of word r). For
 * 4 bits, values 1, 2, …, 8 give the word 0x87654321.
 */
public final class IntPacking {
  private IntPacking() {}

  /** The words per row for {@code cols} values of {@code bits} bits: ceil(cols·bits / 32). */
  public static int words(int cols, int bits) {
    return (int) (((long) cols * bits + 31) / 32);
  }

  /**
   * @param values (rows, cols) unsigned values, each in [0, 2^bits)
   * @return (rows, words(cols, bits)) packed words
   */
  public static int[] pack(int[] values, int rows, int cols, int bits) {
    int words = words(cols, bits);
    int[] out = new int[rows * words]; // (rows, words)
    int mask = (1 << bits) - 1;
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        int v = values[r * cols + c];
        if ((v & ~mask) != 0) {
          throw new IllegalArgumentException("value " + v + " at (" + r + ", " + c + ") does not fit " + bits + " bits");
        }
        long bit = (long) c * bits;
        int word = (int) (bit >>> 5);
        int shift = (int) (bit & 31);
        out[r * words + word] |= v << shift;
        if (shift + bits > 32) {
          out[r * words + word + 1] |= v >>> (32 - shift);
        }
      }
    }
    return out;
  }

  /**
   * @param packed (rows, words(cols, bits)) packed words
   * @return (rows, cols) unsigned values
   */
  public static int[] unpack(int[] packed, int rows, int cols, int bits) {
    int words = words(cols, bits);
    if (packed.length != (long) rows * words) {
      throw new IllegalArgumentException(packed.length + " words for (" + rows + ", " + cols + ") values of " + bits
          + " bits, expected " + (long) rows * words);
    }
    int[] out = new int[rows * cols]; // (rows, cols)
    int mask = (1 << bits) - 1;
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        long bit = (long) c * bits;
        int word = (int) (bit >>> 5);
        int shift = (int) (bit & 31);
        int v = packed[r * words + word] >>> shift;
        if (shift + bits > 32) {
          v |= packed[r * words + word + 1] << (32 - shift);
        }
        out[r * cols + c] = v & mask;
      }
    }
    return out;
  }

  /** int32 values as little-endian bytes (safetensors' I32, the shard table's packed columns). */
  public static byte[] toLittleEndian(int[] values) {
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 * values.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(values);
    return b.array();
  }

  /** The inverse of {@link #toLittleEndian}. */
  public static int[] fromLittleEndian(byte[] bytes) {
    int[] out = new int[bytes.length / 4];
    java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out);
    return out;
  }

  /** (rows, cols) → (cols, rows). */
  public static int[] transpose(int[] a, int rows, int cols) {
    int[] t = new int[a.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        t[c * rows + r] = a[r * cols + c];
      }
    }
    return t;
  }
}
