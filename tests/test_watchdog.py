"""Stall watchdog: a process whose progress stops is ended with its stacks dumped, never left hanging."""
import subprocess
import sys
import time

import pytest

from alsofilter.training.watchdog import STALL_EXIT_CODE, StallWatchdog

STALLING = """
import time, threading
from alsofilter.training.watchdog import StallWatchdog
state = {{"n": 0}}

def busy_then_stuck():
    for _ in range(10):
        state["n"] += 1
        time.sleep(0.05)
    {stuck}

with StallWatchdog({timeout}, progress=lambda: state["n"], describe=lambda: f"run demo, step {{state['n']}}",
                   sinks=[{log!r}], poll=0.1, grace={grace}):
    busy_then_stuck()
print("not reached")
"""


def _run(tmp_path, stuck, timeout=1.0, grace=1.0):
    log = tmp_path / "job.log"
    script = STALLING.format(stuck=stuck, timeout=timeout, log=str(log), grace=grace)
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    return proc, log.read_text() if log.exists() else "", time.time() - start


def test_stalled_python_wait_is_ended_with_message_and_stacks(tmp_path):
    proc, log, seconds = _run(tmp_path, "threading.Event().wait()")
    assert proc.returncode == STALL_EXIT_CODE, proc.stderr
    assert "not reached" not in proc.stdout
    for text in (proc.stderr, log):
        assert "STALLED: run demo, step 10: no progress for" in text
        assert "busy_then_stuck" in text            # the stuck thread's frame
        assert "_watch" in text                     # and the watchdog's own thread: every thread
    assert seconds < 20


def test_native_call_holding_the_gil_is_ended_by_the_fallback(tmp_path):
    """libc sleep called through PyDLL keeps the GIL, so the Python watchman cannot run; the
    C-level faulthandler timer still dumps the stacks and ends the process."""
    proc, log, seconds = _run(tmp_path, "import ctypes; ctypes.PyDLL(None).sleep(60)", timeout=1.0, grace=1.0)
    assert proc.returncode == 1, proc.stderr
    assert "Timeout" in log and "busy_then_stuck" in log
    assert seconds < 30


def test_progress_keeps_it_quiet_and_exit_disarms_it(tmp_path):
    proc, log, _ = _run(tmp_path, "pass", timeout=0.5, grace=0.5)
    assert proc.returncode == 0, proc.stderr
    assert "not reached" in proc.stdout and "STALLED" not in proc.stderr + log


def test_disabled_and_bad_timeouts():
    with StallWatchdog(0, progress=lambda: 0, describe=str) as dog:
        assert not dog.enabled
        time.sleep(0.05)
    for bad in (-1, "10"):
        with pytest.raises(ValueError, match="stall timeout"):
            StallWatchdog(bad, progress=lambda: 0, describe=str)
