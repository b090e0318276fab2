"""sparkslim on Airflow 2.x: a daily `eval` run, an eval of several models, a compression sweep (one `sparkslim sweep`
application running a whole grid of prune / depth-prune / quantize points, the sweep file a DAG parameter), and a
recovery chain (depth-prune, then LoRA retraining).

Deployment glue only: every task is one spark-submit of the sparkslim fat jar
(./mvnw -Pdist -DskipTests package -> jobs/target/sparkslim-jobs-0.1.0-SNAPSHOT-all.jar),
copied to SPARKSLIM_JAR on the Airflow workers (or on HDFS). Needs the
apache-airflow-providers-apache-spark package and a Spark connection (SPARK_CONN_ID) whose
host is the master (yarn, spark://..., k8s://...).

Job exit codes: 0 ok, 2 user error (bad option/path: a retry will not help), 1 internal failure.
Each output directory gets _SUCCESS last, so a downstream sensor can wait on <output>/_SUCCESS.
"""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.utils.task_group import TaskGroup

SPARKSLIM_JAR = "/opt/sparkslim/sparkslim.jar"
SPARK_CONN_ID = "spark_default"
EVAL_TEXTS = "hdfs:///data/imdb.eval.txt"

# Models evaluated daily: one eval task each, model at hdfs:///models/<name>.
SWEEP_MODELS = ["tiny-llama-imdb", "tiny-llama-imdb-w4", "tiny-llama-imdb-w3"]

# The compression sweep: one spark-submit of `sparkslim sweep`, the grid in a sweep file (see conf/sweep-examples.yaml)
# that the driver reads (an hdfs:// path, or a path on the submitting machine in client mode). Override it per run with
# the DAG parameter sweep_file ("Trigger DAG w/ config": {"sweep_file": "hdfs:///sweeps/mine.yaml"}). A retry reruns
# the same application on the same output path: the points that finished (_SUCCESS and the same settings) are skipped,
# so a retry resumes; a point that fails is a failed row, not a failed task.
SWEEP_FILE = "hdfs:///sparkslim/sweeps/sweep-examples.yaml"
PRUNE_MODEL = "hdfs:///models/tiny-llama-imdb"
CALIBRATION_TEXT = "hdfs:///data/imdb.calib.txt"

# What every sparkslim JVM needs: -Xss8m (multi-threaded LAPACK crashes at the default thread stack)
# and OPENBLAS_CORETYPE=Haswell (OpenBLAS 0.3.19 SkylakeX dpotrf bug on AVX-512 CPUs).
SPARK_CONF = {
    "spark.driver.extraJavaOptions": "-Xss8m",
    "spark.executor.extraJavaOptions": "-Xss8m -Dorg.bytedeco.javacpp.cachedir=/tmp/javacpp-cache",
    "spark.executorEnv.OPENBLAS_CORETYPE": "Haswell",
    "spark.yarn.appMasterEnv.OPENBLAS_CORETYPE": "Haswell",
}
# The driver's environment: the provider sets it on the spark-submit process (client mode),
# as spark.yarn.appMasterEnv.* (YARN cluster mode) or spark.kubernetes.driverEnv.* (k8s).
DRIVER_ENV = {"OPENBLAS_CORETYPE": "Haswell"}


def sparkslim_task(task_id, application_args):
    """One spark-submit of `sparkslim.jobs.Main <job> --key=value ...`."""
    return SparkSubmitOperator(
        task_id=task_id,
        conn_id=SPARK_CONN_ID,
        application=SPARKSLIM_JAR,
        java_class="sparkslim.jobs.Main",
        name=f"sparkslim-{task_id}",
        conf=SPARK_CONF,
        env_vars=DRIVER_ENV,
        application_args=application_args,
    )


def eval_task(task_id, model_path, output_path):
    return sparkslim_task(task_id, ["eval", f"--model.path={model_path}", f"--eval.texts={EVAL_TEXTS}", f"--output.path={output_path}"])


def calibrated_task(task_id, job, job_keys, output_path):
    # A job that reads the calibration text and evaluates its output; a rerun of a failed task resumes from what was
    # written under output_path (the last block, or for depth-prune the last scoring round).
    return sparkslim_task(task_id, [
        job,
        f"--model.path={PRUNE_MODEL}",
        *job_keys,
        f"--calibration.text={CALIBRATION_TEXT}",
        f"--eval.texts={EVAL_TEXTS}",
        f"--output.path={output_path}",
    ])


def depth_prune_task(task_id, criterion, num_blocks, output_path):
    return calibrated_task(task_id, "depth-prune",
                           [f"--depth.criterion={criterion}", f"--depth.num-blocks={num_blocks}", "--depth.protect=none"], output_path)


with DAG(
    dag_id="sparkslim_eval",
    description="sparkslim: daily perplexity eval and an example model sweep",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "sparkslim", "retries": 1, "retry_delay": timedelta(minutes=10)},
    params={"sweep_file": SWEEP_FILE},
    tags=["sparkslim", "spark"],
) as dag:
    # "{{ ds }}" is rendered by Airflow (application_args is a templated field); plain strings, not f-strings.
    daily = eval_task(
        "eval_daily",
        "hdfs:///models/tiny-llama-imdb",
        "hdfs:///sparkslim/eval/{{ ds }}",
    )

    with TaskGroup(group_id="eval_models") as eval_models:
        for model in SWEEP_MODELS:
            eval_task(
                "eval_" + model.replace("-", "_"),
                "hdfs:///models/" + model,
                "hdfs:///sparkslim/eval-models/{{ ds }}/" + model,
            )

    # One application for the whole grid: shared tokenization, dense model, dense eval and depth scores, points running
    # concurrently; results.parquet / results.csv / report.html under the output path. Retries resume (see SWEEP_FILE).
    sweep = sparkslim_task("sweep", [
        "sweep",
        "--config={{ params.sweep_file }}",
        "--output.path=hdfs:///sparkslim/sweep/{{ ds }}",
    ])
    sweep.retries = 3

    # Recovery (Shortened LLaMA's recipe): remove 2 blocks, then retrain the shortened model with LoRA on the calibration
    # text. A rerun of a failed finetune task resumes from its last checkpoint under its output path.
    with TaskGroup(group_id="recovery") as recovery:
        shortened = depth_prune_task("depth_ppl_2", "ppl", "2", "hdfs:///sparkslim/recovery/{{ ds }}/depth-ppl-2")
        retrained = sparkslim_task("finetune_lora", [
            "finetune",
            "--model.path=hdfs:///sparkslim/recovery/{{ ds }}/depth-ppl-2/model",
            "--finetune.method=lora",
            f"--finetune.text={CALIBRATION_TEXT}",
            f"--eval.texts={EVAL_TEXTS}",
            "--output.path=hdfs:///sparkslim/recovery/{{ ds }}/depth-ppl-2-lora",
        ])
        shortened >> retrained

    daily >> [eval_models, sweep, recovery]
