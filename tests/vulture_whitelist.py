"""Names vulture (tests/test_lint.py) would call dead that are used where it cannot see: read by a framework,
written to run.json by `dataclasses.asdict`, or called by the tests only.

Vulture matches names, not places: a name listed here counts as used everywhere, so keep the list short and
say on each line where the name is and who uses it. Functions a decorator registers (routes, error handlers,
locust's event listeners and tasks) need no line: the test passes `--ignore-decorators` for them.
Found a new one? `vulture bench apps benchmarks tests/vulture_whitelist.py --min-confidence 60` lists what
is left; delete what is dead, list here only what is used dynamically.
"""

# ruff: noqa: B018, F821
# (this file is vulture's data, never imported: each line is a bare use of a name)

# --- apps/: what Flask, werkzeug and pydantic read from the lab's classes
_.model_config  # apps/fastapi_app.py: each pydantic model's config, read by pydantic
_.sort_keys  # apps/flask_app.py `_JSONProvider`: read by Flask's JSON provider
_.ensure_ascii  # apps/flask_app.py `_JSONProvider`: read by Flask's JSON provider
_.merge_slashes  # apps/flask_app.py: set on werkzeug's URL map, read by werkzeug

# --- bench/: record fields written to run.json and the process reports by `asdict`, read back by name
_.p90_ms  # bench/load/record.py `Latency`: filled from its `percentile` metadata; the report reads fields by name
_.p95_ms  # bench/load/record.py `Latency`
_.p99_9_ms  # bench/load/record.py `Latency`
_.ok_latency  # bench/load/record.py `Figures`: run.json; bench/report/tables.py reads it by name
_.lateness  # bench/load/record.py `Figures`: run.json (the open model's send time - due time)
_.process  # bench/load/record.py `ProcessReport`: <host>-<pid> in each locust process's report file
_.schema_version  # bench/results.py `RunResult`: run.json's version field, written by asdict, read as `version`
_.redirect_request  # bench/stacks/verify.py `_NoRedirect`: urllib's redirect handler calls it
parse_flags  # bench/cli.py: the flags a command line gives, as main() parses them; tests/unit/test_cli.py and
# test_scenarios.py read the typed flags without running the command
variables  # bench/load/lab_load.py: every variable the locustfile reads;
# tests/unit/test_load.py checks no CLI name is one
task_nodes  # bench/backends/swarm/cluster.py: where a service's tasks run, read from the manager;
# tests/integration/test_cluster.py
leftovers  # bench/backends/swarm/cluster.py: what a cluster left behind;
# tests/integration/test_cluster.py checks nothing is
verify_rs256  # bench/gateway/jwt.py: tests/unit/test_gateway.py checks what `mint` signs with it
# (Envoy checks the real ones)

# --- bench/load/locustfile.py: what locust reads from the lab's locustfile
_.CPU_MONITOR_INTERVAL  # set on locust.runners, read by locust's CPU warning
ApiUser  # a User class locust runs (closed model)
OpenUser  # a User class locust runs (open model)
_.abstract  # locust's User attribute (the base classes)
_.default_headers  # FastHttpUser's attribute, read by locust
_.wait_time  # locust's User method
_.on_start  # locust's User hook
_.on_stop  # locust's User hook

# --- benchmarks/
VanillaUser  # benchmarks/vanilla_locustfile.py: locust runs the User classes of its locustfile
