package sparkslim.core.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import sparkslim.core.SparkslimException;

/** Parsing and text form of {@link MaskStructure}; errors by exact message. */
class MaskStructureTest {
  private static final String ALLOWED = "Allowed: 'unstructured' or 'N:M' with integers 0 < N < M, e.g. '2:4' or '4:8'";

  @Test
  void parsesAndPrintsTheTextForms() {
    assertSame(MaskStructure.UNSTRUCTURED, MaskStructure.parse("unstructured", MaskStructure.KEY));
    assertTrue(MaskStructure.UNSTRUCTURED.isUnstructured());
    assertEquals("unstructured", MaskStructure.UNSTRUCTURED.toString());
    MaskStructure twoFour = MaskStructure.parse("2:4", MaskStructure.KEY);
    assertEquals(MaskStructure.nOfM(2, 4), twoFour);
    assertEquals("2:4", twoFour.toString());
    assertEquals("4:8", MaskStructure.parse(" 4:8 ", MaskStructure.KEY).toString());
    assertEquals(1, MaskStructure.parse("1:2", MaskStructure.KEY).n());
  }

  @Test
  void rejectsNNotLessThanM() {
    assertEquals("Cannot parse 'pruning.mask-structure' value '3:2': N must be less than M. " + ALLOWED, message("3:2"));
    assertEquals("Cannot parse 'pruning.mask-structure' value '4:4': N must be less than M. " + ALLOWED, message("4:4"));
  }

  @Test
  void rejectsNotPositiveN() {
    assertEquals("Cannot parse 'pruning.mask-structure' value '0:4': N must be greater than 0. " + ALLOWED, message("0:4"));
  }

  @Test
  void rejectsNonIntegers() {
    assertEquals("Cannot parse 'pruning.mask-structure' value 'a:b': N and M must be integers. " + ALLOWED, message("a:b"));
  }

  @Test
  void rejectsOtherForms() {
    assertEquals("Cannot parse 'pruning.mask-structure' value '': expected 'unstructured' or the form 'N:M'. " + ALLOWED, message(""));
    assertEquals("Cannot parse 'pruning.mask-structure' value '2:4:8': expected 'unstructured' or the form 'N:M'. " + ALLOWED, message("2:4:8"));
  }

  @Test
  void checksThatMTilesTheColumns() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MaskStructure.nOfM(2, 4).checkColumns(30));
    assertEquals("Cannot apply 'pruning.mask-structure' 2:4 to a matrix with 30 input columns: the column count must be a multiple of M = 4",
        e.getMessage());
  }

  private static String message(String text) {
    return assertThrows(SparkslimException.class, () -> MaskStructure.parse(text, MaskStructure.KEY)).getMessage();
  }
}
