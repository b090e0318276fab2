package sparkslim.core.io;

/** Bit-exact conversions between fp32 and the 16-bit float formats (IEEE half, bfloat16), round to nearest even. */
public final class HalfFloats {
  private HalfFloats() {}

  /** {@code v} rounded to {@code dtype}'s precision (round to nearest even; F32 unchanged), as an fp32 value. */
  public static float round(float v, DType dtype) {
    switch (dtype) {
      case F32:
        return v;
      case BF16:
        return bf16ToFloat(floatToBf16(v));
      case F16:
        return f16ToFloat(floatToF16(v));
      default:
        throw new IllegalArgumentException("not a floating dtype: " + dtype);
    }
  }

  public static float bf16ToFloat(short bits) {
    return Float.intBitsToFloat((bits & 0xffff) << 16);
  }

  public static short floatToBf16(float value) {
    int bits = Float.floatToRawIntBits(value);
    if ((bits & 0x7fffffff) > 0x7f800000) {
      return (short) ((bits >>> 16) | 0x0040); // quiet NaN
    }
    int rounding = 0x7fff + ((bits >>> 16) & 1);
    return (short) ((bits + rounding) >>> 16);
  }

  /** IEEE 754 binary16 to binary32 (exact). */
  public static float f16ToFloat(short half) {
    int h = half & 0xffff;
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1f;
    int mant = h & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    if (exp == 0) {
      if (mant == 0) {
        return Float.intBitsToFloat(sign);
      }
      // subnormal half: value = mant * 2^-24, exactly representable in fp32
      float v = mant * 0x1p-24f;
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  /** IEEE 754 binary32 to binary16, round to nearest even, overflow to infinity. */
  public static short floatToF16(float value) {
    int bits = Float.floatToRawIntBits(value);
    int sign = (bits >>> 16) & 0x8000;
    int abs = bits & 0x7fffffff;
    if (abs > 0x7f800000) {
      return (short) (sign | 0x7e00); // NaN
    }
    if (abs >= 0x477ff000) { // rounds to >= 65520 -> infinity
      return (short) (sign | 0x7c00);
    }
    if (abs < 0x38800000) { // below the smallest normal half (2^-14): subnormal or zero
      float a = Float.intBitsToFloat(abs);
      int m = Math.round(a * 0x1p24f); // Math.round is half-up; fix ties to even below
      float exact = a * 0x1p24f;
      if (exact - Math.floor(exact) == 0.5 && (m & 1) == 1) {
        m -= 1;
      }
      return (short) (sign | m);
    }
    int exp = (abs >>> 23) - 112;
    int mant = abs & 0x7fffff;
    int half = (exp << 10) | (mant >>> 13);
    int rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
      half += 1; // may carry into the exponent, which is the correct rounding
    }
    return (short) (sign | half);
  }
}
