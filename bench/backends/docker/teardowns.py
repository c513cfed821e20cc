"""Bring-ups taken down on a thread of their own while the next stack comes up."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class Teardowns:
    """Bring-ups being taken down on a thread of their own while the run goes on (the next stack comes up
    meanwhile); `wait` until they are gone. A teardown returns what went wrong, or None."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-teardown")
        self._pending: list[Future[str | None]] = []

    def submit(self, teardown: Callable[[], str | None]) -> None:
        self._pending.append(self._pool.submit(teardown))

    def pending(self) -> int:
        return sum(not t.done() for t in self._pending)

    def wait(self, shielded: bool = False) -> list[str]:
        """What went wrong in each teardown submitted, once all are done (a failure raised counts too).
        `shielded` (the run's end): a Ctrl-C while waiting is let pass (three times), so nothing is left behind."""
        problems, interrupts = [], 0
        while self._pending:
            try:
                problem = self._pending[0].result()
            except KeyboardInterrupt:
                if shielded and interrupts < 3:
                    interrupts += 1
                    continue
                raise
            except Exception as exc:
                problem = str(exc)
            if problem:
                problems.append(problem)
            self._pending.pop(0)
        return problems
