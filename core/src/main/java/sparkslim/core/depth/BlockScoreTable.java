package sparkslim.core.depth;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import sparkslim.core.SparkslimException;
import sparkslim.core.io.AvroSchemas;

/** The block scores of one depth-pruning round ({@code BlockScore.avsc}), one row per scored block, in Parquet. */
public final class BlockScoreTable {
  public static final Schema SCHEMA = AvroSchemas.load("BlockScore");

  private BlockScoreTable() {}

  public static void write(Path file, String runId, String fingerprint, String criterion, DepthRound round, Set<Integer> protectedBlocks,
                           Configuration conf) {
    List<GenericRecord> rows = new ArrayList<>();
    for (int rank = 0; rank < round.order().size(); rank++) {
      int block = round.order().get(rank);
      GenericRecord r = new GenericData.Record(SCHEMA);
      r.put("run_id", runId);
      r.put("config_fingerprint", fingerprint);
      r.put("criterion", criterion);
      r.put("round", round.round());
      r.put("block", block);
      r.put("score", round.scores()[block]);
      r.put("rank", rank);
      r.put("protected", protectedBlocks.contains(block));
      r.put("removed", round.removed().contains(block));
      r.put("model_score", Double.isNaN(round.modelScore()) ? null : round.modelScore());
      r.put("seconds", round.seconds());
      rows.add(r);
    }
    rows.sort((a, b) -> Integer.compare((Integer) a.get("block"), (Integer) b.get("block")));
    AvroSchemas.writeAtomically(file, SCHEMA, rows, conf);
  }

  /**
   * Reads a round back for resume. Refuses a file written with other settings (its fingerprint differs), naming it.
   *
   * @param numLayers blocks of the input model (the length of the scores array)
   */
  public static DepthRound read(Path file, String fingerprint, int numLayers, Configuration conf) {
    List<GenericRecord> rows = AvroSchemas.read(file, conf);
    if (rows.isEmpty()) {
      throw new SparkslimException("Block score file " + file + " is empty: expected one row per scored block; delete it to rescore the round");
    }
    double[] scores = new double[numLayers];
    Arrays.fill(scores, Double.NaN);
    Integer[] byRank = new Integer[rows.size()];
    List<Integer> removed = new ArrayList<>();
    int round = (Integer) rows.get(0).get("round");
    double modelScore = rows.get(0).get("model_score") == null ? Double.NaN : (Double) rows.get(0).get("model_score");
    double seconds = (Double) rows.get(0).get("seconds");
    for (GenericRecord r : rows) {
      String found = r.get("config_fingerprint").toString();
      if (!found.equals(fingerprint)) {
        throw new SparkslimException("Block score file " + file + " was written with other settings (config fingerprint " + found
            + ", this run " + fingerprint + "): use another 'output.path' or delete " + file.getParent());
      }
      int block = (Integer) r.get("block");
      scores[block] = (Double) r.get("score");
      byRank[(Integer) r.get("rank")] = block;
      if ((Boolean) r.get("removed")) {
        removed.add(block);
      }
    }
    List<Integer> order = List.of(byRank);
    removed.sort((a, b) -> Integer.compare(order.indexOf(a), order.indexOf(b)));
    return new DepthRound(round, scores, order, List.copyOf(removed), modelScore, seconds);
  }
}
