"""evorec: a self-evolving recommendation system (see README.md).

The package root holds the cross-cutting pieces: the delta engine (:mod:`evorec.delta`),
errors (:mod:`evorec.errors`) and the CLI. The design's components are subpackages:
``evorec.ranker``, ``evorec.simulator``, ``evorec.tools``, ``evorec.personas``,
``evorec.graphs``. Nothing heavy is imported here.
"""

from evorec.errors import EvorecError, InvalidDelta

__all__ = ["EvorecError", "InvalidDelta", "__version__"]
__version__ = "0.1.0"
