package sparkslim.core.report;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * A line chart as PNG bytes (a loss curve, a sweep's PPL against size): axes with round ticks, one polyline per series,
 * a title and a legend. It draws every pixel itself, text with a built-in 5x7 bitmap font, so it needs no fonts, no
 * display and no native library, and the same data give the same bytes on every machine.
 */
public final class LinePlot {
  /** One series: its name in the legend and its points (x ascending for a line). */
  public record Series(String name, double[] x, double[] y) {}

  private static final int WIDTH = 900;
  private static final int HEIGHT = 540;
  private static final int LEFT = 96;
  private static final int RIGHT = 24;
  private static final int TOP = 56;
  private static final int BOTTOM = 64;
  private static final int SCALE = 2; // font pixels per glyph pixel
  private static final int[] COLORS = {0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e, 0x9467bd, 0x8c564b};
  private static final Map<Character, int[]> GLYPHS = glyphs();

  private LinePlot() {}

  /** The chart as PNG bytes. */
  public static byte[] png(String title, String xLabel, String yLabel, List<Series> series) {
    BufferedImage img = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
    fill(img, 0, 0, WIDTH, HEIGHT, 0xffffff);
    double xMin = Double.POSITIVE_INFINITY;
    double xMax = Double.NEGATIVE_INFINITY;
    double yMin = Double.POSITIVE_INFINITY;
    double yMax = Double.NEGATIVE_INFINITY;
    for (Series s : series) {
      for (int i = 0; i < s.x().length; i++) {
        if (Double.isFinite(s.x()[i]) && Double.isFinite(s.y()[i])) {
          xMin = Math.min(xMin, s.x()[i]);
          xMax = Math.max(xMax, s.x()[i]);
          yMin = Math.min(yMin, s.y()[i]);
          yMax = Math.max(yMax, s.y()[i]);
        }
      }
    }
    if (!(xMin <= xMax)) { // no finite point
      xMin = 0;
      xMax = 1;
      yMin = 0;
      yMax = 1;
    }
    double[] xTicks = ticks(xMin, xMax);
    double[] yTicks = ticks(yMin, yMax);
    double x0 = xTicks[0];
    double x1 = xTicks[xTicks.length - 1];
    double y0 = yTicks[0];
    double y1 = yTicks[yTicks.length - 1];
    int plotW = WIDTH - LEFT - RIGHT;
    int plotH = HEIGHT - TOP - BOTTOM;
    for (double t : yTicks) { // grid and tick labels
      int py = TOP + plotH - (int) Math.round((t - y0) / (y1 - y0) * plotH);
      line(img, LEFT, py, LEFT + plotW, py, 0xe6e6e6);
      String label = format(t, yTicks);
      text(img, LEFT - 8 - textWidth(label), py - 7, label, 0x333333);
    }
    for (double t : xTicks) {
      int px = LEFT + (int) Math.round((t - x0) / (x1 - x0) * plotW);
      line(img, px, TOP, px, TOP + plotH, 0xe6e6e6);
      String label = format(t, xTicks);
      text(img, px - textWidth(label) / 2, TOP + plotH + 8, label, 0x333333);
    }
    line(img, LEFT, TOP, LEFT, TOP + plotH, 0x000000);
    line(img, LEFT, TOP + plotH, LEFT + plotW, TOP + plotH, 0x000000);
    text(img, (WIDTH - textWidth(title)) / 2, 4, title, 0x000000);
    text(img, LEFT + (plotW - textWidth(xLabel)) / 2, HEIGHT - 24, xLabel, 0x000000);
    text(img, 8, TOP - 32, yLabel, 0x000000);
    for (int k = 0; k < series.size(); k++) {
      Series s = series.get(k);
      int color = COLORS[k % COLORS.length];
      int px = -1;
      int py = -1;
      for (int i = 0; i < s.x().length; i++) {
        if (!Double.isFinite(s.x()[i]) || !Double.isFinite(s.y()[i])) {
          px = -1;
          continue;
        }
        int cx = LEFT + (int) Math.round((s.x()[i] - x0) / (x1 - x0) * plotW);
        int cy = TOP + plotH - (int) Math.round((s.y()[i] - y0) / (y1 - y0) * plotH);
        if (px >= 0) {
          thickLine(img, px, py, cx, cy, color);
        } else if (s.x().length == 1 || i + 1 == s.x().length || !Double.isFinite(s.y()[i + 1])) {
          fill(img, cx - 2, cy - 2, 5, 5, color); // a lone point
        }
        px = cx;
        py = cy;
      }
      int ly = TOP + 8 + 20 * k; // legend, top right
      String name = s.name();
      int lx = LEFT + plotW - textWidth(name) - 40;
      fill(img, lx, ly + 5, 24, 4, color);
      text(img, lx + 30, ly, name, 0x000000);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      ImageIO.write(img, "png", out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** Round ticks (1, 2 or 5 × 10^k apart) covering [lo, hi], 4 to 11 of them. */
  static double[] ticks(double lo, double hi) {
    if (hi <= lo) {
      double pad = lo == 0 ? 1 : Math.abs(lo) * 0.05;
      lo -= pad;
      hi += pad;
    }
    double raw = (hi - lo) / 6;
    double mag = Math.pow(10, Math.floor(Math.log10(raw)));
    double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
    double first = Math.floor(lo / step) * step;
    double last = Math.ceil(hi / step) * step;
    int n = (int) Math.round((last - first) / step) + 1;
    double[] t = new double[n];
    for (int i = 0; i < n; i++) {
      t[i] = first + i * step;
    }
    return t;
  }

  private static String format(double v, double[] ticks) {
    double step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
    int decimals = Math.max(0, (int) -Math.floor(Math.log10(step) + 1e-9));
    if (Math.abs(v) < step * 1e-6) {
      v = 0;
    }
    return String.format(Locale.ROOT, "%." + decimals + "f", v);
  }

  private static int textWidth(String s) {
    return s.length() * 6 * SCALE;
  }

  private static void text(BufferedImage img, int x, int y, String s, int color) {
    for (int c = 0; c < s.length(); c++) {
      int[] rows = GLYPHS.getOrDefault(Character.toUpperCase(s.charAt(c)), GLYPHS.get('?'));
      for (int r = 0; r < 7; r++) {
        for (int b = 0; b < 5; b++) {
          if ((rows[r] >> (4 - b) & 1) != 0) {
            fill(img, x + c * 6 * SCALE + b * SCALE, y + r * SCALE, SCALE, SCALE, color);
          }
        }
      }
    }
  }

  private static void fill(BufferedImage img, int x, int y, int w, int h, int color) {
    for (int j = Math.max(0, y); j < Math.min(HEIGHT, y + h); j++) {
      for (int i = Math.max(0, x); i < Math.min(WIDTH, x + w); i++) {
        img.setRGB(i, j, color);
      }
    }
  }

  private static void thickLine(BufferedImage img, int x0, int y0, int x1, int y1, int color) {
    line(img, x0, y0, x1, y1, color);
    line(img, x0, y0 + 1, x1, y1 + 1, color);
    line(img, x0 + 1, y0, x1 + 1, y1, color);
  }

  /** Bresenham's line, clipped to the image. */
  private static void line(BufferedImage img, int x0, int y0, int x1, int y1, int color) {
    int dx = Math.abs(x1 - x0);
    int dy = -Math.abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1;
    int sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    while (true) {
      if (x0 >= 0 && x0 < WIDTH && y0 >= 0 && y0 < HEIGHT) {
        img.setRGB(x0, y0, color);
      }
      if (x0 == x1 && y0 == y1) {
        return;
      }
      int e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }

  /** A 5x7 font: each glyph is 7 rows of 5 bits, the leftmost pixel the highest bit. */
  private static Map<Character, int[]> glyphs() {
    String[] table = {
        "0 0E 11 13 15 19 11 0E", "1 04 0C 04 04 04 04 0E", "2 0E 11 01 02 04 08 1F", "3 1F 02 04 02 01 11 0E",
        "4 02 06 0A 12 1F 02 02", "5 1F 10 1E 01 01 11 0E", "6 06 08 10 1E 11 11 0E", "7 1F 01 02 04 08 08 08",
        "8 0E 11 11 0E 11 11 0E", "9 0E 11 11 0F 01 02 0C", "A 0E 11 11 11 1F 11 11", "B 1E 11 11 1E 11 11 1E",
        "C 0E 11 10 10 10 11 0E", "D 1C 12 11 11 11 12 1C", "E 1F 10 10 1E 10 10 1F", "F 1F 10 10 1E 10 10 10",
        "G 0E 11 10 17 11 11 0F", "H 11 11 11 1F 11 11 11", "I 0E 04 04 04 04 04 0E", "J 07 02 02 02 02 12 0C",
        "K 11 12 14 18 14 12 11", "L 10 10 10 10 10 10 1F", "M 11 1B 15 15 11 11 11", "N 11 11 19 15 13 11 11",
        "O 0E 11 11 11 11 11 0E", "P 1E 11 11 1E 10 10 10", "Q 0E 11 11 11 15 12 0D", "R 1E 11 11 1E 14 12 11",
        "S 0F 10 10 0E 01 01 1E", "T 1F 04 04 04 04 04 04", "U 11 11 11 11 11 11 0E", "V 11 11 11 11 11 0A 04",
        "W 11 11 11 15 15 15 0A", "X 11 11 0A 04 0A 11 11", "Y 11 11 11 0A 04 04 04", "Z 1F 01 02 04 08 10 1F",
        ". 00 00 00 00 00 0C 0C", "- 00 00 00 1F 00 00 00", "+ 00 04 04 1F 04 04 00", ": 00 0C 0C 00 0C 0C 00",
        "( 02 04 08 08 08 04 02", ") 08 04 02 02 02 04 08", "/ 00 01 02 04 08 10 00", ", 00 00 00 00 0C 04 08",
        "= 00 00 1F 00 1F 00 00", "_ 00 00 00 00 00 00 1F", "% 18 19 02 04 08 13 03", "[ 0E 08 08 08 08 08 0E",
        "] 0E 02 02 02 02 02 0E", "? 0E 11 01 02 04 00 04", "* 00 04 15 0E 15 04 00"};
    Map<Character, int[]> g = new java.util.HashMap<>();
    for (String row : table) {
      String[] parts = row.split(" ");
      int[] bits = new int[7];
      for (int r = 0; r < 7; r++) {
        bits[r] = Integer.parseInt(parts[r + 1], 16);
      }
      g.put(parts[0].charAt(0), bits);
    }
    g.put(' ', new int[7]);
    return g;
  }

  /** Points of a series from parallel lists. */
  public static Series series(String name, List<? extends Number> x, List<? extends Number> y) {
    double[] xs = new double[x.size()];
    double[] ys = new double[y.size()];
    for (int i = 0; i < xs.length; i++) {
      xs[i] = x.get(i).doubleValue();
      ys[i] = y.get(i).doubleValue();
    }
    return new Series(name, xs, ys);
  }
}
