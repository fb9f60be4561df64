"""The executor is chosen by name (``ETL3_EXECUTOR``), and a wrong name says what is valid.
A step's memory budget counts its run's whole process tree: the run's process when the step
is a ``multiprocessing`` child of it (the multiprocess executor), itself otherwise."""

import multiprocessing
import os

import dagster as dg
import pytest

from etl3_assets.defs.executors import run_executor, run_process_pid


def test_executors_by_name():
    assert run_executor("multiprocess") is dg.multiprocess_executor
    assert run_executor("in_process") is dg.in_process_executor
    assert run_executor("k8s").name == "k8s"


def test_an_unknown_executor_names_the_choices():
    with pytest.raises(ValueError, match="ETL3_EXECUTOR='celery': expected one of multiprocess, in_process, k8s"):
        run_executor("celery")


def _report_run_process(queue) -> None:
    queue.put(run_process_pid())


def test_a_step_process_counts_the_run_process_that_started_it():
    assert run_process_pid() == os.getpid()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_report_run_process, args=(queue,))
    child.start()
    assert queue.get(timeout=60) == os.getpid()
    child.join(timeout=60)
