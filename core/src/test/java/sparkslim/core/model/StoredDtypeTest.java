package sparkslim.core.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import sparkslim.core.Examples;

/**
 * Blocks and globals held in their stored dtype (bf16 for tiny-llama, fp16 for tiny-opt) and widened where used give
 * bitwise the fp32 results, in half the memory.
 */
class StoredDtypeTest {
  @ParameterizedTest
  @ValueSource(strings = {"tiny-llama-imdb", "tiny-opt-imdb"})
  void storedDtypeForwardEqualsFp32Forward(String modelName) {
    ModelDirectory dir = ModelDirectory.open(Examples.model(modelName).toString(), new Configuration());
    CausalLm fp32 = dir.loadModel();
    CausalLm globals = dir.globals();
    int[] tokens = new int[48];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = (i * 977 + 13) % dir.spec().vocabSize();
    }
    float[] expected = fp32.embed(tokens);
    float[] h = globals.embed(tokens);
    assertArrayEquals(expected, h, 0f, "embedding");
    long fp32Bytes = 0;
    long heldBytes = 0;
    for (int i = 0; i < dir.spec().numLayers(); i++) {
      DecoderBlock held = dir.block(i);
      DecoderBlock dense = fp32.blocks().get(i);
      fp32Bytes += dense.heapBytes();
      heldBytes += held.heapBytes();
      expected = dense.forward(expected, tokens.length);
      h = held.forward(h, tokens.length);
      assertArrayEquals(expected, h, 0f, "block " + i);
      Map<String, Tensor> widened = held.tensors();
      for (Map.Entry<String, Tensor> e : dense.tensors().entrySet()) {
        assertArrayEquals(e.getValue().data(), widened.get(e.getKey()).data(), 0f, e.getKey());
        assertArrayEquals(e.getValue().shape(), widened.get(e.getKey()).shape(), e.getKey());
      }
    }
    assertEquals(fp32.nllFromLastHidden(expected, tokens), globals.nllFromLastHidden(h, tokens), 0.0);
    System.out.printf("%s: blocks %d bytes held, %d in fp32%n", modelName, heldBytes, fp32Bytes);
    assertTrue(heldBytes < 0.55 * fp32Bytes, "blocks held in " + heldBytes + " bytes, fp32 " + fp32Bytes);
  }
}
