"""Run calls side by side, each on a thread of its own, so that a call that raises fails the test.

A bare ``threading.Thread`` loses its target's exception (pytest only warns about it), and the test then
judges whatever the other threads left behind."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Sequence


def run_in_threads(calls: Sequence[Callable[[], Any]], timeout: float = 60.0) -> list[Any]:
    """Start a new thread per call, wait for them all, and return their results in the calls' order.

    If any call raised, an exception group of every exception is raised; a thread still running after
    ``timeout`` seconds fails too."""
    results: list[Any] = [None] * len(calls)
    errors: list[tuple[int, BaseException]] = []
    lock = threading.Lock()

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            results[index] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            with lock:
                errors.append((index, error))

    threads = [threading.Thread(target=run, args=(index, call), name=f"test-call-{index}")
               for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"still running after {timeout}s: {stuck}"
    if errors:
        errors.sort(key=lambda item: item[0])
        raise BaseExceptionGroup(f"{len(errors)} of {len(calls)} threaded calls raised",
                                 [error for _, error in errors])
    return results
