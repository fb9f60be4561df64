"""The writer's processes start as bare interpreters: not re-importing the parent's main
module (under the Dagster CLI, ``dagster._cli``)."""

import subprocess
import sys
import textwrap

MAIN = textwrap.dedent(
    """
    import sys
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    from etl3_assets.lib.processes import BARE_SPAWN

    with open(sys.argv[1], "a") as log:  # a side effect of importing this main module
        log.write("imported\\n")

    if __name__ == "__main__":
        context = BARE_SPAWN if sys.argv[2] == "bare" else multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(2, mp_context=context) as pool:
            print(sorted(pool.map(abs, [-1, -2, -3])))
        print(sys.modules["__main__"].__name__, sys.modules["__main__"].__file__ == __file__)
    """
)


def _run(tmp_path, mode: str) -> tuple[str, int]:
    script, log = tmp_path / f"main_{mode}.py", tmp_path / f"{mode}.log"
    script.write_text(MAIN)
    out = subprocess.run([sys.executable, str(script), str(log), mode], capture_output=True, text=True, check=True)
    return out.stdout, log.read_text().count("imported")


def test_bare_spawn_children_do_not_import_the_parents_main_module(tmp_path):
    stdout, imports = _run(tmp_path, "bare")
    assert stdout.splitlines() == ["[1, 2, 3]", "__main__ True"]  # the parent's main is back in place
    assert imports == 1  # the parent only


def test_plain_spawn_children_do(tmp_path):
    """What BARE_SPAWN avoids: each plain spawned child re-imports the main module."""
    _, imports = _run(tmp_path, "plain")
    assert imports == 3  # the parent and both children
