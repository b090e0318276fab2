package sparkslim.core.calib;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Expected values were produced by CPython 3 ({@code import random}) and are hard-coded here. */
class PythonRandomTest {
  @Test
  void randintMatchesCpythonForSeedZero() {
    // random.seed(0); [random.randint(0, 639575) for _ in range(5)]
    PythonRandom r = new PythonRandom(0);
    long[] expected = {403958, 441001, 42450, 271493, 536110};
    long[] actual = new long[expected.length];
    for (int i = 0; i < actual.length; i++) {
      actual[i] = r.randint(0, 639575);
    }
    assertArrayEquals(expected, actual);
  }

  @Test
  void genrandAndGetrandbits32MatchCpython() {
    // random.seed(0); [random.getrandbits(32) for _ in range(3)]
    PythonRandom r = new PythonRandom(0);
    assertEquals(3626764237L, r.genrandUint32());
    assertEquals(1654615998L, r.getrandbits(32));
    assertEquals(3255389356L, r.getrandbits(32));
  }

  @Test
  void seedAbove2To32UsesTwoKeyWordsAndGetrandbits64CombinesLeastSignificantFirst() {
    // random.seed(12345678901); [random.getrandbits(64) for _ in range(3)]
    PythonRandom r = new PythonRandom(12345678901L);
    assertEquals(Long.parseUnsignedLong("11005050262005863573"), r.getrandbits(64));
    assertEquals(Long.parseUnsignedLong("16014270994633444883"), r.getrandbits(64));
    assertEquals(Long.parseUnsignedLong("6532909695705815086"), r.getrandbits(64));
  }

  @Test
  void randintAbove2To32DrawsPartialTopWord() {
    // random.seed(12345678901); [random.randint(0, 10**12) for _ in range(3)]  (40-bit draws)
    PythonRandom r = new PythonRandom(12345678901L);
    assertEquals(656898118805L, r.randint(0, 1_000_000_000_000L));
    assertEquals(954891488787L, r.randint(0, 1_000_000_000_000L));
    assertEquals(388195424302L, r.randint(0, 1_000_000_000_000L));
  }

  @Test
  void negativeSeedsUseTheMagnitude() {
    // random.seed(-5); [random.randint(0, 100) for _ in range(3)]
    PythonRandom r = new PythonRandom(-5);
    assertEquals(79, r.randint(0, 100));
    assertEquals(32, r.randint(0, 100));
    assertEquals(94, r.randint(0, 100));
    // random.seed(-2**63); [random.getrandbits(32) for _ in range(2)]
    PythonRandom min = new PythonRandom(Long.MIN_VALUE);
    assertEquals(2377109768L, min.getrandbits(32));
    assertEquals(1691753470L, min.getrandbits(32));
    // random.seed(2**32): key [0, 1]
    PythonRandom pow = new PythonRandom(1L << 32);
    assertEquals(485306839L, pow.getrandbits(32));
    assertEquals(1508871100L, pow.getrandbits(32));
  }

  @Test
  void rejectsInvalidArguments() {
    PythonRandom r = new PythonRandom(0);
    assertEquals(0, r.getrandbits(0));
    assertThrows(IllegalArgumentException.class, () -> r.getrandbits(65));
    assertThrows(IllegalArgumentException.class, () -> r.randbelow(0));
    assertThrows(IllegalArgumentException.class, () -> r.randint(5, 4));
  }
}
