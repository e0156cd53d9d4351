"""Stall watchdog: a training job that stops making progress fails loudly instead of hanging.

A job can hang in native code (a broken heap lock inside ``free`` during ``backward``, a
dead-locked OpenMP pool, a stuck device); Snakemake, SLURM and pytest would then wait until
their own time limits. :class:`StallWatchdog` watches a progress value that the training loop
bumps once per batch (training step or evaluation batch). When it has not changed for
``timeout`` seconds, the watchdog

1. writes one line naming the run and where it stopped (``describe()``: run, phase, epoch,
   step) to every sink (the job's log file and stderr),
2. writes every thread's Python stack there (:func:`faulthandler.dump_traceback`), and
3. ends the process with :data:`STALL_EXIT_CODE` through ``os._exit`` (no clean-up that could
   block on the same broken lock). The last periodic checkpoint stays, so a rerun resumes.

It is two watchmen. The first is a Python thread, which can name the run; it works whenever the
stuck thread has released the GIL (all long torch operations do). The second is
:func:`faulthandler.dump_traceback_later`, a C thread that the first re-arms on every poll: if
the Python thread itself cannot run (a native call that holds the GIL, or the Python thread
blocked on the broken heap lock), it fires ``grace`` seconds later, dumps the stacks without the
GIL or ``malloc`` and exits with status 1.

Polling costs nothing in the training step: the loop only assigns a tuple.
"""
from __future__ import annotations

import faulthandler
import os
import threading
import time
from typing import Callable, Sequence

#: exit status of a job ended by the watchdog (as ``timeout(1)`` uses)
STALL_EXIT_CODE = 124
#: default seconds without progress before a training job is ended; progress is counted per batch,
#: so this is far above the slowest batch of any shipped config on its intended hardware
#: (a CPU step of the paper's ResNet-34 takes seconds, a demo epoch about 5 s)
DEFAULT_STALL_TIMEOUT = 900.0


class StallWatchdog:
    """Context manager that ends the process when ``progress()`` stops changing.

    Parameters
    ----------
    timeout : seconds without a change of ``progress()`` before the process is ended; ``0`` or
        ``None`` disables the watchdog.
    progress : returns a value that changes whenever work is done (compared with ``!=``).
    describe : returns the text naming what stalled (run, epoch, step).
    sinks : file paths (appended to) and/or open file descriptors to write the message and the
        stacks to; stderr (fd 2) is always one of them.
    poll : seconds between checks (default ``min(timeout / 4, 5)``).
    grace : extra seconds the C-level fallback waits beyond ``timeout`` (default
        ``max(10, timeout / 2)``).
    """

    def __init__(self, timeout: float | None, progress: Callable[[], object],
                 describe: Callable[[], str], sinks: Sequence[str | int] = (),
                 poll: float | None = None, grace: float | None = None):
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise ValueError(f"stall timeout must be a non-negative number of seconds, got {timeout!r}")
        self.timeout = float(timeout or 0)
        self.progress = progress
        self.describe = describe
        self.sinks = list(sinks)
        self.poll = poll if poll is not None else min(self.timeout / 4, 5.0)
        self.grace = grace if grace is not None else max(10.0, self.timeout / 2)
        self._fds: list[int] = []
        self._owned: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.timeout > 0

    def __enter__(self) -> "StallWatchdog":
        if not self.enabled:
            return self
        self._fds = [2]
        for sink in self.sinks:
            if isinstance(sink, int):
                self._fds.append(sink)
            else:
                fd = os.open(sink, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._owned.append(fd)
                self._fds.append(fd)
        self._arm_fallback()
        self._thread = threading.Thread(target=self._watch, name="stall-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self.enabled:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        faulthandler.cancel_dump_traceback_later()
        for fd in self._owned:
            os.close(fd)
        self._owned.clear()

    def _arm_fallback(self) -> None:
        # one C watchdog per process: re-arming replaces the previous timer
        fd = self._owned[0] if self._owned else 2
        faulthandler.dump_traceback_later(self.timeout + self.grace, exit=True, file=fd)

    def _watch(self) -> None:
        last = self.progress()
        last_change = time.monotonic()
        while not self._stop.wait(self.poll):
            current = self.progress()
            now = time.monotonic()
            if current != last:
                last, last_change = current, now
                self._arm_fallback()
            elif now - last_change >= self.timeout:
                self._fire(now - last_change)
            # no progress yet but within the timeout: leave the fallback timer running

    def _fire(self, idle: float) -> None:
        message = (f"\nSTALLED: {self.describe()}: no progress for {idle:.0f} s "
                   f"(stall_timeout {self.timeout:g} s). Stacks of all threads follow; the job "
                   f"exits with status {STALL_EXIT_CODE} and a rerun resumes from the last "
                   "checkpoint.\n").encode()
        for fd in self._fds:
            try:
                os.write(fd, message)
                faulthandler.dump_traceback(file=fd, all_threads=True)
            except OSError:
                pass
        os._exit(STALL_EXIT_CODE)
