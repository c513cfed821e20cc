"""From measurements to verdicts: every figure's summary per label (summary.py), how sure a comparison is
(stats.py), the service level objectives (slo.py), and what limited a measurement (diagnosis.py with
its rules.toml). Reads measurements, never the backends; the report formats what it decides."""
