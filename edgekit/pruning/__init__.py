"""Structured channel pruning (torch-pruning's DepGraph underneath).

>>> from edgekit.pruning import IMPORTANCES
>>> IMPORTANCES
('l1', 'l2', 'bn_scale', 'taylor', 'random')
"""

from edgekit.pruning.api import prune
from edgekit.pruning.config import PruneConfig, Scope
from edgekit.pruning.importance import IMPORTANCES, Importance, importance
from edgekit.pruning.result import LayerChange, PruneResult

__all__ = [
    "IMPORTANCES",
    "Importance",
    "LayerChange",
    "PruneConfig",
    "PruneResult",
    "Scope",
    "importance",
    "prune",
]
