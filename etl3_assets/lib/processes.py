"""Worker processes that start as bare interpreters.

A spawned child re-imports its parent's ``__main__`` module before it runs anything
(multiprocessing's rule, so that functions defined there can be unpickled). Under the
Dagster CLI, and in the step processes it spawns, that module is the ``dagster`` console
script, which imports ``dagster._cli``: every writer process would carry Dagster (about
47 MiB, bench/measured/) that it never uses, inside the run's memory budget. Processes of
``BARE_SPAWN`` start while ``__main__`` is a stand-in with neither file nor spec, so the
child imports only what it unpickles. Nothing the project runs in a child lives in a
``__main__`` module.
"""

from __future__ import annotations

import sys
import threading
import types
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
