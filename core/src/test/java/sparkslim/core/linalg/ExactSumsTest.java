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
}
