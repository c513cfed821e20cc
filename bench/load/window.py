"""The measured window of one locust process, and the open model's schedule, without locust.

bench/load/locustfile.py runs these inside locust (gevent greenlets, the request events); here they
are plain objects on a `Clock` the caller passes in, so a unit test drives them with a fake one.
Standard library only: like bench/load/record.py it ships beside the locustfile wherever locust runs
(the python image, .dockerignore, the compose mounts and the swarm configs made from them).

Which requests the window counts:
- A request without a slot (the closed model, or a user's own locustfile): by when its answer
  lands. Answers during the warmup are the warmup's; answers after the window ended, nobody's.
- A slot of the open model: by when it fell due, wherever its answer lands. Due during the
  warmup, it is the warmup's even when answered inside the window: counting it would add slots
  the window never offered (1000 req/s against 500 req/s of capacity, FIFO, 2 s warmup, 10 s
  window: 11,000 slots for the 10,000 due). Due inside the window and unanswered when it ends,
  it is cut: counted as late by all the time it waited until the end.
- Every slot is counted once (`Slot.settled`): a slot cut at the end whose answer lands before
  its sender is killed is not counted again.

Clocks: the edges other processes read (when measuring began and stopped, each streamed
window's start and end: the runner and the sampler align on them) are wall-clock, as run.json
says; every duration inside this process (a slot's time since it fell due, lateness, the
window's length and its seconds) is measured on the monotonic clock, which no clock step moves.
"""

from __future__ import annotations

import enum
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING or __package__:  # bench.load.window: the runner's side and the tests
    from bench.load.record import ProcessReport, Tally, local_ports, read_tcp_counters, tcp_deltas
else:  # beside the locustfile, inside locust, which puts that folder on sys.path
    from record import ProcessReport, Tally, local_ports, read_tcp_counters, tcp_deltas


@dataclass(frozen=True)
class Clock:
    """Where the time comes from: wall-clock for edges other processes read, monotonic for
    durations inside this process, CPU time for what measuring cost this process."""

    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    cpu: Callable[[], float] = time.process_time


EDGE_S = 1e-6  # float rounding between a slot's due time and a window edge (slots are >= 10 us apart)


class Phase(enum.Enum):
    WARMUP = "warmup"
    WINDOW = "window"
    AFTER = "after"  # the window has ended


@dataclass(eq=False)
class Slot:
    """One open-model request, due at a fixed time whatever the answers do."""

    due: float  # monotonic time it fell due
    held: bool = False  # it waited for a free sender: the in-flight bound was reached
    settled: bool = False  # answered or cut: counted (or left out) once and for all


class Recorder:
    """The measured phase of one locust process, handed out a window (a minute) at a time.

    Measuring begins `warmup_s` after the first event (`begin`); `stop` ends it. `on_window`
    receives each streamed window when it is full, `on_close` the process's report at the end;
    `end_after`, if set, is called once at the start with the seconds until the window should end
    (only when `duration_s` > 0: the locustfile ends a process running alone then).
    """

    def __init__(self, *, warmup_s: float = 0.0, duration_s: float = 0.0, window_s: float = 60.0, rate: float = 0.0,
                 clock: Clock | None = None, on_window: Callable[[Tally], None] | None = None,
                 on_close: Callable[[ProcessReport], None] | None = None) -> None:  # fmt: skip
        self.warmup_s, self.duration_s, self.window_s = warmup_s, duration_s, window_s
        self.clock = clock or Clock()
        self.on_window = on_window or (lambda _: None)
        self.on_close = on_close or (lambda _: None)
        self.end_after: Callable[[float], None] | None = None
        self.report = ProcessReport(warmup_s=warmup_s, offered_rps=rate or None)
        self.measuring_from: float | None = None  # monotonic: the warmup's end
        self.stopped_at: float | None = None  # monotonic: the window's end
        self.window: Tally | None = None  # the streamed window being filled
        self.window_end = 0.0  # monotonic
        self.cpu_at_start: float | None = None  # process CPU seconds when measuring began
        self.tcp_at_start: dict[str, int] | None = None  # this namespace's TCP counters then
        self.closed = False

    def begin(self, now: float) -> None:
        """The load starts at monotonic time `now` (the first answer, or the schedule's first slot):
        the warmup runs from here. Later calls change nothing."""
        if self.measuring_from is not None:
            return
        self.measuring_from = now + self.warmup_s
        self.report.measured_from = self.clock.wall() + self.warmup_s
        if self.duration_s > 0 and self.end_after is not None:
            self.end_after(self.warmup_s + self.duration_s)

    @property
    def ended(self) -> bool:
        """The measured window is over: the lab's users send nothing more while locust stops them, so
        what a server or a gateway counts over the whole load stays within one request per user of
        what the clients counted."""
        return self.report.stopped is not None

    def end(self) -> float:
        """Monotonic time the window ended (now, if it has not)."""
        return self.clock.monotonic() if self.stopped_at is None else self.stopped_at

    def add(self, ms: float, status: int, failed: bool, overloaded: bool, slot: Slot | None = None,
            version: str | None = None, attempts: int = 1, request_id: bool = False) -> None:  # fmt: skip
        """One answer that took `ms`; `slot`: the open model's slot it answers (None: closed model);
        `version`, `attempts`, `request_id`: what a gateway's answer said (bench/load/record.py)."""
        now = self._now()
        if slot is not None and (slot.settled or self._phase(now) is Phase.AFTER):
            self.cut(slot, sent=True)  # late for the window: unanswered at its end (if it was the window's)
            return
        phase = self._phase(now)
        if phase is Phase.AFTER:
            return
        window = self._current(now) if phase is Phase.WINDOW else None
        if slot is not None:
            slot.settled = True
            phase = self._due_phase(slot.due)  # a slot is the window's when it fell due in it
            if phase is Phase.AFTER:
                return  # due at the planned end or later, answered before the stop: not the window's
        if phase is Phase.WARMUP or window is None:
            self._warmup_answer(status, attempts)
            return
        assert self.measuring_from is not None
        corrected = None if slot is None else (now - slot.due) * 1000
        window.add(int(now - self.measuring_from), ms, status, failed, overloaded, corrected, version,
                   attempts, request_id)  # fmt: skip

    def _warmup_answer(self, status: int, attempts: int) -> None:
        report = self.report
        report.warmup_requests += 1
        report.warmup_retried += max(attempts - 1, 0)
        report.warmup_status_codes[str(status)] = report.warmup_status_codes.get(str(status), 0) + 1

    def sent(self, slot: Slot, in_flight: int) -> None:
        """An open-model slot leaves now, with `in_flight` requests then in flight: how late it left."""
        now = self._now()
        if self._phase(now) is not Phase.WINDOW:
            return  # a warmup's send; after the end its answer or the cut counts it
        window = self._current(now)
        if self._due_phase(slot.due) is Phase.WINDOW:
            window.send((now - slot.due) * 1000, slot.held, in_flight)

    def cut(self, slot: Slot, sent: bool) -> None:
        """At the end, a slot still unanswered (`sent` or never sent): if it fell due in the window, it
        counts as late by all the time it waited until the window ended. Once: a slot already
        answered or cut is left alone."""
        if slot.settled:
            return
        slot.settled = True
        end = self.end()
        if self.measuring_from is None or slot.due > end or self._due_phase(slot.due) is not Phase.WINDOW:
            return
        self._current(end).cut((end - slot.due) * 1000, sent)

    def _now(self) -> float:
        now = self.clock.monotonic()
        self.begin(now)
        return now

    def _phase(self, t: float) -> Phase:
        """Which part of the load monotonic time `t` falls in: [warmup)[window)[after."""
        assert self.measuring_from is not None
        if self.stopped_at is not None and t >= self.stopped_at:
            return Phase.AFTER
        return Phase.WARMUP if t < self.measuring_from else Phase.WINDOW

    def _due_phase(self, due: float) -> Phase:
        """Which part of the load a slot due at monotonic `due` belongs to: [warmup)[window)[after, the
        window's end being the one planned (`duration_s` after the warmup) when there is one, so the slot
        due exactly there, which the timer's lateness would otherwise let in and never send, is the
        after's: 200 req/s for 5 s are 1000 slots, not 1001. Slot times and the edges are both sums of
        the same start, so they are compared within `EDGE_S` of float rounding."""
        assert self.measuring_from is not None
        if due < self.measuring_from - EDGE_S:
            return Phase.WARMUP
        planned = self.measuring_from + self.duration_s if self.duration_s > 0 else None
        stopped = self.stopped_at is not None and due >= self.stopped_at
        if stopped or (planned is not None and due >= planned - EDGE_S):
            return Phase.AFTER
        return Phase.WINDOW

    def _current(self, now: float) -> Tally:
        """The streamed window monotonic time `now` falls in (opened, or the full ones handed out first)."""
        if self.window is None:
            self.cpu_at_start = self.clock.cpu()
            self.tcp_at_start = read_tcp_counters()
            self._open(0)
        while now >= self.window_end:
            self.flush()
        assert self.window is not None
        return self.window

    def _open(self, index: int) -> None:
        assert self.measuring_from is not None and self.report.measured_from is not None
        self.window = Tally(window=index, start=self.report.measured_from + index * self.window_s)
        self.window_end = self.measuring_from + (index + 1) * self.window_s

    def flush(self, end: float | None = None) -> None:
        """Hand out the current window (ending at wall-clock time `end`, or when full) and open the next."""
        window = self.window
        if window is None:
            return
        index = window.window or 0
        window.end = end or (window.start or 0.0) + self.window_s
        self.on_window(window)
        self._open(index + 1)

    def stop(self) -> None:
        """The measured phase is over: note when, the CPU it took, and this namespace's TCP side."""
        report = self.report
        if report.stopped is not None:
            return
        self.stopped_at = self.clock.monotonic()
        report.stopped = self.clock.wall()
        if self.cpu_at_start is not None:
            report.generator_cpu_seconds = self.clock.cpu() - self.cpu_at_start
        after = read_tcp_counters()
        if self.tcp_at_start is not None and after is not None:
            report.tcp = tcp_deltas(self.tcp_at_start, after)
        report.ports_in_use, report.port_range = local_ports() or (None, None)
        try:
            report.netns = os.readlink("/proc/self/ns/net")
        except OSError:
            report.netns = ""  # unknown: the locustfile names the process instead

    def close(self) -> None:
        """At quit: the last (partial) window, then the process's report (once: a shipping worker
        closes when the master asks, before it quits)."""
        if self.closed:
            return
        self.closed = True
        self.stop()
        self.flush(end=self.report.stopped)
        self.on_close(self.report)


class Schedule:
    """Open model: a slot every 1/`rate` s, whatever the answers do, like `vegeta attack -rate`.

    The caller sends each slot `take` hands it and tells `send`/`answered`; how many it sends at
    once is its bound (vegeta's -max-workers): beyond it a slot waits and is sent late (`held`).
    Every slot is timed from when it fell due as well as from its send (wrk2's correction of
    coordinated omission); `finish` counts every slot still unanswered at the end.
    """

    def __init__(self, rate: float, recorder: Recorder) -> None:
        self.rate = rate
        self.recorder = recorder
        self.start: float | None = None  # monotonic time of the first slot
        self.next_index = 0  # the first slot not yet due
        self.due: deque[Slot] = deque()  # due, not sent yet (oldest first)
        self.held = 0  # how many of the oldest due slots found every sender busy (the bound)
        self.in_flight: dict[object, Slot] = {}  # sender -> the slot it sends

    def _due_at(self, index: int) -> float:
        assert self.start is not None
        return self.start + index / self.rate  # not a running sum: no drift, edges land exactly

    def fall_due(self) -> None:
        """Queue every slot due by now; the first call starts the schedule (and the recorder's warmup)."""
        now = self.recorder.clock.monotonic()
        if self.start is None:
            self.start = now
            self.recorder.begin(now)
        while (due := self._due_at(self.next_index)) <= now:
            self.due.append(Slot(due))
            self.next_index += 1

    def take(self, free: int) -> list[Slot]:
        """The oldest due slots, at most `free` (the senders free now); what is left is held."""
        taken: list[Slot] = []
        while self.due and len(taken) < free:
            slot = self.due.popleft()
            slot.held, self.held = self.held > 0, max(self.held - 1, 0)
            taken.append(slot)
        self.held = len(self.due)  # they wait because every sender is busy
        return taken

    def next_due(self) -> float:
        """Monotonic time the next slot falls due (now, before the first pass)."""
        return self.recorder.clock.monotonic() if self.start is None else self._due_at(self.next_index)

    def wait_s(self) -> float:
        """How long to sleep before the next pass: until the next slot, 1 ms at most."""
        return min(max(self.next_due() - self.recorder.clock.monotonic(), 0.0), 0.001)

    def send(self, sender: object, slot: Slot) -> bool:
        """`sender` is about to send `slot`; False: the window ended first, so it was never sent."""
        if self.recorder.ended:
            self.recorder.cut(slot, sent=False)
            return False
        self.in_flight[sender] = slot
        self.recorder.sent(slot, len(self.in_flight))
        return True

    def answered(self, sender: object) -> None:
        """`sender`'s request is over (its answer was counted by the request event)."""
        self.in_flight.pop(sender, None)

    def finish(self) -> None:
        """The run is over: every slot unanswered, sent or not, is cut; the caller then stops its senders."""
        for slot in list(self.in_flight.values()):
            self.recorder.cut(slot, sent=True)
        for slot in self.due:
            self.recorder.cut(slot, sent=False)
        self.due.clear()
        if self.start is None:
            return
        end = self.recorder.end()
        while (due := self._due_at(self.next_index)) <= end:  # fell due after the last pass
            self.recorder.cut(Slot(due), sent=False)
            self.next_index += 1
