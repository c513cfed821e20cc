"""A 3-node swarm of real engines in containers (bench/backends/swarm/cluster.py), HTTP across its overlay, and
nothing left.

node1 manages, node2 is labelled `bench.role=stack`, node3 `bench.role=load`. A two-replica dnsrr service
constrained to the stack label answers with its container's host name; a container on the load node
fetches it by service name and by each address the name resolves to, so the answers must be exactly the
two task containers' names, which are read from node2's own engine. Then `down` removes 3 containers, 3
volumes and 1 network, and nothing with the cluster's label remains.

Costs about 1 min here once the node image is cached (its first build: about 1.5 min more, debootstrap).
Skipped when no Docker engine answers, or when the node image is missing and debootstrap is too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from bench.backends.docker.images import debian_base
from bench.backends.swarm import cluster

SERVE = "hostname > /tmp/who && cd /tmp && exec python3 -m http.server 8000"
FETCH = """
import json, socket, time, urllib.request
def retried(call, *args):  # a task runs before its server listens, and its name spreads by gossip
    for _ in range(60):
        try:
            return call(*args)
        except OSError:
            time.sleep(0.5)
    return call(*args)
def get(host):
    with urllib.request.urlopen(f"http://{host}:8000/who", timeout=10) as answer:
        return answer.status, answer.read().decode().strip()
def resolve(name):
    found = sorted({a[4][0] for a in socket.getaddrinfo(name, 8000, proto=socket.IPPROTO_TCP)})
    if len(found) < 2:
        raise OSError(f"{name} resolves to {found}")
    return found
addresses = retried(resolve, "web")
print(json.dumps({"addresses": addresses, "by_name": [retried(get, "web") for _ in range(4)],
                  "by_address": [retried(get, a) for a in addresses]}))
"""


def _engine() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _can_build() -> bool:
    tag = cluster.node_image_tag(cluster.iptables_backend())
    have = subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0
    return have or shutil.which("debootstrap") is not None


pytestmark = [pytest.mark.skipif(not _engine() or not _can_build(), reason="no Docker engine, or no node image "
                                 "and no debootstrap to build one"), pytest.mark.timeout(900)]  # fmt: skip


def _out(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_three_engines_carry_http_across_the_overlay_and_leave_nothing() -> None:
    image = debian_base(("docker",), print)  # python3 from Debian: the server and the client
    built = cluster.up(3)
    try:
        manager, stack, load = built.nodes
        assert (manager.role, stack.role, load.role) == (None, "stack", "load")
        listed = _out(manager.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"))
        assert sorted(listed.splitlines()) == ["node1 Ready Leader", "node2 Ready ", "node3 Ready "]
        labels = {n.hostname: _out(manager.docker("node", "inspect", "-f", '{{index .Spec.Labels "bench.role"}}',
                                                  n.hostname)).strip() for n in built.nodes}  # fmt: skip
        assert labels == {"node1": "", "node2": "stack", "node3": "load"}

        cluster.load_image(image, [stack, load])
        _out(manager.docker("network", "create", "-d", "overlay", "--attachable", "spike"))
        _out(manager.docker("service", "create", "-d", "--name", "web", "--network", "spike", "--endpoint-mode",
                            "dnsrr", "--replicas", "2", "--constraint", "node.labels.bench.role==stack", image, "sh",
                            "-c", SERVE))  # fmt: skip
        tasks = _wait_for_tasks(stack, 2)
        assert cluster.task_nodes(built, "web") == ["node2", "node2"]  # from the manager's engine

        fetched = json.loads(_out(load.docker("run", "--rm", "--network", "spike", image, "python3", "-c", FETCH)))
        assert len(fetched["addresses"]) == 2
        assert sorted(body for _, body in fetched["by_address"]) == sorted(tasks)
        assert {status for status, _ in fetched["by_name"]} == {200}
        assert {body for _, body in fetched["by_name"]} <= set(tasks)
    finally:
        removed = cluster.down(built.name)
    assert removed == {"containers": 3, "volumes": 3, "networks": 1}
    assert cluster.leftovers(built.name) == []


def _wait_for_tasks(node: cluster.Node, count: int) -> list[str]:
    """Host names (short container ids) of the running `web` task containers on `node`'s own engine."""
    argv = node.docker("ps", "--filter", "label=com.docker.swarm.service.name=web", "--format", "{{.ID}}")
    for _ in range(300):
        ids = _out(argv).split()
        if len(ids) == count:
            return ids
        time.sleep(0.5)
    raise AssertionError(f"{count} web tasks did not start on {node.hostname}: {ids}")
