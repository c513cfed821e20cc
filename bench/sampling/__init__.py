"""What is read beside the load while it runs: the stack's CPU and memory (metrics.py), its side of TCP
(netns.py), Envoy's counters (envoy.py), and the machine and tools the run used (machine.py)."""
