"""The load generator: runner.py drives headless locust; the rest ships beside the locustfile.

locustfile.py runs inside locust, with the three files it imports by name from its own folder
(locust puts it on sys.path): lab_load.py (what it is told), record.py (what it tallies: the one record
of a measurement) and window.py (which requests its window counts). Those four are standard library
and locust only, and travel together: the python image, .dockerignore, stacks/common/load.yml's mounts,
the swarm configs, a hand-run worker.
"""
