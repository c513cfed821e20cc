"""The breaker section names each count of the open model for what it is: slots held by the in-flight bound
(sent late), slots sent and still unanswered at the end, slots never sent (queued, or due at the window's edge)."""

from __future__ import annotations

from dataclasses import replace

from bench.analysis.summary import group
from bench.load.record import Figures, ProcessReport, Tally
from bench.report.breaker import _reading
from bench.results import LoadShape
from tests.factories import START, measured


def _phase() -> Figures:
    """19 slots due in 10 s: 10 sent on time and answered, 4 held by the bound (sent 25 ms late) and answered,
    2 sent and unanswered at the end, 3 never sent."""
    tally = Tally(window=0, start=START, end=START + 10)
    for i in range(14):
        held = i >= 10
        tally.send(25.0 if held else 0.0, held, in_flight=3 if held else 1)
        tally.add(i % 10, 5.0, 200, False, False, corrected_ms=30.0 if held else 5.0)
    for _ in range(2):
        tally.cut(500.0, sent=True)
    for _ in range(3):
        tally.cut(200.0, sent=False)
    return Figures.of([tally], [ProcessReport("h-1", START, START + 10, offered_rps=1.9)])


def test_held_unanswered_and_never_sent_are_each_said_for_what_they_are() -> None:
    f = _phase()
    assert (f.slots, f.requests, f.held, f.unfinished, f.unsent) == (19, 14, 4, 2, 3)
    m = replace(measured("stack@breaker=off", role="overload"), figures=f, load=LoadShape.open(1.9, 10.0))
    text = _reading("off", group("stack@breaker=off", [m], role="overload"))
    # p99 from due of every slot: 10 at 5 ms, 4 at 30, 3 at 200, 2 at 500 -> the 19th of 19 is 500 ms
    assert text == (
        "`off`: 19 requests were due at 2 req/s; 14 got a successful answer (73.68 %), answers came at 1 req/s, and "
        "timed from when they were due, p99 was 500 ms. 2 were sent but still unanswered when the phase ended "
        "(counted late by all they waited). 4 waited for a free sender, --max-in-flight requests being in flight "
        "already, and left late. 3 fell due in the phase but were never sent: still queued when it ended (behind the "
        "in-flight bound, or a generator that fell behind) or due in its last moment.")
