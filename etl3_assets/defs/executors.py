"""Where a run's steps execute: chosen by configuration (``ETL3_EXECUTOR``, ``Settings.executor``), not code.

``multiprocess`` (the default): each step in its own process on this machine; months are
separate runs, so several months run at once up to dagster.yaml's run limit.
``k8s``: each step in its own Kubernetes job (``dagster-k8s``, installed with ``.[k8s]``);
it takes its image, namespace and environment from the K8sRunLauncher in the instance
configuration (deploy/). Steps hand data over through the warehouse root (the staged
month lives under ``WAREHOUSE_ROOT``), so on Kubernetes that root must be on S3.
"""

import multiprocessing
import os

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


def run_process_pid() -> int:
    """The process whose tree is this run's memory: the run's own process, which the
    multiprocess executor's step processes are ``multiprocessing`` children of; this process
    when the step runs in the run's process (in_process, ``materialize``) or in a pod of its
    own (k8s). The memory budget is what the user's run costs, not one step."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid is not None else os.getpid()
