package sparkslim.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.io.InputStream;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reads a model and a text from hdfs:// (a real MiniDFSCluster NameNode + DataNode) and writes the report there. */
class HdfsEvalTest {
  @TempDir
  Path tmp;

  @Test
  void evalReadsModelFromHdfsAndWritesReportThere() throws Exception {
    Configuration conf = new Configuration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, tmp.resolve("dfs").toString());
    conf.set("dfs.namenode.rpc-address", "127.0.0.1:0");
    conf.set("dfs.namenode.http-address", "127.0.0.1:0");
    conf.set("dfs.datanode.address", "127.0.0.1:0");
    conf.set("dfs.datanode.http.address", "127.0.0.1:0");
    conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
    MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
    try {
      cluster.waitActive();
      FileSystem fs = cluster.getFileSystem();
      String base = fs.getUri().toString();
      org.apache.hadoop.fs.Path modelDir = new org.apache.hadoop.fs.Path(base + "/models/tiny-llama-imdb");
      fs.mkdirs(modelDir);
      for (File f : TestSupport.model("tiny-llama-imdb").toFile().listFiles()) {
        fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(f.getAbsolutePath()), new org.apache.hadoop.fs.Path(modelDir, f.getName()));
      }
      org.apache.hadoop.fs.Path text = new org.apache.hadoop.fs.Path(base + "/data/imdb.eval.txt");
      fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(TestSupport.data("imdb.eval.txt").toString()), text);
      String out = base + "/out/eval";

      int code = TestSupport.sparkslim("eval", "--model.path=" + modelDir, "--eval.texts=" + text, "--output.path=" + out,
          "--eval.max-windows=4", "--spark.master=local[2]");
      assertEquals(0, code);
      assertTrue(fs.exists(new org.apache.hadoop.fs.Path(out + "/_SUCCESS")));
      assertTrue(fs.exists(new org.apache.hadoop.fs.Path(out + "/window_nll/part-00000.parquet")));
      JsonNode report;
      try (InputStream in = fs.open(new org.apache.hadoop.fs.Path(out + "/report.json"))) {
        report = TestSupport.JSON.readTree(in);
      }
      System.out.println("report on " + out + ": " + report.get("eval"));
      assertEquals(modelDir.toString(), report.get("model").asText());
      JsonNode golden = TestSupport.golden().get("tiny-llama-imdb").get("imdb_eval").get("window_nll");
      double mean = 0;
      for (int w = 0; w < 4; w++) {
        mean += golden.get(w).asDouble() / 4;
      }
      assertEquals(Math.exp(mean), report.get("eval").get("imdb.eval.txt").get("ppl").asDouble(), Math.exp(mean) * 1e-4);
    } finally {
      cluster.shutdown();
    }
  }
}
