"""The scenarios: one module each, one class per command. The CLI is built from this list.

measure  `bench all` / `bench stack NAME...`: the stacks side by side, repeats interleaved
breaker  `bench breaker`: the circuit breaker off and on under the same overload
sweep    `bench sweep`: step the load up to each stack's knee
capacity `bench capacity`: the highest arrival rate each stack serves within an SLO, and sizing for a rate
layers   `bench layers`: what each layer costs, pairs that differ by one layer or setting
gateway  `bench gateway`: the API gateway's features, each off and on at the same load
"""

from __future__ import annotations

from bench.scenarios.base import Scenario, ScenarioConfig
from bench.scenarios.breaker import Breaker
from bench.scenarios.capacity import Capacity
from bench.scenarios.gateway import Gateway
from bench.scenarios.layers import Layers
from bench.scenarios.measure import Measure, MeasureAll
from bench.scenarios.sweep import Sweep

SCENARIOS: tuple[Scenario[ScenarioConfig], ...] = (MeasureAll(), Measure(), Breaker(), Sweep(), Capacity(), Layers(),
                                                 Gateway())  # type: ignore[assignment]

__all__ = ["SCENARIOS", "Scenario", "ScenarioConfig"]
