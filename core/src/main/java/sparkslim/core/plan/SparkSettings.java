package sparkslim.core.plan;

import sparkslim.core.SparkslimException;
import sparkslim.core.config.Config;
import sparkslim.core.config.ConfigKey;

/**
 * {@code spark.master} and {@code spark.app-name}.
 *
 * @param master the configured master, trimmed; empty = the one spark-submit gives, else {@code local[*]}
 * @param appName the application name; never blank (Spark refuses to start without one)
 */
public record SparkSettings(String master, String appName) {
  public static SparkSettings of(Config c) {
    String appName = Values.text(c, ConfigKey.SPARK_APP_NAME);
    if (appName.isEmpty()) {
      throw new SparkslimException("'" + ConfigKey.SPARK_APP_NAME.key() + "' is empty but must name the Spark application (default: sparkslim)");
    }
    return new SparkSettings(Values.text(c, ConfigKey.SPARK_MASTER), appName);
  }
}
