"""Worker processes that start as bare interpreters.

A spawned child re-imports its parent's ``__main__`` module before it runs anything
(multiprocessing's rule, so that functions defined there can be unpickled). Under the
Dagster CLI, and in the step processes it spawns, that module is the ``dagster`` console
script, which imports ``dagster._cli``: every writer process would carry Dagster (about
47 MiB, bench/measured/) that it never uses, inside the run's memory budget. Processes of
``BARE_SPAWN`` start while ``__main__`` is a stand-in with neither file nor spec, so the
child imports only what it unpickles. Nothing the project runs in a child lives in a
``__main__`` module.

``stopping_pool`` is a pool of such processes that an exception in the parent (an
interrupt included) stops at once: its workers ignore SIGINT (the terminal sends it to
the whole process group; the parent alone decides what an interrupt means) and end on
SIGTERM after removing the temporary file of a write under way; the parent terminates
them instead of waiting for the tasks already handed to them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import SpawnContext, SpawnProcess

_swap = threading.Lock()


class BareSpawnProcess(SpawnProcess):
    def start(self) -> None:
        # the preparation data (which names the main module) is taken inside start()
        with _swap:
            main = sys.modules["__main__"]
            sys.modules["__main__"] = types.ModuleType("__main__")
            try:
                super().start()
            finally:
                sys.modules["__main__"] = main


class BareSpawnContext(SpawnContext):
    Process = BareSpawnProcess


BARE_SPAWN = BareSpawnContext()


STOP_SECONDS = 1.0
"""How long stopped workers get to exit on SIGTERM before they are killed."""


def _stop_on_sigterm(signum: int, _frame) -> None:
    from etl3_assets.lib.storage.local import remove_in_flight_temporaries

    remove_in_flight_temporaries()
    os._exit(128 + signum)


def _worker_start(initializer: Callable | None, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if initializer is not None:
        initializer(*initargs)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's processes now (SIGTERM, then SIGKILL after ``STOP_SECONDS``)
    and drop its queued tasks. Python 3.11's executor has no public way to stop running
    tasks (``terminate_workers`` comes in 3.14), hence its ``_processes``."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
    pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def stopping_pool(
    max_workers: int, *, initializer: Callable | None = None, initargs: tuple = ()
) -> Iterator[ProcessPoolExecutor]:
    """A ``BARE_SPAWN`` process pool, shut down normally when the block ends normally and
    stopped at once (``stop_pool``) when it raises."""
    pool = ProcessPoolExecutor(
        max_workers=max_workers, mp_context=BARE_SPAWN, initializer=_worker_start, initargs=(initializer, initargs)
    )
    try:
        yield pool
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)
