package sparkslim.core.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/** {@link LinePlot}: a PNG that decodes, draws its series in their colour, and has the same bytes for the same data. */
class LinePlotTest {
  private static byte[] plot() {
    double[] x = new double[50];
    double[] y = new double[50];
    for (int i = 0; i < 50; i++) {
      x[i] = i + 1;
      y[i] = 4.2 - Math.log1p(i) * 0.2;
    }
    return LinePlot.png("loss curve", "step", "loss", List.of(new LinePlot.Series("training loss", x, y)));
  }

  @Test
  void drawsTheSeriesAndIsDeterministic() throws IOException {
    byte[] png = plot();
    assertArrayEquals(png, plot());
    BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
    assertEquals(900, img.getWidth());
    assertEquals(540, img.getHeight());
    int blue = 0;
    for (int j = 0; j < img.getHeight(); j++) {
      for (int i = 0; i < img.getWidth(); i++) {
        if ((img.getRGB(i, j) & 0xffffff) == 0x1f77b4) {
          blue++;
        }
      }
    }
    assertTrue(blue > 500, "pixels of the first series' colour: " + blue);
  }

  @Test
  void ticksAreRoundAndCoverTheRange() {
    double[] t = LinePlot.ticks(3.21, 4.07);
    assertTrue(t[0] <= 3.21 && t[t.length - 1] >= 4.07);
    assertEquals(0.1, t[1] - t[0], 1e-12);
    assertTrue(t.length >= 4 && t.length <= 11, "ticks " + t.length);
  }
}
