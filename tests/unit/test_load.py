"""Figures from locust's streamed samples: fine histograms, warmup left out, processes merged."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from bench import options as opt
from bench.load.lab_load import PREFIX, LabLoad
from bench.load.record import Figures, ProcessReport, Tally, bucket, bucket_value, percentile
from bench.load.runner import locust_args, locust_env, main, read_samples
from bench.results import LoadShape
from bench.scenarios import SCENARIOS
from bench.session import fresh
from bench.stacks.catalog import ROOT


def window(index: int, start: float, end: float, ok: list[float], failed: tuple[float, ...] = (),
           codes: tuple[int, ...] = (), overloaded: int = 0) -> dict[str, Any]:  # fmt: skip
    """A window file, written by the class the locustfile writes it with."""
    tally = Tally(window=index, start=start, end=end)
    for i, ms in enumerate([*ok, *failed]):
        bad = i >= len(ok)
        tally.add(i % 2, ms, codes[i] if codes else 200, bad, overloaded=bad and overloaded > 0)
    return tally.to_json()


def note(start: float | None, stop: float, cpu: float | None = None) -> dict[str, Any]:
    """A process's closing report, as the locustfile writes it."""
    return ProcessReport(process="p", measured_from=start, stopped=stop, generator_cpu_seconds=cpu).to_json()


def write(folder: Path, name: str, data: dict[str, Any]) -> None:
    (folder / name).write_text(json.dumps(data))


def test_histogram_is_finer_than_a_tenth_of_a_millisecond_below_100_ms() -> None:
    for ms in (0.31, 0.42, 7.777, 99.99):
        assert abs(bucket_value(bucket(ms)) - ms) <= 0.005 + 1e-9
    for ms, half in ((123.456, 0.05), (4321.5, 0.5)):  # coarser above 100 ms and above 1 s
        assert abs(bucket_value(bucket(ms)) - ms) <= half + 1e-9
    assert percentile({bucket(x): 1 for x in (0.31, 0.42, 0.57, 0.88, 1.3)}, 50) == 0.57
    assert percentile({}, 50) is None


def test_a_tally_reads_back_what_it_wrote_and_tallies_add_up() -> None:
    a, b = Tally(window=0, start=10.0, end=20.0), Tally(window=0, start=9.0, end=15.0)
    a.add(0, 1.5, 200, False, False)
    b.add(3, 7.25, 503, True, True)
    again = Tally.from_json(json.loads(json.dumps(a.to_json())))
    assert again == a
    again.merge(b)
    assert (again.requests, again.failures, again.overloaded) == (2, 1, 1)
    assert (again.start, again.end, again.min_ms, again.max_ms) == (9.0, 20.0, 1.5, 7.25)
    assert again.status_codes == {"200": 1, "503": 1} and again.per_second == {0: 1, 3: 1}


def test_figures_from_one_process(tmp_path: Path) -> None:
    codes = (200, 200, 200, 200, 503)
    write(tmp_path, "samples-1-w00000.json", window(0, 100.0, 102.0, [1.25, 3.5, 2.0, 10.125], (0.05,), codes, 1))
    write(tmp_path, "samples-1.json", note(100.0, 102.0, 1.9))
    figures = read_samples(tmp_path)
    assert figures is not None
    assert figures.requests == 5 and figures.failures == 1 and figures.overloaded == 1
    lat = figures.latency
    assert lat.avg_ms == round((1.25 + 3.5 + 2.0 + 10.125 + 0.05) / 5, 3)  # exact, not bucketed
    assert (lat.min_ms, lat.p50_ms, lat.max_ms) == (0.05, 2.0, 10.125)
    assert figures.rps == 2.5  # 5 requests in the 2 s window
    assert figures.ok_latency.p50_ms == 2.0  # the failed 0.05 ms request is not in it
    assert figures.generator_cpu_percent == 95.0
    assert figures.generator_bound
    assert figures.status_codes == {"200": 4, "503": 1}


def test_processes_and_windows_are_merged(tmp_path: Path) -> None:
    write(tmp_path, "samples-1-w00000.json", window(0, 100.0, 160.0, [1.0, 2.0]))
    write(tmp_path, "samples-1-w00001.json", window(1, 160.0, 170.0, [3.0]))
    write(tmp_path, "samples-2-w00000.json", window(0, 100.5, 160.5, [4.0]))
    write(tmp_path, "samples-1.json", note(100.0, 170.0, 14.0))
    write(tmp_path, "samples-2.json", note(100.5, 170.5, 35.0))
    write(tmp_path, "samples-3.json", note(None, 171.0))  # the master: no requests
    figures = read_samples(tmp_path)
    assert figures is not None
    assert figures.requests == 4
    assert figures.measured_s == 71.0  # from the earliest start to the latest stop
    assert figures.generator_cpu_percent == round(100 * 35.0 / 71.0, 1)  # the busiest process
    assert [w.requests for w in figures.per_window] == [3, 1]  # a row per minute, for drift
    assert figures.processes == 3


def test_a_crashed_process_still_leaves_its_finished_windows(tmp_path: Path) -> None:
    write(tmp_path, "samples-1-w00000.json", window(0, 100.0, 160.0, [1.0, 2.0, 3.0]))
    (tmp_path / "samples-1-w00001.json.tmp").write_text('{"window": 1, "sta')  # died while writing
    figures = read_samples(tmp_path)
    assert figures is not None
    assert figures.requests == 3 and figures.measured_s == 60.0


def test_no_samples_means_no_figures(tmp_path: Path) -> None:
    assert read_samples(tmp_path) is None


def test_locust_command_line_and_environment() -> None:
    settings = LoadShape(users=20, spawn_rate=5, duration_s=10, warmup_s=2.5, rate=300, processes=2)
    args = locust_args("http://127.0.0.1:8000", settings, "/out", "/bench/locustfile.py")
    assert args[args.index("-t") + 1] == "13s"  # warmup + window, rounded up
    assert args[args.index("--processes") + 1] == "2"
    assert "--json-file" in args and "--csv" in args
    env = locust_env(settings, "/out")
    assert env["LAB_LOAD_PROCESS_RATE"] == "150"  # each of the 2 processes paces half the rate
    assert env["LAB_LOAD_PROCESS_MAX_IN_FLIGHT"] == "5000"  # and half the bound
    assert env["LAB_LOAD_SAMPLES"] == "/out/samples" and env["LAB_LOAD_DURATION_S"] == "10"
    told = LabLoad.from_env(env)  # what each locust process reads back
    assert (told.process_rate, told.warmup_s, told.duration_s, told.own_users) == (150.0, 2.5, 10.0, True)


def test_what_the_locustfile_is_told_survives_its_environment() -> None:
    sent = LabLoad(samples="/out/samples", warmup_s=1.5, duration_s=0.25, wait_s=0.05, process_rate=333.5,
                   process_max_in_flight=7, mix='[{"method": "GET", "path": "/x"}]', own_users=False, window_s=2.0,
                   ship=True, headers={"Authorization": "Bearer t"}, source_address="127.0.0.2")  # fmt: skip
    assert {f.name for f in fields(LabLoad)} == {k for k, v in vars(sent).items() if v != getattr(LabLoad(), k)}
    env = sent.to_env()
    assert all(name.startswith("LAB_LOAD_") for name in env) and len(env) == len(fields(LabLoad))
    assert LabLoad.from_env(env) == sent
    assert LabLoad.from_env({}) == LabLoad() == LabLoad.from_env(LabLoad().to_env())
    assert LabLoad.from_env({name: "" for name in env}) == LabLoad()  # set empty (compose's ${VAR:-}): the default


def test_no_name_means_one_thing_to_the_cli_and_another_to_the_locustfile() -> None:
    """BENCH_DURATION is "1m" to the CLI; what one locust process is told has names of its own."""
    cli = {o.env for s in SCENARIOS for o in (*s.options, *opt.SHARED) if o.env}
    assert "BENCH_DURATION" in cli and "BENCH_RATE" in cli
    assert not cli & set(LabLoad().to_env())
    assert all(not name.startswith(PREFIX) for name in cli)


def test_every_lab_load_name_in_the_repository_is_one_the_locustfile_reads() -> None:
    """A variable renamed in bench/load/lab_load.py but not in a compose file or a backend fails here."""
    texts = [p for pattern in ("bench/**/*.py", "stacks/**/*.yml", "dockerfiles/*") for p in ROOT.glob(pattern)]
    used = {name for p in texts for name in re.findall(r"LAB_LOAD_[A-Z_]+", p.read_text(encoding="utf-8"))}
    assert used - {PREFIX} <= set(LabLoad().to_env())
    load_yml = (ROOT / "stacks" / "common" / "load.yml").read_text(encoding="utf-8")
    assert all(f"{name}:" in load_yml for name in LabLoad().to_env())  # compose's workers are told everything


def test_samples_gathered_from_workers_on_other_hosts_are_merged_by_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "samples-hostA-7-w00000.json", window(0, 100.0, 110.0, [1.0, 2.0]))
    write(tmp_path, "samples-hostB-7-w00000.json", window(0, 100.0, 110.0, [3.0]))  # same pid, other host
    write(tmp_path, "samples-hostA-7.json", note(100.0, 110.0, 2.0))
    write(tmp_path, "samples-hostB-7.json", note(100.0, 110.0, 3.0))
    assert main([str(tmp_path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["requests"] == 3 and shown["rps"] == 0.3 and shown["generator_bound"] is False
    assert main([str(tmp_path / "empty")]) == 1


def test_open_model_slots_are_timed_from_when_they_were_due_and_none_is_dropped() -> None:
    tally = Tally(window=0, start=0.0, end=10.0)
    tally.send(lateness_ms=0.5, held=False, in_flight=1)
    tally.add(0, 4.0, 200, False, False, corrected_ms=4.5)  # sent 0.5 ms late, answered in 4 ms
    tally.send(lateness_ms=25.0, held=True, in_flight=2)  # held by the in-flight bound
    tally.add(1, 5.0, 200, False, False, corrected_ms=30.0)
    tally.send(lateness_ms=1.0, held=False, in_flight=2)
    tally.cut(900.0, sent=True)  # still in flight at the end
    tally.cut(300.0, sent=False)  # due, never sent
    figures = Figures.of([tally], [ProcessReport(measured_from=0.0, stopped=10.0, offered_rps=0.4)])
    assert (figures.requests, figures.slots) == (2, 4)  # every due slot counts, answered or not
    assert (figures.late, figures.held, figures.unfinished, figures.unsent) == (2, 1, 1, 1)
    assert figures.corrected.max_ms == 900.0 and figures.corrected.avg_ms == round((4.5 + 30 + 900 + 300) / 4, 3)
    assert figures.latency.max_ms == 5.0  # timed from the send, the same requests look fast
    assert figures.peak_in_flight == 2 and figures.lateness.max_ms == 25.0


def test_a_load_never_reads_an_earlier_loads_samples(tmp_path: Path) -> None:
    out = tmp_path / "floor" / "load"
    assert fresh(out) == out  # nothing there yet
    out.mkdir(parents=True)
    (out / "locust.log").write_text("")  # other files of a load do not count
    assert fresh(out) == out
    (out / "samples-vm-1.json").write_text("{}")  # the floor's samples, then a row labelled `floor`
    assert fresh(out) == tmp_path / "floor" / "load-2"
    (tmp_path / "floor" / "load-2").mkdir()
    (tmp_path / "floor" / "load-2" / "samples-vm-2-w00000.json").write_text("{}")
    assert fresh(out) == tmp_path / "floor" / "load-3"
