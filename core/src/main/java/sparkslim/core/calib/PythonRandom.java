package sparkslim.core.calib;

/**
 * An exact port of the parts of CPython's {@code random.Random} that SparseGPT's calibration sampler uses: the MT19937
 * generator seeded like {@code random.seed(int)}, {@code getrandbits}, {@code _randbelow} and {@code randint}. The
 * same seed gives the same numbers as Python, so calibration windows match the reference code exactly.
 *
 * <p>Not thread-safe; use one instance per sampling run.
 */
public final class PythonRandom {
  /** MT19937 state size in 32-bit words. */
  private static final int N = 624;
  /** MT19937 middle word offset. */
  private static final int M = 397;
  private static final int MATRIX_A = 0x9908b0df;
  private static final int UPPER_MASK = 0x80000000;
  private static final int LOWER_MASK = 0x7fffffff;
  /** The seed {@code init_by_array} starts from before mixing in the key (from the reference mt19937ar.c). */
  private static final int INIT_BY_ARRAY_SEED = 19650218;
  private static final int INIT_MULTIPLIER = 1812433253;
  private static final int ARRAY_MULTIPLIER_1 = 1664525;
  private static final int ARRAY_MULTIPLIER_2 = 1566083941;
  private static final int TEMPER_MASK_B = 0x9d2c5680;
  private static final int TEMPER_MASK_C = 0xefc60000;
  private static final int WORD_BITS = 32;
  private static final long WORD_MASK = 0xffffffffL;
  /** The widest value {@link #getrandbits} can return in a Java {@code long} (as an unsigned 64-bit value). */
  public static final int MAX_BITS = 64;

  private final int[] mt = new int[N];
  private int mti;

  /** Equivalent to {@code r = random.Random(); r.seed(seed)} in Python for an integer seed. */
  public PythonRandom(long seed) {
    seed(seed);
  }

  /**
   * Re-seeds like {@code random.seed(seed)}: the key is the 32-bit words of {@code |seed|}, least significant first,
   * with seed 0 giving the key {@code [0]}.
   */
  public void seed(long seed) {
    long magnitude = Math.abs(seed); // Long.MIN_VALUE stays 2^63 when read as unsigned, which is what we want
    int low = (int) (magnitude & WORD_MASK);
    int high = (int) (magnitude >>> WORD_BITS);
    initByArray(high == 0 ? new int[] {low} : new int[] {low, high});
  }

  private void initGenrand(int s) {
    mt[0] = s;
    for (mti = 1; mti < N; mti++) {
      mt[mti] = INIT_MULTIPLIER * (mt[mti - 1] ^ (mt[mti - 1] >>> 30)) + mti;
    }
  }

  private void initByArray(int[] key) {
    initGenrand(INIT_BY_ARRAY_SEED);
    int i = 1;
    int j = 0;
    for (int k = Math.max(N, key.length); k > 0; k--) {
      mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >>> 30)) * ARRAY_MULTIPLIER_1)) + key[j] + j;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) {
        j = 0;
      }
    }
    for (int k = N - 1; k > 0; k--) {
      mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >>> 30)) * ARRAY_MULTIPLIER_2)) - i;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = UPPER_MASK; // MSB is 1, assuring a non-zero initial array
  }

  private void twist() {
    for (int kk = 0; kk < N; kk++) {
      int y = (mt[kk] & UPPER_MASK) | (mt[(kk + 1) % N] & LOWER_MASK);
      mt[kk] = mt[(kk + M) % N] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
    }
    mti = 0;
  }

  /** The next raw 32-bit output of MT19937, in {@code [0, 2^32)}. */
  public long genrandUint32() {
    if (mti >= N) {
      twist();
    }
    int y = mt[mti++];
    y ^= y >>> 11;
    y ^= (y << 7) & TEMPER_MASK_B;
    y ^= (y << 15) & TEMPER_MASK_C;
    y ^= y >>> 18;
    return y & WORD_MASK;
  }

  /**
   * Like Python's {@code getrandbits(k)} for {@code 0 <= k <= 64}. For {@code k > 32} the 32-bit words fill the result
   * from the least significant end, the last word keeping only its top bits, as CPython does. A 64-bit result is
   * returned as the bits of an unsigned value (use {@link Long#toUnsignedString(long)} to print it).
   */
  public long getrandbits(int k) {
    if (k < 0 || k > MAX_BITS) {
      throw new IllegalArgumentException("getrandbits(k) needs 0 <= k <= " + MAX_BITS + ", got " + k);
    }
    long result = 0;
    for (int shift = 0; shift < k; shift += WORD_BITS) {
      long word = genrandUint32();
      int remaining = k - shift;
      if (remaining < WORD_BITS) {
        word >>>= WORD_BITS - remaining;
      }
      result |= word << shift;
    }
    return result;
  }

  /** Like Python's {@code _randbelow(n)}: a uniform value in {@code [0, n)} by rejection on {@code getrandbits}. */
  public long randbelow(long n) {
    if (n <= 0) {
      throw new IllegalArgumentException("randbelow(n) needs n > 0, got " + n);
    }
    int k = Long.SIZE - Long.numberOfLeadingZeros(n); // n.bit_length()
    long r = getrandbits(k);
    while (r >= n) {
      r = getrandbits(k);
    }
    return r;
  }

  /**
   * Like Python's {@code shuffle(x)} (CPython 3.11): for i from len − 1 down to 1, swap x[i] with x[randbelow(i + 1)].
   * The same seed gives the same order as {@code random.Random(seed).shuffle(x)}.
   */
  public void shuffle(int[] x) {
    for (int i = x.length - 1; i >= 1; i--) {
      int j = (int) randbelow(i + 1L);
      int t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
  }

  /** Like Python's {@code randint(a, b)}: a uniform value in {@code [a, b]}, both ends included. */
  public long randint(long a, long b) {
    if (b < a) {
      throw new IllegalArgumentException("randint(a, b) needs a <= b, got a=" + a + ", b=" + b);
    }
    return a + randbelow(Math.addExact(Math.subtractExact(b, a), 1));
  }
}
