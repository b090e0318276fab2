"""sparkslim on Airflow 2.x: a daily `eval` run, an eval sweep over several models, a pruning sweep over sparsities,
a depth-pruning sweep over criteria and block counts, and a recovery chain (depth-prune, then LoRA retraining).

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

# Models of the example sweep: one eval task each, model at hdfs:///models/<name>.
SWEEP_MODELS = ["tiny-llama-imdb", "tiny-llama-imdb-w4", "tiny-llama-imdb-w3"]

# Pruning sweep: one `prune` task per (method, sparsity); each writes a model, Parquet shards and report.json.
PRUNE_MODEL = "hdfs:///models/tiny-llama-imdb"
CALIBRATION_TEXT = "hdfs:///data/imdb.calib.txt"
PRUNE_METHODS = ["sparsellm", "sparsegpt", "wanda"]
PRUNE_SPARSITIES = ["0.5", "0.6", "0.7", "0.8", "0.9"]

# Depth-pruning sweep: one `depth-prune` task per (criterion, blocks removed), protection off on the 8-block example.
DEPTH_CRITERIA = ["ppl", "taylor", "magnitude"]
DEPTH_NUM_BLOCKS = ["1", "2", "3"]

# Quantization sweep: one `quantize` task per (method, scheme); each writes a compressed-tensors checkpoint,
# Parquet shards of the packed linears and report.json.
QUANT_METHODS = ["rtn", "gptq"]
QUANT_SCHEMES = {  # name -> extra keys
    "w8-channel": ["--quantization.bits=8", "--quantization.group-size=channel"],
    "w4-g128-asym": ["--quantization.bits=4", "--quantization.symmetric=false"],
    "w3-g128-asym": ["--quantization.bits=3", "--quantization.symmetric=false"],
}

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


def prune_task(task_id, method, sparsity, output_path):
    return calibrated_task(task_id, "prune", [f"--pruning.method={method}", f"--pruning.sparsity={sparsity}"], output_path)


def quantize_task(task_id, method, scheme_keys, output_path):
    return calibrated_task(task_id, "quantize", [f"--quantization.method={method}", *scheme_keys], output_path)


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
    tags=["sparkslim", "spark"],
) as dag:
    # "{{ ds }}" is rendered by Airflow (application_args is a templated field); plain strings, not f-strings.
    daily = eval_task(
        "eval_daily",
        "hdfs:///models/tiny-llama-imdb",
        "hdfs:///sparkslim/eval/{{ ds }}",
    )

    with TaskGroup(group_id="sweep") as sweep:
        for model in SWEEP_MODELS:
            eval_task(
                "eval_" + model.replace("-", "_"),
                "hdfs:///models/" + model,
                "hdfs:///sparkslim/eval-sweep/{{ ds }}/" + model,
            )

    with TaskGroup(group_id="prune_sweep") as prune_sweep:
        for method in PRUNE_METHODS:
            for sparsity in PRUNE_SPARSITIES:
                prune_task(
                    f"prune_{method}_{sparsity.replace('.', '')}",
                    method,
                    sparsity,
                    f"hdfs:///sparkslim/prune-sweep/{{{{ ds }}}}/{method}-{sparsity}",
                )

    with TaskGroup(group_id="depth_sweep") as depth_sweep:
        for criterion in DEPTH_CRITERIA:
            for num_blocks in DEPTH_NUM_BLOCKS:
                depth_prune_task(
                    f"depth_{criterion}_{num_blocks}",
                    criterion,
                    num_blocks,
                    f"hdfs:///sparkslim/depth-sweep/{{{{ ds }}}}/{criterion}-{num_blocks}",
                )

    with TaskGroup(group_id="quantize_sweep") as quantize_sweep:
        for method in QUANT_METHODS:
            for scheme, keys in QUANT_SCHEMES.items():
                quantize_task(
                    f"quantize_{method}_{scheme.replace('-', '_')}",
                    method,
                    keys,
                    f"hdfs:///sparkslim/quantize-sweep/{{{{ ds }}}}/{method}-{scheme}",
                )

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

    daily >> [sweep, prune_sweep, depth_sweep, quantize_sweep, recovery]
