"""The measured window and the open model's schedule (bench/load/window.py), driven on a fake clock as
bench/load/locustfile.py drives them inside locust; every expected value is computed by hand in the test."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from bench.load.record import Figures, Tally
from bench.load.window import Clock, Recorder, Schedule, Slot

WALL = 1_800_000_000.0  # the wall clock's reading at monotonic time 0


class FakeClock:
    """Time moves only when the test moves it; the wall clock can be stepped on its own (NTP)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.wall_offset = WALL

    def clock(self) -> Clock:
        return Clock(wall=lambda: self.wall_offset + self.now, monotonic=lambda: self.now, cpu=lambda: 0.0)


@dataclass
class OpenLoad:
    """The open model as OpenUser runs it: each pass of the schedule queues what fell due and sends
    as many as the bound lets through; the server answers the n-th request sent at `answer_at(n, sent)`."""

    rate: float
    warmup_s: float
    duration_s: float
    bound: int
    answer_at: Callable[[int, float], float]
    window_s: float = 60.0
    clock: FakeClock = field(default_factory=FakeClock)
    windows: list[Tally] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)  # when each answer landed, counted or not
    pending: list[tuple[float, int, object, Slot, float]] = field(default_factory=list)  # a heap

    def __post_init__(self) -> None:
        self.recorder = Recorder(warmup_s=self.warmup_s, duration_s=self.duration_s, window_s=self.window_s,
                                 rate=self.rate, clock=self.clock.clock(), on_window=self.windows.append)  # fmt: skip
        self.schedule = Schedule(self.rate, self.recorder)
        self.sent = 0

    def run(self, stop_late_s: float = 0.0) -> None:
        """From the first slot until the window's end, then the stop (as locust's test_stopping), which a
        timer makes `stop_late_s` late: the schedule goes on sending until then."""
        end = self.warmup_s + self.duration_s + stop_late_s
        while True:
            self._pass()
            t = min(self.schedule.next_due(), self.pending[0][0] if self.pending else math.inf)
            if t >= end:
                break
            self.answer(until=t)
            self.clock.now = t
        self.clock.now = end
        self.recorder.stop()

    def _pass(self) -> None:
        self.schedule.fall_due()
        for slot in self.schedule.take(self.bound - len(self.schedule.in_flight)):
            sender = object()
            assert self.schedule.send(sender, slot)
            answer = self.answer_at(self.sent, self.clock.now)
            heapq.heappush(self.pending, (answer, self.sent, sender, slot, self.clock.now))
            self.sent += 1

    def answer(self, until: float) -> None:
        """Every answer due by `until` lands, as locust's request event reports it."""
        while self.pending and self.pending[0][0] <= until:
            t, _, sender, slot, sent_at = heapq.heappop(self.pending)
            self.clock.now = t
            self.recorder.add((t - sent_at) * 1000, 200, False, False, slot)
            self.schedule.answered(sender)
            self.answered.append(t)

    def figures(self) -> Figures:
        self.recorder.close()
        return Figures.of(self.windows, [self.recorder.report])


def test_slots_due_in_the_warmup_and_answered_in_the_window_are_the_warmups() -> None:
    """Issue 21's example: 1000 req/s offered, 500 req/s served FIFO, 2 s warmup, 10 s window.

    Slot i falls due at i ms; the server answers the n-th request at 2n + 1 ms (one every 2 ms,
    so no answer lands on an edge). Slots 2000..11999 are due in the window: 10,000. Answers
    before 12 s: n <= 5999. Of these, slots 0..999 are answered in the warmup and 1000..1999 in
    the window, late (the warmup's: 2000 warmup answers); 2000..5999 are the window's (4000, 500
    a second from the window's 3rd second, 4.001 s); 6000..11999 are in flight at the end (6000
    cut). Counting answers by when they land would count 5000 answers + 6000 cut = 11,000 slots.
    """
    load = OpenLoad(rate=1000, warmup_s=2, duration_s=10, bound=10_000, window_s=4,
                    answer_at=lambda n, _: (2 * n + 1) / 1000)  # fmt: skip
    load.run()
    load.schedule.finish()
    figures = load.figures()
    landed_in_window = sum(1 for t in load.answered if 2 <= t < 12)
    assert (landed_in_window, figures.unfinished) == (5000, 6000)  # the old rule: 11,000 slots
    assert (figures.slots, figures.requests, figures.failures, figures.unsent) == (10_000, 4000, 0, 0)
    assert (figures.requests - figures.failures) / figures.slots == 0.40  # ok 40 %, not 5000 / 11,000
    assert figures.warmup_requests == 2000 and figures.warmup_status_codes == {"200": 2000}
    assert figures.per_second == [[0, 0, 0], [1, 0, 0]] + [[s, 500, 0] for s in range(2, 10)]
    assert (figures.measured_from, figures.measured_s, figures.rps) == (WALL + 2, 10.0, 400.0)
    # from its due time: answered slot i after i + 1 ms (2001..6000), cut slot i after 12000 - i ms (6000..1)
    assert figures.corrected.max_ms == 6000.0 and figures.corrected.avg_ms == (16_002_000 + 18_003_000) / 10_000
    assert (figures.late, figures.held, figures.lateness.max_ms) == (0, 0, 0.0)  # every slot sent on time
    # streamed 4 s at a time (wall-clock edges), the last window ending at the stop
    assert [(w.start, w.end, w.requests) for w in load.windows] == [
        (WALL + 2, WALL + 6, 1000), (WALL + 6, WALL + 10, 2000), (WALL + 10, WALL + 12, 1000)]  # fmt: skip
    assert [sum(w.corrected_hist.values()) for w in load.windows] == [1000, 2000, 1000 + 6000]


@pytest.mark.parametrize("stop_late_s", [0.0, 0.0005, 0.003])
def test_a_stop_a_little_late_counts_the_planned_windows_slots_only(stop_late_s: float) -> None:
    """200 req/s for 5 s, each answered 1 ms after its send: slots 0..999 (due 0.000..4.995 s) are the
    window's, 1000 and none more. The stop's timer fires late (0.5 or 3 ms): slot 1000, due at 5.000 s,
    the planned end, falls due and is sent before the stop (answered at 5.001 s, or cut in flight): it is
    the after's, counted neither as a slot nor as an answer, so no healthy run shows an unsent slot."""
    load = OpenLoad(rate=200, warmup_s=0, duration_s=5, bound=100, answer_at=lambda _, sent: sent + 0.001)
    load.run(stop_late_s)
    load.schedule.finish()
    figures = load.figures()
    assert load.sent == 1000 + (stop_late_s > 0)  # the edge's slot did leave
    assert (figures.slots, figures.requests, figures.unfinished, figures.unsent, figures.late) == (1000, 1000, 0, 0, 0)
    assert figures.corrected.max_ms == 1.0


def _bounded_load() -> OpenLoad:
    """4 slots a second for 2 s, at most 2 in flight, every answer 1.125 s after its send:
    0.000 s0 sent           1.125 s0 answered (1125 ms); s2 sent, held, 625 ms late
    0.250 s1 sent           1.375 s1 answered (1125 ms); s3 sent, held, 625 ms late
    0.500, 0.750 s2, s3 held; 1.000, 1.250, 1.500, 1.750 s4..s7 held, never sent
    2.000 the end: s2, s3 in flight (answers due at 2.25 and 2.5) and s4..s7 unsent are cut;
          s8, due at 2.000 itself, is not the window's."""
    return OpenLoad(rate=4, warmup_s=0, duration_s=2, bound=2, answer_at=lambda _, sent: sent + 1.125)


def _assert_bounded_counts(figures: Figures) -> None:
    assert (figures.slots, figures.requests, figures.unfinished, figures.unsent) == (8, 2, 2, 4)
    assert (figures.held, figures.late, figures.peak_in_flight, figures.lateness.max_ms) == (2, 2 + 4, 2, 625.0)
    # waited until the end: s2 1500 ms, s3 1250, s4..s7 1000, 750, 500, 250
    assert figures.corrected.max_ms == 1500.0
    assert figures.corrected.avg_ms == (1125 + 1125 + 1500 + 1250 + 1000 + 750 + 500 + 250) / 8


def test_slots_unanswered_at_the_end_are_cut_sent_or_not() -> None:
    load = _bounded_load()
    load.run()
    load.schedule.finish()
    _assert_bounded_counts(load.figures())


@pytest.mark.parametrize("answers_land", ["before finish", "after finish"])
def test_a_slot_cut_at_the_end_then_answered_before_the_kill_counts_once(answers_land: str) -> None:
    """The window ends (stop), the users stop (finish cuts what is in flight), the senders are killed
    without waiting: s2's and s3's answers may land between any of these; each slot counts once."""
    load = _bounded_load()
    load.run()
    if answers_land == "before finish":
        load.answer(until=math.inf)
        load.schedule.finish()
    else:
        load.schedule.finish()
        load.answer(until=math.inf)
    assert load.answered == [1.125, 1.375, 2.25, 2.5]
    _assert_bounded_counts(load.figures())


def test_slots_due_in_the_warmup_are_never_the_windows_even_unanswered() -> None:
    """4 slots a second, 0.5 s warmup, 2 s window, at most 3 in flight, a server that never answers:
    s0, s1 (due 0, 0.25: the warmup's) and s2 (0.5) are sent; s3..s9 (0.75..2.25) wait. At 2.5 s:
    s2 is cut in flight after 2000 ms, s3..s9 unsent after 1750..250 ms; s0, s1 are nobody's."""
    load = OpenLoad(rate=4, warmup_s=0.5, duration_s=2, bound=3, answer_at=lambda _, sent: sent + 100)
    load.run()
    load.schedule.finish()
    figures = load.figures()
    assert (figures.slots, figures.requests, figures.unfinished, figures.unsent) == (8, 0, 1, 7)
    assert (figures.warmup_requests, figures.late, figures.peak_in_flight) == (0, 7, 3)
    assert figures.corrected.avg_ms == (2000 + 1750 + 1500 + 1250 + 1000 + 750 + 500 + 250) / 8


def test_closed_model_requests_count_by_when_their_answer_lands() -> None:
    clock, windows, ends = FakeClock(), list[Tally](), list[float]()
    recorder = Recorder(warmup_s=1, duration_s=2, window_s=1, clock=clock.clock(), on_window=windows.append)
    recorder.end_after = ends.append
    for now, ms, status in ((0.0, 2.0, 200), (0.5, 4.0, 500), (1.0, 3.0, 200), (2.5, 5.0, 503)):
        clock.now = now
        recorder.add(ms, status, status >= 500, False)
    clock.now = 3.0
    recorder.stop()
    clock.now = 3.2
    recorder.add(1.0, 200, False, False)  # after the window: nobody's
    recorder.close()
    figures = Figures.of(windows, [recorder.report])
    assert ends == [1 + 2]  # asked once, at the first answer, to end the window 3 s later
    assert (figures.warmup_requests, figures.warmup_status_codes) == (2, {"200": 1, "500": 1})
    assert (figures.requests, figures.failures, figures.per_second) == (2, 1, [[0, 1, 0], [1, 1, 1]])
    assert (figures.latency.min_ms, figures.latency.max_ms, figures.measured_s) == (3.0, 5.0, 2.0)
    assert (figures.slots, figures.unfinished, figures.corrected.avg_ms) == (0, 0, None)
    assert [(w.start, w.end, w.requests) for w in windows] == [(WALL + 1, WALL + 2, 1), (WALL + 2, WALL + 3, 1)]


def test_durations_are_monotonic_while_the_edges_stay_wall_clock() -> None:
    """The wall clock stepped back an hour mid-request changes no duration, only the wall-clock stop."""
    clock = FakeClock()
    recorder = Recorder(rate=4, clock=clock.clock())
    schedule = Schedule(4, recorder)
    schedule.fall_due()
    [slot] = schedule.take(1)
    assert schedule.send("sender", slot)
    clock.now, clock.wall_offset = 0.125, WALL - 3600
    recorder.add(100.0, 200, False, False, slot)
    clock.now = 0.2
    recorder.stop()
    assert (recorder.report.measured_from, recorder.report.stopped) == (WALL, WALL - 3600 + 0.2)
    assert recorder.window is not None and recorder.window.corrected_max_ms == 125.0
