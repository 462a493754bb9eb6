"""Long queries announce themselves, so a gate waiting on a big table never looks hung."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class QueryWatch:
    """Calls ``report`` every ``after_s`` seconds while a query runs longer than that."""

    def __init__(self, report: Callable[[str], None], after_s: float = 5.0) -> None:
        self.report = report
        self.after_s = after_s

    @contextmanager
    def running(self, label: str) -> Iterator[None]:
        done = threading.Event()
        started = time.perf_counter()

        def tick() -> None:
            while not done.wait(self.after_s):
                self.report(f"sprintgate: {label} still running after {time.perf_counter() - started:.0f} s")

        watcher = threading.Thread(target=tick, name=f"sprintgate watch {label}", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()
