"""What the two Docker-engine backends (compose, swarm) share: the docker command as a subprocess, the
engine's stats of a stack's containers, compose's variable syntax, the BENCH_* variables a stack's compose
file reads, and the pool that takes bring-ups down while the run goes on. Compose and swarm import this
package, never each other (tests/unit/test_imports.py)."""
