package sparkslim.core.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ExactSumsTest {
  @Test
  void sumIsIndependentOfOrderAndGrouping() {
    Random rnd = new Random(3);
    List<Double> values = new ArrayList<>();
    for (int i = 0; i < 5000; i++) {
      values.add(rnd.nextGaussian() * Math.pow(10, rnd.nextInt(12) - 4));
    }
    ExactSums sequential = new ExactSums(1);
    double naive = 0;
    for (double v : values) {
      sequential.add(0, v);
      naive += v;
    }
    for (int trial = 0; trial < 5; trial++) {
      Collections.shuffle(values, rnd);
      int parts = 1 + rnd.nextInt(9);
      List<ExactSums> partials = new ArrayList<>();
      for (int p = 0; p < parts; p++) {
        partials.add(new ExactSums(1));
      }
      for (int i = 0; i < values.size(); i++) {
        partials.get(i % parts).add(0, values.get(i));
      }
      Collections.shuffle(partials, rnd);
      ExactSums merged = new ExactSums(1);
      partials.forEach(merged::merge);
      assertEquals(Double.doubleToLongBits(sequential.toDouble(0)), Double.doubleToLongBits(merged.toDouble(0)));
    }
    assertEquals(naive, sequential.toDouble(0), Math.abs(naive) * 1e-9 + 1e-9);
  }

  @Test
  void representsSmallAndNegativeValues() {
    ExactSums s = new ExactSums(3);
    s.add(0, -1.5);
    s.add(1, 0x1p-40);
    s.add(2, 12345.678);
    s.add(2, -12345.678);
    assertEquals(-1.5, s.toDouble(0));
    assertEquals(0x1p-40, s.toDouble(1));
    assertEquals(0.0, s.toDouble(2));
  }

  /** The fixed-point value of {@code value}, built from its exponent and mantissa bits: the add's specification. */
  private static java.math.BigInteger fixedPoint(double value) {
    return new java.math.BigDecimal(value).multiply(new java.math.BigDecimal(java.math.BigInteger.ONE.shiftLeft(64))).toBigInteger();
  }

  /** The exact total of entry i, from the carry-save digits: hi·2^64 + mid·2^32 + lo. */
  private static java.math.BigInteger total(ExactSums s, int i) throws Exception {
    java.math.BigInteger t = java.math.BigInteger.ZERO;
    for (String name : new String[] {"hi", "mid", "lo"}) {
      java.lang.reflect.Field f = ExactSums.class.getDeclaredField(name);
      f.setAccessible(true);
      t = t.shiftLeft(32).add(java.math.BigInteger.valueOf(((long[]) f.get(s))[i]));
    }
    return t;
  }

  @Test
  void serializationKeepsTheExactValues() throws Exception {
    Random rnd = new Random(11);
    ExactSums s = new ExactSums(64);
    for (int k = 0; k < 1000; k++) {
      s.add(rnd.nextInt(64), (rnd.nextBoolean() ? -1 : 1) * Math.scalb(rnd.nextDouble(), rnd.nextInt(80) - 60));
    }
    java.math.BigInteger[] before = new java.math.BigInteger[64];
    for (int i = 0; i < 64; i++) {
      before[i] = total(s, i);
    }
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    try (java.io.ObjectOutputStream out = new java.io.ObjectOutputStream(bytes)) {
      out.writeObject(s);
    }
    ExactSums read;
    try (java.io.ObjectInputStream in = new java.io.ObjectInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray()))) {
      read = (ExactSums) in.readObject();
    }
    for (int i = 0; i < 64; i++) {
      assertEquals(before[i], total(read, i), "entry " + i);
      assertEquals(Double.doubleToLongBits(s.toDouble(i)), Double.doubleToLongBits(read.toDouble(i)), "entry " + i);
    }
    read.merge(s);
    for (int i = 0; i < 64; i++) {
      assertEquals(before[i].shiftLeft(1), total(read, i), "entry " + i);
    }
  }

  @Test
  void eachAddIsTheValueTruncatedTowardZeroAt2ToTheMinus64() throws Exception {
    Random rnd = new Random(7);
    double[] edges = {1.0, -1.0, 0x1p-64, -0x1p-64, 0x1p-65, -0x1p-65, 0x1.8p-64, -0x1.8p-64, 0.5, -0.5, 0x1p61, -0x1p61,
        Math.nextDown(0x1p62), -Math.nextDown(0x1p62), Double.MIN_VALUE, -Double.MIN_VALUE, 0x1p52 + 1, -(0x1p52 + 1),
        Math.nextDown(1.0), -Math.nextDown(1.0), 1 + 0x1p-52, -(1 + 0x1p-52), 0x1.fffffffffffffp-1, -3.75};
    java.math.BigInteger expected = java.math.BigInteger.ZERO;
    ExactSums s = new ExactSums(1);
    for (int i = 0; i < 200_000; i++) {
      double v = i < edges.length ? edges[i]
          : (rnd.nextBoolean() ? -1 : 1) * Math.scalb(1 + rnd.nextDouble(), rnd.nextInt(110) - 68);
      ExactSums one = new ExactSums(1);
      one.add(0, v);
      assertEquals(fixedPoint(v), total(one, 0), "value " + v);
      s.add(0, v);
      expected = expected.add(fixedPoint(v));
    }
    assertEquals(expected, total(s, 0));
  }
}
