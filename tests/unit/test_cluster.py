"""bench/backends/swarm/cluster.py's pure parts: the roles a cluster's nodes get, the capabilities a host lacks,
the image tag."""

from __future__ import annotations

from bench.backends.swarm import cluster

# /proc/self/status of this machine's root shell: every capability but bit 24 (CAP_SYS_RESOURCE)
STATUS = "Name:\tbash\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n"


def test_roles_put_the_load_on_the_last_node_and_the_stack_between() -> None:
    assert cluster.default_roles(1) == [None]
    assert cluster.default_roles(2) == ["load", "stack"]
    assert cluster.default_roles(3) == [None, "stack", "load"]
    assert cluster.default_roles(5) == [None, "stack", "stack", "stack", "load"]


def test_missing_caps_are_read_from_the_bounding_set() -> None:
    assert cluster.missing_caps(STATUS) == ["SYS_RESOURCE"]
    assert cluster.missing_caps("CapBnd:\t000001ffffffffff\n") == []
    assert cluster.missing_caps("CapBnd:\t000000fffffffffe\n") == ["CHOWN", "CHECKPOINT_RESTORE"]
    assert len(cluster.CAPS) == 41 and cluster.CAPS[21] == "SYS_ADMIN"  # linux/capability.h numbering


def test_node_image_tag_names_its_iptables_backend() -> None:
    nft, legacy = cluster.node_image_tag("nft"), cluster.node_image_tag("legacy")
    assert nft.startswith("bench/cluster-node:bookworm-") and len(nft.rsplit("-", 1)[1]) == 12
    assert nft != legacy and nft == cluster.node_image_tag("nft")


def test_a_node_is_reached_on_its_bridge_address() -> None:
    node = cluster.Node("node2", "bench-cluster-x-node2", "172.28.0.3", "stack")
    assert node.host == "tcp://172.28.0.3:2375"
    assert node.docker("node", "ls") == ["docker", "-H", "tcp://172.28.0.3:2375", "node", "ls"]
