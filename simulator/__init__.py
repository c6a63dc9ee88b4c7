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
from evorec.simulator.multi_ab import MULTI_AB_METRICS, MultiABResult, run_multi_ab
from evorec.simulator.pipeline import (
    FUSION_SIGNALS,
    FusionConfig,
    PipelinePolicy,
    apply_fusion_delta,
    baseline_fusion,
    fusion_search_space,
    load_fusion,
)
from evorec.simulator.policies import POLICY_NAMES, make_policy
from evorec.simulator.policy import Policy, ServingBatch
from evorec.simulator.schema import SIGNAL_COLUMNS, TABLES
from evorec.simulator.surfaces import SURFACES, Surface, get_surface

__all__ = [
    "DAILY_METRICS",
    "FUSION_SIGNALS",
    "MULTI_AB_METRICS",
    "NORTH_STAR",
    "NORTH_STAR_METRICS",
    "POLICY_NAMES",
    "SIGNAL_COLUMNS",
    "SURFACES",
    "TABLES",
    "ABExperiment",
    "ABResult",
    "FusionConfig",
    "MultiABResult",
    "PipelinePolicy",
    "Guardrail",
    "Policy",
    "ServingBatch",
    "SimulationSummary",
    "Surface",
    "apply_fusion_delta",
    "assign",
    "baseline_fusion",
    "fusion_search_space",
    "get_surface",
    "load_fusion",
    "make_policy",
    "run_ab",
    "run_multi_ab",
    "simulate",
]
