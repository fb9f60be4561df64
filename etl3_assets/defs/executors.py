"""Where a run's steps execute: chosen by configuration (``ETL3_EXECUTOR``, ``Settings.executor``), not code.

``multiprocess`` (the default): each step in its own process on this machine; months are
separate runs, so several months run at once up to dagster.yaml's run limit.
``k8s``: each step in its own Kubernetes job (``dagster-k8s``, installed with ``.[k8s]``);
it takes its image, namespace and environment from the K8sRunLauncher in the instance
configuration (deploy/). Steps hand data over through the warehouse root (the staged
month lives under ``WAREHOUSE_ROOT``), so on Kubernetes that root must be on S3.
"""

import dagster as dg

EXECUTORS = ("multiprocess", "in_process", "k8s")


def run_executor(name: str) -> dg.ExecutorDefinition:
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "in_process":
        return dg.in_process_executor
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ValueError(f"ETL3_EXECUTOR={name!r}: expected one of {', '.join(EXECUTORS)}")
