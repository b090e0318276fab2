package sparkslim.core.report;

import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.io.AvroSchemas;

/**
 * A sweep's results: one row per point, in a fixed column order (the point, its model and job, its status, every swept
 * key, then the measured figures), rendered as {@code results.parquet}, {@code results.csv}, a markdown table and the
 * table of {@code report.html}. Cells are strings, longs, doubles or null (not measured, or the point failed). Parquet
 * column names are the column names with every character outside {@code [A-Za-z0-9_]} replaced by {@code _} (Avro's
 * rule): {@code pruning.method} is {@code pruning_method} there.
 */
public record SweepResults(List<String> columns, List<Map<String, Object>> rows) {
  public SweepResults {
    columns = List.copyOf(columns);
    rows = List.copyOf(rows);
  }

  /** Comma-separated values with a header line; text with commas or quotes is quoted. */
  public String csv() {
    StringBuilder sb = new StringBuilder(String.join(",", columns)).append('\n');
    for (Map<String, Object> row : rows) {
      List<String> cells = new ArrayList<>();
      for (String c : columns) {
        String v = text(row.get(c), true);
        cells.add(v.contains(",") || v.contains("\"") || v.contains("\n") ? "\"" + v.replace("\"", "\"\"") + "\"" : v);
      }
      sb.append(String.join(",", cells)).append('\n');
    }
    return sb.toString();
  }

  /** A markdown table of {@code shown} columns (numbers to 4 decimals, errors cut to 80 characters). */
  public String markdown(List<String> shown) {
    StringBuilder sb = new StringBuilder("| ").append(String.join(" | ", shown)).append(" |\n|");
    shown.forEach(c -> sb.append("---|"));
    sb.append('\n');
    for (Map<String, Object> row : rows) {
      sb.append('|');
      for (String c : shown) {
        String v = text(row.get(c), false).replace("|", "\\|").replace("\n", " ");
        sb.append(' ').append(v.length() > 80 ? v.substring(0, 77) + "..." : v).append(" |");
      }
      sb.append('\n');
    }
    return sb.toString();
  }

  /** An HTML table of {@code shown} columns; failed rows carry {@code class="failed"}. */
  public String htmlTable(List<String> shown) {
    StringBuilder sb = new StringBuilder("<table>\n<thead><tr>");
    shown.forEach(c -> sb.append("<th>").append(escape(c)).append("</th>"));
    sb.append("</tr></thead>\n<tbody>\n");
    for (Map<String, Object> row : rows) {
      sb.append("<tr").append("failed".equals(row.get("status")) ? " class=\"failed\"" : "").append('>');
      for (String c : shown) {
        Object v = row.get(c);
        sb.append(v instanceof Number ? "<td class=\"num\">" : "<td>").append(escape(text(v, false))).append("</td>");
      }
      sb.append("</tr>\n");
    }
    return sb.append("</tbody>\n</table>\n").toString();
  }

  /** The Avro schema of {@link #writeParquet}: every column nullable, typed by the first non-null cell (string if none). */
  public Schema schema() {
    SchemaBuilder.FieldAssembler<Schema> fields = SchemaBuilder.record("SweepPoint").namespace("sparkslim").fields();
    for (String c : columns) {
      SchemaBuilder.FieldBuilder<Schema> f = fields.name(avroName(c)).doc(c);
      switch (type(c)) {
        case "double" -> fields = f.type().optional().doubleType();
        case "long" -> fields = f.type().optional().longType();
        default -> fields = f.type().optional().stringType();
      }
    }
    return fields.endRecord();
  }

  /** Writes the rows as one Parquet file (atomically). */
  public void writeParquet(Path file, Configuration conf) {
    Schema schema = schema();
    List<GenericRecord> records = new ArrayList<>();
    for (Map<String, Object> row : rows) {
      GenericRecord r = new GenericData.Record(schema);
      for (String c : columns) {
        Object v = row.get(c);
        String t = type(c);
        r.put(avroName(c), v == null ? null : t.equals("double") ? ((Number) v).doubleValue() : t.equals("long") ? ((Number) v).longValue()
            : v.toString());
      }
      records.add(r);
    }
    AvroSchemas.writeAtomically(file, schema, records, conf);
  }

  /** {@code pruning.mask-structure} → {@code pruning_mask_structure}. */
  public static String avroName(String column) {
    String n = column.replaceAll("[^A-Za-z0-9_]", "_");
    return Character.isDigit(n.charAt(0)) ? "_" + n : n;
  }

  private String type(String column) {
    String type = null;
    for (Map<String, Object> row : rows) {
      Object v = row.get(column);
      if (v == null) {
        continue;
      }
      String t = v instanceof Double || v instanceof Float ? "double" : v instanceof Long || v instanceof Integer ? "long" : "string";
      if (type == null) {
        type = t;
      } else if (!type.equals(t)) {
        type = (type.equals("string") || t.equals("string")) ? "string" : "double";
      }
    }
    return type == null ? "string" : type;
  }

  private static String text(Object v, boolean full) {
    if (v == null) {
      return "";
    }
    if (v instanceof Double d) {
      if (d.isNaN() || d.isInfinite()) {
        return d.toString();
      }
      return full ? Double.toString(d) : String.format(Locale.ROOT, Math.abs(d) >= 1e5 ? "%.0f" : "%.4f", d);
    }
    return v.toString();
  }

  static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }

  /**
   * One self-contained HTML page: a title, a summary list, the table and the plots as inline PNG data, so it opens
   * offline and can be mailed as one file.
   */
  public static String html(String title, List<String> summary, String table, Map<String, byte[]> plots) {
    StringBuilder sb = new StringBuilder("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
        .append(escape(title)).append("</title>\n<style>\n")
        .append("body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:13px}")
        .append("th,td{border:1px solid #ccc;padding:3px 7px}th{background:#eee;position:sticky;top:0}td.num{text-align:right;")
        .append("font-variant-numeric:tabular-nums}tr.failed td{background:#fde2e2}img{max-width:100%;border:1px solid #ddd;margin:8px 0}")
        .append(".plots{display:flex;flex-wrap:wrap;gap:12px}.plots figure{margin:0;flex:1 1 640px}\n</style>\n</head>\n<body>\n<h1>")
        .append(escape(title)).append("</h1>\n<ul>\n");
    summary.forEach(s -> sb.append("<li>").append(escape(s)).append("</li>\n"));
    sb.append("</ul>\n<h2>Plots</h2>\n<div class=\"plots\">\n");
    for (Map.Entry<String, byte[]> p : plots.entrySet()) {
      sb.append("<figure><img alt=\"").append(escape(p.getKey())).append("\" src=\"data:image/png;base64,")
          .append(Base64.getEncoder().encodeToString(p.getValue())).append("\"><figcaption>").append(escape(p.getKey()))
          .append("</figcaption></figure>\n");
    }
    sb.append("</div>\n<h2>Results</h2>\n").append(table).append("</body>\n</html>\n");
    return sb.toString();
  }
}
