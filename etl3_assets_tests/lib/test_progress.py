"""The memory watch counts the whole process tree and says when it nears or passes the budget."""

import subprocess
import sys
import time

from etl3_assets.lib.progress import MIB, MemoryWatch, WriteProgress, tree_rss_bytes

CHILD = "import sys, time; block = bytearray(200 * 1024 * 1024); block[::4096] = b'x' * len(block[::4096]); print('ready', flush=True); time.sleep(60)"


def test_the_tree_includes_children_and_the_budget_is_watched():
    alone = tree_rss_bytes()
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        with_child = tree_rss_bytes()
        assert with_child - alone > 150 * MIB, "a child's 200 MiB counts toward the tree"

        warnings: list[str] = []
        watch = MemoryWatch(
            WriteProgress(total_rows=1), budget_bytes=with_child // 2, log=lambda _m: None,
            warn=warnings.append, sample_s=0.05,
        )
        with watch:
            time.sleep(0.2)
        assert watch.over_budget and watch.peak_bytes >= with_child * 0.9
        assert len(warnings) == 1 and "is over the budget" in warnings[0]
    finally:
        child.kill()
        child.wait()


def test_the_watch_counts_the_tree_of_the_root_it_is_given():
    """A step passes its run's process as the root; here the root is a 200 MB child."""
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        whole = MemoryWatch(WriteProgress(total_rows=1), 1 << 40, log=print, warn=print).sample()
        rooted = MemoryWatch(WriteProgress(total_rows=1), 1 << 40, log=print, warn=print, root_pid=child.pid).sample()
        assert 200 * MIB <= rooted < whole
    finally:
        child.kill()
        child.wait()
