"""The executor is chosen by name (``ETL3_EXECUTOR``), and a wrong name says what is valid."""

import dagster as dg
import pytest

from etl3_assets.defs.executors import run_executor


def test_executors_by_name():
    assert run_executor("multiprocess") is dg.multiprocess_executor
    assert run_executor("in_process") is dg.in_process_executor
    assert run_executor("k8s").name == "k8s"


def test_an_unknown_executor_names_the_choices():
    with pytest.raises(ValueError, match="ETL3_EXECUTOR='celery': expected one of multiprocess, in_process, k8s"):
        run_executor("celery")
