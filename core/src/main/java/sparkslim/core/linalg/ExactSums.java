package sparkslim.core.linalg;

import java.io.Serializable;

/**
 * A vector of sums that do not depend on the order of addition: each value is kept as a 128-bit two's-complement
 * fixed-point integer with 64 fractional bits (range ±9.2e18, resolution 5.4e-20). Integer addition is associative,
 * so partial sums merged in any order, over any partitioning, give bitwise identical totals; this is what makes
 * Spark's {@code treeAggregate} (whose merge order varies from run to run) reproducible.
 * Each added double is truncated toward zero at 2^-64; {@link #toDouble} rounds the exact total once.
 */
public final class ExactSums implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final int FRACTION_BITS = 64;
  private final long[] hi; // integer part (signed)
  private final long[] lo; // fraction bits (unsigned)

  public ExactSums(int size) {
    this.hi = new long[size];
    this.lo = new long[size];
  }

  public int size() {
    return hi.length;
  }

  /** this[offset + i] += values[i] for every i. */
  public void add(double[] values, int offset) {
    add(values, 0, values.length, offset);
  }

  /** this[offset + i] += values[from + i] for i in [0, length). */
  public void add(double[] values, int from, int length, int offset) {
    for (int i = 0; i < length; i++) {
      add(offset + i, values[from + i]);
    }
  }

  public void add(int index, double value) {
    if (value == 0.0) {
      return;
    }
    if (Double.isNaN(value) || Double.isInfinite(value) || Math.abs(value) >= 0x1p62) {
      throw new ArithmeticException("Cannot accumulate " + value + " exactly (|value| must be finite and < 2^62)");
    }
    long bits = Double.doubleToRawLongBits(Math.abs(value));
    int exp = (int) ((bits >>> 52) & 0x7ff);
    long mantissa = bits & 0xfffffffffffffL;
    if (exp == 0) {
      exp = 1; // subnormal
    } else {
      mantissa |= 1L << 52;
    }
    // |value| = mantissa · 2^(exp − 1075); fixed = mantissa · 2^(exp − 1075 + 64)
    int shift = exp - 1075 + FRACTION_BITS;
    long h;
    long l;
    if (shift >= 64) {
      h = mantissa << (shift - 64);
      l = 0;
    } else if (shift > 0) {
      h = mantissa >>> (64 - shift);
      l = mantissa << shift;
    } else if (shift > -64) {
      h = 0;
      l = mantissa >>> -shift;
    } else {
      return; // below the resolution
    }
    if (value < 0) { // two's complement negate of (h, l)
      l = ~l + 1;
      h = ~h + (l == 0 ? 1 : 0);
    }
    long newLo = lo[index] + l;
    hi[index] += h + (Long.compareUnsigned(newLo, lo[index]) < 0 ? 1 : 0);
    lo[index] = newLo;
  }

  /** this += other, element-wise. */
  public ExactSums merge(ExactSums other) {
    if (other.size() != size()) {
      throw new IllegalArgumentException("Cannot merge sums of size " + other.size() + " into size " + size());
    }
    for (int i = 0; i < hi.length; i++) {
      long newLo = lo[i] + other.lo[i];
      hi[i] += other.hi[i] + (Long.compareUnsigned(newLo, lo[i]) < 0 ? 1 : 0);
      lo[i] = newLo;
    }
    return this;
  }

  public double toDouble(int index) {
    long h = hi[index];
    long l = lo[index];
    // value = h + l·2^-64 with l unsigned; both terms are exact until this final rounding pair
    double fraction = (l >>> 11) * 0x1p-53;
    return h + fraction;
  }

  public double[] toDoubles() {
    double[] out = new double[hi.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = toDouble(i);
    }
    return out;
  }

  /** A copy of entries [from, to), e.g. to ship a large sum to the driver in pieces. */
  public ExactSums slice(int from, int to) {
    if (from < 0 || to < from || to > hi.length) {
      throw new IllegalArgumentException("Cannot slice [" + from + ", " + to + ") of " + hi.length + " sums");
    }
    ExactSums part = new ExactSums(to - from);
    System.arraycopy(hi, from, part.hi, 0, to - from);
    System.arraycopy(lo, from, part.lo, 0, to - from);
    return part;
  }

  /** this[offset + i] += part[i] for every entry of {@code part} (merge of a {@link #slice}). */
  public ExactSums mergeAt(int offset, ExactSums part) {
    if (offset < 0 || offset + part.size() > size()) {
      throw new IllegalArgumentException("Cannot merge " + part.size() + " sums at offset " + offset + " into size " + size());
    }
    for (int i = 0; i < part.hi.length; i++) {
      int k = offset + i;
      long newLo = lo[k] + part.lo[i];
      hi[k] += part.hi[i] + (Long.compareUnsigned(newLo, lo[k]) < 0 ? 1 : 0);
      lo[k] = newLo;
    }
    return this;
  }

  /** Writes {@link #toDouble} of every entry to {@code target[offset + i]}. */
  public void decodeInto(double[] target, int offset) {
    for (int i = 0; i < hi.length; i++) {
      target[offset + i] = toDouble(i);
    }
  }
}
