"""`bench stack A B --rate R`, measured for real: every row offered R req/s (the open model), its latency timed
from when each request was due, the verdicts at that equal load; the floor at the start and at the end (the
noise guard). Two stacks quick to start (gunicorn, and nginx answering from memory as a stack), two repeats."""

from __future__ import annotations

import statistics
from pathlib import Path

from tests.integration.conftest import measurements, only_run, run_bench, table_rows

RATE, SECONDS = 100, 2.0
LOAD = ["--rate", str(RATE), "-t", f"{SECONDS:g}s", "--warmup", "0.5s", "--repeat", "2", "--backend", "local"]
STACKS = ["flask_gunicorn", "floor"]


def test_two_stacks_at_one_rate(tmp_path: Path) -> None:
    done = run_bench("stack", *STACKS, *LOAD, "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    _, run = only_run(tmp_path)
    settings = run["settings"]
    assert (settings["rate"], settings["offered_rps"], settings["max_in_flight"]) == (f"{RATE} req/s", RATE, 10_000)
    assert "users" not in settings
    rows = measurements(run)
    assert [m["label"] for m in rows] == [*STACKS, *reversed(STACKS)]  # interleaved
    due = RATE * SECONDS  # slots that fall due in the measured window, whatever the stack does
    for m in rows:
        f = m["figures"]
        assert m["status"] == "ok" and m["load"]["rate"] == RATE and f["offered_rps"] == RATE, m["label"]
        # every slot due in the window is answered, failed, still unanswered at the end, or never sent: once each
        assert f["slots"] == f["requests"] + f["unfinished"] + f["unsent"], m["label"]
        # counted by due time, the planned window [start, start + 2 s), not by answers nor by when the stop came
        assert f["slots"] == due, (m["label"], f["slots"])
        # timed from due, a request waits at least as long as from its send (the schedule's lateness on top)
        assert f["corrected"]["avg_ms"] >= f["latency"]["avg_ms"] - 0.01, m["label"]
        assert f["ok_corrected"]["avg_ms"] >= f["ok_latency"]["avg_ms"] - 0.01, m["label"]
    summary = (tmp_path / "summary.md").read_text()
    assert f"**Open model**: every row offered {RATE} req/s (`--rate`: {RATE} req/s)" in summary
    head = table_rows(summary, "stack")[0]
    assert head[2:4] == ["avg from due (ms)", "p99 from due (ms)"]
    row = dict(zip(head, table_rows(summary, "`floor`")[0], strict=True))
    floor_due = [m["figures"]["ok_corrected"]["avg_ms"] for m in rows if m["label"] == "floor"]  # successful only
    assert row["avg from due (ms)"].split(" ")[0] == f"{statistics.median(floor_due):.2f}"
    compared = summary.split("## Compared with")[1].split("\n## ")[0]  # (the noise warning may list it too)
    (verdicts,) = [line for line in compared.splitlines() if line.startswith("- `floor`: ")]
    assert verdicts.count("avg from due ") == 1 and verdicts.count("p99 from due ") == 1, verdicts
    assert "throughput" not in verdicts  # equal offered load: latency is the comparison
    # the noise guard: the floor at the start and again at the end, both kept, compared in run.json
    (start,), (end,) = measurements(run, "floor"), measurements(run, "floor_end")
    assert start["status"] == end["status"] == "ok" and end["load"] == start["load"]
    noise = run["noise"]
    assert (noise["start_rps"], noise["end_rps"]) == (start["figures"]["rps"], end["figures"]["rps"])
    change = 100 * (end["figures"]["rps"] - start["figures"]["rps"]) / start["figures"]["rps"]
    assert noise["rps_change_pct"] == round(change, 1)
    assert "Measured again at the end: avg " in summary
    assert ("WARNING: the machine changed speed" in summary) == noise["changed"]
