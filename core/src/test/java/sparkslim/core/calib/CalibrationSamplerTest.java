package sparkslim.core.calib;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import sparkslim.core.Examples;
import sparkslim.core.SparkslimException;
import sparkslim.core.io.SafetensorsFile;
import sparkslim.core.tokenize.TextFiles;
import sparkslim.core.tokenize.TextTokenizer;

class CalibrationSamplerTest {
  private static final int GOLDEN_TOKENS = 640_088;
  private static final int GOLDEN_SAMPLES = 64;
  private static final int GOLDEN_SEQLEN = 512;
  private static final long GOLDEN_SEED = 0;

  private static Configuration conf;
  private static FileSystem fs;
  private static int[] calibTokens;

  @BeforeAll
  static void tokenizeCalibrationText() throws Exception {
    conf = new Configuration();
    fs = FileSystem.getLocal(conf);
    Path tokenizerJson = new Path(Examples.model("tiny-llama-imdb").resolve("tokenizer.json").toString());
    Path text = new Path(Examples.data("imdb.calib.txt").toString());
    try (TextTokenizer tokenizer = TextTokenizer.load(fs, tokenizerJson)) {
      calibTokens = tokenizer.encode(TextFiles.read(text, conf, "calibration text"));
    }
  }

  @Test
  void tokenizedCalibrationTextHasTheReferenceLength() {
    assertEquals(GOLDEN_TOKENS, calibTokens.length);
  }

  @Test
  void windowsEqualThePythonReferenceForBothModels() {
    List<int[]> windows = CalibrationSampler.sample(calibTokens, GOLDEN_SAMPLES, GOLDEN_SEQLEN, GOLDEN_SEED, "imdb.calib.txt");
    assertEquals(GOLDEN_SAMPLES, windows.size());
    for (String golden : List.of("tiny-llama-imdb.calib.safetensors", "tiny-opt-imdb.calib.safetensors")) {
      SafetensorsFile file = SafetensorsFile.open(fs, new Path(Examples.golden(golden).toString()));
      assertArrayEquals(new long[] {GOLDEN_SAMPLES, GOLDEN_SEQLEN}, file.entry(CalibrationWindows.TENSOR).shape(), golden);
      long[] expected = file.readLongs(CalibrationWindows.TENSOR);
      for (int r = 0; r < GOLDEN_SAMPLES; r++) {
        long[] expectedRow = Arrays.copyOfRange(expected, r * GOLDEN_SEQLEN, (r + 1) * GOLDEN_SEQLEN);
        long[] actualRow = Arrays.stream(windows.get(r)).asLongStream().toArray();
        assertArrayEquals(expectedRow, actualRow, golden + " window " + r);
      }
    }
  }

  @Test
  void firstWindowStartsAtTheFirstPythonRandint() {
    // random.seed(0); random.randint(0, 640088 - 512 - 1) == 403958
    int[] first = CalibrationSampler.sample(calibTokens, 1, GOLDEN_SEQLEN, GOLDEN_SEED, "imdb.calib.txt").get(0);
    assertArrayEquals(Arrays.copyOfRange(calibTokens, 403958, 403958 + GOLDEN_SEQLEN), first);
  }

  @Test
  void shortestAcceptedTextHasSeqlenPlusOneTokens() {
    int[] tokens = {10, 11, 12, 13};
    List<int[]> windows = CalibrationSampler.sample(tokens, 5, 3, 0, "t.txt");
    for (int[] w : windows) {
      assertTrue(w[0] == 10 || w[0] == 11, Arrays.toString(w));
      assertEquals(w[0] + 2, w[2]);
    }
  }

  @Test
  void rejectsBadSettingsAndShortTexts() {
    int[] tokens = new int[10];
    SparkslimException e = assertThrows(SparkslimException.class, () -> CalibrationSampler.sample(tokens, 0, 4, 0, "a.txt"));
    assertEquals("'calibration.num-samples' is set to 0 but must be > 0", e.getMessage());
    e = assertThrows(SparkslimException.class, () -> CalibrationSampler.sample(tokens, 2, -1, 0, "a.txt"));
    assertEquals("'calibration.seqlen' is set to -1 but must be > 0", e.getMessage());
    e = assertThrows(SparkslimException.class, () -> CalibrationSampler.sample(tokens, 2, 10, 0, "data/a.txt"));
    assertTrue(e.getMessage().startsWith("Calibration text data/a.txt has 10 tokens, but at least 11 are needed"), e.getMessage());
    assertTrue(e.getMessage().contains("'calibration.seqlen' = 10"), e.getMessage());
  }
}
