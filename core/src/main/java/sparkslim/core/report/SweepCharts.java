package sparkslim.core.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The sweep's plots, drawn with JFreeChart as PNG bytes: PPL against sparsity per method and model, PPL against size with
 * each model's Pareto front, and the depth criteria side by side. Each returns null when the sweep has no point of its kind.
 * Rows are those of {@link SweepResults}; only rows with status {@code ok} and a finite PPL are drawn.
 */
public final class SweepCharts {
  private static final int WIDTH = 960;
  private static final int HEIGHT = 600;

  static {
    System.setProperty("java.awt.headless", "true"); // no display on executors, CI or a cluster's driver
  }

  private SweepCharts() {}

  /**
   * PPL (log scale) against the measured sparsity of the pruned linears, one line per model and method (and N:M
   * structure); the dense model of each model starts its lines at sparsity 0.
   */
  public static byte[] pplAgainstSparsity(SweepResults results, String pplColumn) {
    Map<String, XYSeries> series = new LinkedHashMap<>();
    Map<String, Double> dense = denseByModel(results, pplColumn);
    for (Map<String, Object> row : drawn(results, pplColumn)) {
      if (!"prune".equals(row.get("job")) || !(row.get("sparsity") instanceof Double s)) {
        continue;
      }
      Object mask = row.get("pruning.mask-structure");
      boolean structured = mask != null && !"unstructured".equals(mask);
      String name = row.get("model") + " " + row.get("pruning.method") + (structured ? " " + mask : "");
      XYSeries xy = series.computeIfAbsent(name, n -> {
        XYSeries fresh = new XYSeries(n, true, true);
        Double d = dense.get((String) row.get("model"));
        if (d != null && !structured) { // an N:M mask has one sparsity: a marker, not a line from the dense model
          fresh.add(0.0, d);
        }
        return fresh;
      });
      xy.addOrUpdate(s, (Double) row.get(pplColumn));
    }
    if (series.isEmpty()) {
      return null;
    }
    XYSeriesCollection data = new XYSeriesCollection();
    series.values().forEach(data::addSeries);
    JFreeChart chart = ChartFactory.createXYLineChart("Perplexity against sparsity (" + pplColumn + ")", "sparsity of the pruned linears",
        "perplexity (log scale)", data, PlotOrientation.VERTICAL, true, false, false);
    XYPlot plot = chart.getXYPlot();
    plot.setRangeAxis(logAxis("perplexity (log scale)"));
    styleLines(plot, true);
    XYLineAndShapeRenderer r = (XYLineAndShapeRenderer) plot.getRenderer();
    for (int s = 0; s < data.getSeriesCount(); s++) {
      if (data.getSeries(s).getItemCount() == 1) {
        r.setSeriesLinesVisible(s, false);
        r.setSeriesShape(s, new java.awt.geom.Rectangle2D.Double(-5, -5, 10, 10));
      }
    }
    return png(chart);
  }

  /**
   * PPL (log scale) against the model's size on disk times its non-zero fraction (MB): what the weights would take if
   * zeros cost nothing; every point as a marker and, per model, the Pareto front (no other point is both smaller and
   * better) as a line.
   */
  public static byte[] pplAgainstSize(SweepResults results, String pplColumn) {
    Map<String, List<double[]>> byModel = new LinkedHashMap<>();
    for (Map<String, Object> row : drawn(results, pplColumn)) {
      Double mb = effectiveMegabytes(row);
      if (mb != null) {
        byModel.computeIfAbsent((String) row.get("model"), m -> new ArrayList<>()).add(new double[] {mb, (Double) row.get(pplColumn)});
      }
    }
    if (byModel.isEmpty()) {
      return null;
    }
    XYSeriesCollection data = new XYSeriesCollection();
    List<Boolean> isFront = new ArrayList<>();
    for (Map.Entry<String, List<double[]>> e : byModel.entrySet()) {
      XYSeries points = new XYSeries(e.getKey() + " points", false, true);
      e.getValue().forEach(p -> points.add(p[0], p[1]));
      data.addSeries(points);
      isFront.add(false);
      XYSeries front = new XYSeries(e.getKey() + " Pareto front", true, false);
      paretoFront(e.getValue()).forEach(p -> front.add(p[0], p[1]));
      data.addSeries(front);
      isFront.add(true);
    }
    JFreeChart chart = ChartFactory.createXYLineChart("Perplexity against size (" + pplColumn + ")",
        "size on disk x non-zero fraction (MB)", "perplexity (log scale)", data, PlotOrientation.VERTICAL, true, false, false);
    XYPlot plot = chart.getXYPlot();
    plot.setRangeAxis(logAxis("perplexity (log scale)"));
    ((NumberAxis) plot.getDomainAxis()).setAutoRangeIncludesZero(false);
    XYLineAndShapeRenderer r = new XYLineAndShapeRenderer();
    for (int s = 0; s < isFront.size(); s++) {
      Color color = PALETTE[(s / 2) % PALETTE.length];
      r.setSeriesPaint(s, color);
      r.setSeriesLinesVisible(s, isFront.get(s));
      r.setSeriesShapesVisible(s, !isFront.get(s));
      r.setSeriesStroke(s, new BasicStroke(2f));
    }
    plot.setRenderer(r);
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    return png(chart);
  }

  /**
   * The depth-pruning points: PPL per criterion side by side, for each model and number of removed blocks; each model's
   * dense PPL as a dashed line.
   */
  public static byte[] depthCriteria(SweepResults results, String pplColumn) {
    DefaultCategoryDataset data = new DefaultCategoryDataset();
    Map<String, Double> dense = denseByModel(results, pplColumn);
    List<Map<String, Object>> rows = new ArrayList<>();
    for (Map<String, Object> row : drawn(results, pplColumn)) {
      if ("depth-prune".equals(row.get("job"))) {
        rows.add(row);
      }
    }
    if (rows.isEmpty()) {
      return null;
    }
    rows.sort(Comparator.comparing((Map<String, Object> r) -> String.valueOf(r.get("model")))
        .thenComparing(r -> String.valueOf(r.get("depth.num-blocks"))).thenComparing(r -> String.valueOf(r.get("depth.criterion"))));
    for (Map<String, Object> row : rows) {
      Object criterion = row.get("depth.criterion");
      data.addValue((Double) row.get(pplColumn), criterion == null ? "default criterion" : criterion.toString(),
          row.get("model") + ", " + (row.get("depth.num-blocks") == null ? "?" : row.get("depth.num-blocks")) + " removed");
    }
    JFreeChart chart = ChartFactory.createBarChart("Depth pruning: perplexity by criterion (" + pplColumn + ")",
        "model, blocks removed", "perplexity", data, PlotOrientation.VERTICAL, true, false, false);
    CategoryPlot plot = chart.getCategoryPlot();
    plot.setBackgroundPaint(Color.WHITE);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    for (int s = 0; s < data.getRowCount(); s++) {
      plot.getRenderer().setSeriesPaint(s, PALETTE[s % PALETTE.length]);
    }
    org.jfree.chart.renderer.category.BarRenderer bars = (org.jfree.chart.renderer.category.BarRenderer) plot.getRenderer();
    bars.setBarPainter(new org.jfree.chart.renderer.category.StandardBarPainter());
    bars.setDefaultItemLabelGenerator(new org.jfree.chart.labels.StandardCategoryItemLabelGenerator("{2}", new java.text.DecimalFormat("0.0")));
    bars.setDefaultItemLabelsVisible(true);
    int m = 0;
    for (Map.Entry<String, Double> d : dense.entrySet()) {
      org.jfree.chart.plot.ValueMarker line = new org.jfree.chart.plot.ValueMarker(d.getValue(), Color.DARK_GRAY,
          new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
      line.setLabel(d.getKey() + " dense " + String.format(java.util.Locale.ROOT, "%.2f", d.getValue()));
      line.setLabelAnchor(m % 2 == 0 ? org.jfree.chart.ui.RectangleAnchor.TOP_LEFT : org.jfree.chart.ui.RectangleAnchor.TOP_RIGHT);
      line.setLabelTextAnchor(m % 2 == 0 ? org.jfree.chart.ui.TextAnchor.BOTTOM_LEFT : org.jfree.chart.ui.TextAnchor.BOTTOM_RIGHT);
      plot.addRangeMarker(line);
      m++;
    }
    return png(chart);
  }

  /** The points no other point beats on both size and PPL, by increasing size. */
  static List<double[]> paretoFront(List<double[]> points) {
    List<double[]> sorted = new ArrayList<>(points);
    sorted.sort(Comparator.<double[]>comparingDouble(p -> p[0]).thenComparingDouble(p -> p[1]));
    List<double[]> front = new ArrayList<>();
    double best = Double.POSITIVE_INFINITY;
    for (double[] p : sorted) {
      if (p[1] < best) {
        front.add(p);
        best = p[1];
      }
    }
    return front;
  }

  private static Double effectiveMegabytes(Map<String, Object> row) {
    if (!(row.get("size_bytes") instanceof Long size)) {
      return null;
    }
    double fraction = 1.0;
    if (row.get("nonzero_parameters") instanceof Long nz && row.get("parameters") instanceof Long n && n > 0) {
      fraction = (double) nz / n;
    }
    return size * fraction / 1e6;
  }

  private static Map<String, Double> denseByModel(SweepResults results, String pplColumn) {
    Map<String, Double> dense = new LinkedHashMap<>();
    for (Map<String, Object> row : drawn(results, pplColumn)) {
      if ("eval".equals(row.get("job"))) {
        dense.put((String) row.get("model"), (Double) row.get(pplColumn));
      }
    }
    return dense;
  }

  private static List<Map<String, Object>> drawn(SweepResults results, String pplColumn) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Map<String, Object> row : results.rows()) {
      if ("ok".equals(row.get("status")) && row.get(pplColumn) instanceof Double p && Double.isFinite(p) && p > 0) {
        out.add(row);
      }
    }
    return out;
  }

  private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0xff7f0e),
      new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f), new Color(0xbcbd22), new Color(0x17becf),
      new Color(0x393b79), new Color(0xad494a)};

  /** A log-scale PPL axis labelled in plain numbers (20, 50, 100, 200, ...). */
  private static org.jfree.chart.axis.ValueAxis logAxis(String label) {
    return new RoundLogAxis(label);
  }

  /**
   * JFreeChart's {@link org.jfree.chart.axis.LogAxis} with ticks at round values: 1..9 x 10^e when the range spans at most
   * two decades, 1, 2, 5 x 10^e beyond (its own ticks fall at powers of 10^0.1, such as 125.9).
   */
  private static final class RoundLogAxis extends org.jfree.chart.axis.LogAxis {
    RoundLogAxis(String label) {
      super(label);
      setAutoRange(true);
      setSmallestValue(1e-3);
    }

    @Override
    @SuppressWarnings({"rawtypes", "unchecked"})
    public List refreshTicks(java.awt.Graphics2D g2, org.jfree.chart.axis.AxisState state, java.awt.geom.Rectangle2D dataArea,
                             org.jfree.chart.ui.RectangleEdge edge) {
      List ticks = new ArrayList();
      double lo = getRange().getLowerBound();
      double hi = getRange().getUpperBound();
      int e0 = (int) Math.floor(Math.log10(lo));
      int e1 = (int) Math.ceil(Math.log10(hi));
      int[] steps = e1 - e0 <= 2 ? new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9} : new int[] {1, 2, 5};
      boolean vertical = org.jfree.chart.ui.RectangleEdge.isLeftOrRight(edge);
      for (int e = e0; e <= e1; e++) {
        for (int m : steps) {
          double v = m * Math.pow(10, e);
          if (v >= lo && v <= hi) {
            String text = new java.text.DecimalFormat(v < 1 ? "0.###" : "#,##0").format(v);
            ticks.add(new org.jfree.chart.axis.NumberTick(org.jfree.chart.axis.TickType.MAJOR, v, text,
                vertical ? org.jfree.chart.ui.TextAnchor.CENTER_RIGHT : org.jfree.chart.ui.TextAnchor.TOP_CENTER,
                vertical ? org.jfree.chart.ui.TextAnchor.CENTER_RIGHT : org.jfree.chart.ui.TextAnchor.TOP_CENTER, 0.0));
          }
        }
      }
      return ticks;
    }
  }

  private static void styleLines(XYPlot plot, boolean shapes) {
    XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, shapes);
    for (int s = 0; s < plot.getDataset().getSeriesCount(); s++) {
      r.setSeriesPaint(s, PALETTE[s % PALETTE.length]);
      r.setSeriesStroke(s, new BasicStroke(2f));
    }
    plot.setRenderer(r);
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
  }

  private static byte[] png(JFreeChart chart) {
    chart.setBackgroundPaint(Color.WHITE);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      ChartUtils.writeChartAsPNG(out, chart, WIDTH, HEIGHT);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }
}
