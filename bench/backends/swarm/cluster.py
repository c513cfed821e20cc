"""A multi-node swarm on one host, made of real engines: N Docker engines, each in its own container.

Each node is a container of `bench/cluster-node:<digest>` (Debian's docker.io in a debootstrap root,
`docker import`ed, no registry), with its own `/var/lib/docker` volume and its own network namespace,
on a bridge network created for the cluster (`bench-cluster-<id>`). Its engine listens on the node's
address on that bridge (`tcp://<ip>:2375`, no TLS: the bridge is private to this host), which is how
the host CLI reaches it (`DOCKER_HOST`). Node 1 initialises a swarm advertising that address, the
others join it, and nodes get `bench.role` labels. Images go in by `docker save | docker -H <node> load`.

It simulates several machines on one kernel: placement, overlay networking and moving files and images
between engines are real; capacity is not (every node shares the host's cores). What the spike found on
this machine (docs/multi-node-spike.md): the overlay carries HTTP between nodes with `endpoint_mode:
dnsrr`; service VIPs and the ingress mesh do not work, the kernel has no IPVS (nor inside the nodes).

Everything a cluster creates carries the label `bench.cluster=<name>`, and `down(name)` removes exactly
what has that label value: the node containers, their volumes and the network. The host engine's own
swarm state is never touched; `swarm init`/`join` run only inside the nodes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.backends.docker.images import DEBIAN_MIRROR, DEBIAN_SUITE
from bench.errors import ConfigError, MissingToolError, StackFailed

IMAGE = "bench/cluster-node"
PACKAGES = ("docker.io", "iptables", "iproute2", "procps", "ca-certificates")
LABEL = "bench.cluster"
PORT = 2375
ENGINE_WAIT_S = 120.0  # an engine answers in 1-4 s here; generous for a machine 2x slower and shared
# The node's entry point. Without --privileged the cgroup v1 hierarchies are mounted read-only and the
# inner engine cannot create its containers' cgroups ("mkdir /sys/fs/cgroup/cpuset/docker: read-only
# file system"); they are bind mounts, so a bind remount makes them writable. `--tls=false` says the
# unencrypted TCP listener is meant: without it dockerd 20.10 waits 15 s at start to show its warning.
ENTRY = """#!/bin/sh
set -e
for d in /sys/fs/cgroup/*; do mount -o remount,bind,rw "$d"; done
exec dockerd --host unix:///var/run/docker.sock --host tcp://0.0.0.0:2375 --tls=false "$@"
"""
ENTRY_PATH = "/usr/local/sbin/bench-node"
# Capability numbers to the names `docker run --cap-drop` takes (linux/capability.h, 0..40).
CAPS = ("CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
        "CHECKPOINT_RESTORE")  # fmt: skip

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Node:
    """One engine of the cluster: its host name in the swarm, its container, its address on the bridge."""

    hostname: str
    container: str
    address: str
    role: str | None  # the `bench.role` label, None for none

    @property
    def host(self) -> str:
        """The node's engine as a DOCKER_HOST value."""
        return f"tcp://{self.address}:{PORT}"

    def docker(self, *args: str) -> list[str]:
        """argv of a docker CLI call against this node's engine."""
        return ["docker", "-H", self.host, *args]


@dataclass(frozen=True)
class Cluster:
    """A running cluster; node 1 is the swarm's manager."""

    name: str
    image: str
    mode: str  # how the nodes run: "privileged", or "caps: all but X" where the host lacks a capability
    nodes: tuple[Node, ...]
    seconds: float  # bring-up time, node image excluded

    @property
    def manager(self) -> Node:
        return self.nodes[0]


def default_roles(count: int) -> list[str | None]:
    """`bench.role` per node: the last node generates load, the workers between the manager and it hold the
    stack; with two nodes the manager takes the load; one node has no labels (the lab's single-node default)."""
    if count == 1:
        return [None]
    if count == 2:
        return ["load", "stack"]
    return [None, *(["stack"] * (count - 2)), "load"]


def up(count: int = 3, name: str | None = None, roles: Sequence[str | None] | None = None,
       say: Say = _quiet) -> Cluster:  # fmt: skip
    """Start `count` engines in containers, join them into one swarm, label them; on failure remove what was
    created and raise."""
    roles = list(roles) if roles is not None else default_roles(count)
    if count < 1 or len(roles) != count:
        raise ValueError(f"{count} nodes need {count} roles, got {roles}")
    image = node_image(say)
    name = name or f"bench-cluster-{secrets.token_hex(3)}"
    if leftovers(name):  # checked first: the cleanup below must never remove a cluster that was there before
        raise ConfigError(f"a cluster named {name} exists on this engine", tip=f"scripts/cluster down {name}")
    started = time.monotonic()
    try:
        cluster = _start(name, image, roles, say)
        _form_swarm(cluster)
    except BaseException:  # Ctrl-C too: nothing of a half-built cluster stays
        down(name)
        raise
    cluster = Cluster(cluster.name, image, cluster.mode, cluster.nodes, round(time.monotonic() - started, 1))
    say(f"{name}: {count} nodes up in {cluster.seconds:.1f} s, manager {cluster.manager.host}")
    return cluster


@contextmanager
def running(count: int = 3, roles: Sequence[str | None] | None = None, say: Say = _quiet) -> Iterator[Cluster]:
    """A cluster for the body of a `with`, removed afterwards whatever happens."""
    cluster = up(count, roles=roles, say=say)
    try:
        yield cluster
    finally:
        down(cluster.name)


def down(name: str) -> dict[str, int]:
    """Remove the node containers (and their anonymous volumes), the named volumes and the network carrying
    `bench.cluster=<name>`; return how many of each were removed."""
    selector = f"label={LABEL}={name}"
    containers = _lines(_docker("ps", "-aq", "--filter", selector))
    if containers:
        _docker("rm", "-f", "-v", *containers, timeout=180)  # each inner engine stops its containers first
    volumes = _lines(_docker("volume", "ls", "-q", "--filter", selector))
    if volumes:
        _docker("volume", "rm", *volumes)
    networks = _lines(_docker("network", "ls", "-q", "--filter", selector))
    if networks:
        _docker("network", "rm", *networks)
    return {"containers": len(containers), "volumes": len(volumes), "networks": len(networks)}


def leftovers(name: str) -> list[str]:
    """Anything with the cluster's label still on the host engine, as `kind id`."""
    selector = f"label={LABEL}={name}"
    found = [f"container {c}" for c in _lines(_docker("ps", "-aq", "--filter", selector))]
    found += [f"volume {v}" for v in _lines(_docker("volume", "ls", "-q", "--filter", selector))]
    found += [f"network {n}" for n in _lines(_docker("network", "ls", "-q", "--filter", selector))]
    return found


def clusters() -> list[str]:
    """Names of the clusters on the host engine (one network each)."""
    out = _docker("network", "ls", "--filter", f"label={LABEL}", "--format", f'{{{{.Label "{LABEL}"}}}}')
    return sorted(set(_lines(out)))


def load_image(image: str, nodes: Sequence[Node]) -> float:
    """`docker save IMAGE | docker -H <node> load` into every node at once; the seconds it took."""
    started = time.monotonic()
    errors: list[str] = []

    def one(node: Node) -> None:
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert save.stdout is not None
        load = subprocess.run(node.docker("load", "-q"), stdin=save.stdout, capture_output=True, text=True)
        save.stdout.close()
        save_err = save.communicate()[1].decode(errors="replace")
        if save.returncode != 0 or load.returncode != 0:
            errors.append(f"{node.hostname}: {(save_err + load.stderr).strip()[-500:]}")

    threads = [threading.Thread(target=one, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise StackFailed(f"loading {image} into the nodes failed", "\n".join(errors))
    return round(time.monotonic() - started, 1)


def task_nodes(cluster: Cluster, service: str) -> list[str]:
    """Host names of the nodes where a service's running tasks are, as the manager's engine reports them."""
    out = _run(cluster.manager.docker("service", "ps", service, "--filter", "desired-state=running",
                                      "--format", "{{.Node}}"))  # fmt: skip
    return sorted(_lines(out))


# --- the node image ---------------------------------------------------------------------------------


def iptables_backend() -> str:
    """The host's iptables backend (`nft` or `legacy`), which the nodes use too; `nft` (Debian's default)
    when the host has no iptables command."""
    path = shutil.which("iptables") or shutil.which("iptables", path="/usr/sbin:/sbin")
    if path is None:
        return "nft"
    done = subprocess.run([path, "--version"], capture_output=True, text=True)
    return "legacy" if "legacy" in done.stdout else "nft"


def node_image_tag(backend: str) -> str:
    """The node image is tagged by what it holds: suite, packages, entry point and iptables backend."""
    text = "\n".join([DEBIAN_SUITE, *PACKAGES, ENTRY, backend])
    return f"{IMAGE}:{DEBIAN_SUITE}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def node_image(say: Say = _quiet) -> str:
    """Build the node image once with debootstrap + `docker import` (about a minute, 550 MB), then reuse it."""
    backend = iptables_backend()
    tag = node_image_tag(backend)
    if _run(["docker", "image", "inspect", tag], check=False).returncode == 0:
        return tag
    if shutil.which("debootstrap") is None:
        raise MissingToolError("debootstrap is needed to build the cluster's node image",
                               tip="apt-get install -y debootstrap")  # fmt: skip
    say(f"building the node image {tag} with debootstrap (about a minute, once) ...")
    with tempfile.TemporaryDirectory(prefix="bench-node-rootfs-") as tmp:
        rootfs = Path(tmp)
        argv = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", DEBIAN_SUITE, str(rootfs),
                DEBIAN_MIRROR]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise MissingToolError(f"debootstrap failed:\n{(done.stdout + done.stderr)[-2000:]}")
        for tool in ("iptables", "ip6tables"):
            _run(["chroot", str(rootfs), "update-alternatives", "--set", tool, f"/usr/sbin/{tool}-{backend}"])
        entry = rootfs / ENTRY_PATH.lstrip("/")
        entry.write_text(ENTRY, encoding="utf-8")
        entry.chmod(0o755)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "--change", f'ENTRYPOINT ["{ENTRY_PATH}"]', "-", tag],
                                  stdin=tar.stdout, capture_output=True, text=True)  # fmt: skip
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise MissingToolError(f"docker import of the node image failed: {imported.stderr[-1000:]}")
    return tag


# --- bring-up ---------------------------------------------------------------------------------------


def run_mode(image: str, name: str) -> tuple[str, list[str]]:
    """(description, `docker run` options) for a node. `--privileged` where the host engine can grant it;
    where its bounding set lacks capabilities (here CAP_SYS_RESOURCE: "unable to apply caps: operation not
    permitted"), every capability it has, unconfined seccomp/AppArmor/system paths and every device."""
    probe = _docker("run", "--rm", "--label", f"{LABEL}={name}", "--privileged", "--entrypoint", "true", image,
                    check=False)  # fmt: skip  # labelled: a Ctrl-C between its create and its removal leaves nothing
    if probe.returncode == 0:
        return "privileged", ["--privileged"]
    if "apply caps" not in probe.stderr:
        raise StackFailed("a privileged container does not start on this engine", probe.stderr[-1000:])
    missing = missing_caps()
    options = ["--cap-add", "ALL", *(a for cap in missing for a in ("--cap-drop", cap)),
               "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
               "--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm"]  # fmt: skip
    return f"caps: all but {', '.join(missing) or 'none'}", options


def missing_caps(status: str | None = None) -> list[str]:
    """Capabilities the kernel knows that this process's bounding set lacks (read from /proc/self/status)."""
    text = status if status is not None else Path("/proc/self/status").read_text(encoding="utf-8")
    found = re.search(r"^CapBnd:\s*([0-9a-f]+)$", text, re.MULTILINE)
    bound = int(found.group(1), 16) if found else (1 << len(CAPS)) - 1
    return [name for bit, name in enumerate(CAPS) if not bound >> bit & 1]


def _start(name: str, image: str, roles: Sequence[str | None], say: Say) -> Cluster:
    mode, options = run_mode(image, name)
    labels = ["--label", f"{LABEL}={name}"]
    _docker("network", "create", "--driver", "bridge", *labels, name)
    containers = []
    for index, _role in enumerate(roles, start=1):
        container = f"{name}-node{index}"
        _docker("volume", "create", *labels, container)
        _docker("run", "-d", "--name", container, "--hostname", f"node{index}", "--network", name, *labels,
                "-v", f"{container}:/var/lib/docker", *options, image)  # fmt: skip
        containers.append(container)
    say(f"{name}: {len(roles)} engines starting ({mode}) ...")
    nodes = tuple(Node(f"node{i}", c, _address(c, name), role)
                  for i, (c, role) in enumerate(zip(containers, roles, strict=True), start=1))  # fmt: skip
    for node in nodes:
        _wait_for_engine(node)
    return Cluster(name, image, mode, nodes, 0.0)


def _form_swarm(cluster: Cluster) -> None:
    manager = cluster.manager
    _run(manager.docker("swarm", "init", "--advertise-addr", manager.address))
    token = _run(manager.docker("swarm", "join-token", "-q", "worker")).stdout.strip()
    for node in cluster.nodes[1:]:
        _run(node.docker("swarm", "join", "--token", token, "--advertise-addr", node.address,
                         f"{manager.address}:2377"))  # fmt: skip
    for node in cluster.nodes:
        if node.role is not None:
            _run(manager.docker("node", "update", "--label-add", f"bench.role={node.role}", node.hostname))


def _address(container: str, network: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return _docker("inspect", "-f", template, container).stdout.strip()


def _wait_for_engine(node: Node) -> None:
    deadline = time.monotonic() + ENGINE_WAIT_S
    while time.monotonic() < deadline:
        if _run(node.docker("info", "--format", "{{.ID}}"), check=False, timeout=20).returncode == 0:
            return
        time.sleep(0.3)
    log = _docker("logs", "--tail", "20", node.container, check=False)
    raise StackFailed(f"the engine in {node.container} did not answer within {ENGINE_WAIT_S:g} s",
                      (log.stdout + log.stderr)[-3000:])  # fmt: skip


def _docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A call to the engine the nodes run on: the one the caller's environment names (DOCKER_HOST, else the
    default socket), never a node's."""
    return _run(["docker", *args], timeout=timeout, check=check)


def _run(argv: Sequence[str], timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        raise StackFailed(f"{' '.join(argv[:4])} did not finish within {timeout:g} s") from exc
    except OSError as exc:
        raise MissingToolError(f"{argv[0]} cannot run: {exc}") from exc
    if check and done.returncode != 0:
        raise StackFailed(f"{' '.join(argv[:5])} failed: {done.stderr.strip()[-300:]}", done.stderr[-2000:])
    return done


def _lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.strip()]
