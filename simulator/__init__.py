"""The simulated video platform on RecSim NG: surfaces, logged data, policies, A/B tests.

Importing this package is cheap; TensorFlow and RecSim NG load when a world is built.
"""

from evorec.simulator.ab import (
    DAILY_METRICS,
    NORTH_STAR,
    NORTH_STAR_METRICS,
    ABExperiment,
    ABResult,
    Guardrail,
    assign,
    run_ab,
)
from evorec.simulator.logs import SimulationSummary, simulate
from evorec.simulator.policies import POLICY_NAMES, make_policy
from evorec.simulator.policy import Policy, ServingBatch
from evorec.simulator.schema import SIGNAL_COLUMNS, TABLES
from evorec.simulator.surfaces import SURFACES, Surface, get_surface

__all__ = [
    "DAILY_METRICS",
    "NORTH_STAR",
    "NORTH_STAR_METRICS",
    "POLICY_NAMES",
    "SIGNAL_COLUMNS",
    "SURFACES",
    "TABLES",
    "ABExperiment",
    "ABResult",
    "Guardrail",
    "Policy",
    "ServingBatch",
    "SimulationSummary",
    "Surface",
    "assign",
    "get_surface",
    "make_policy",
    "run_ab",
    "simulate",
]
