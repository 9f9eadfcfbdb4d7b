"""Structured channel pruning (torch-pruning's DepGraph underneath).

>>> from edgekit.pruning import IMPORTANCES
>>> IMPORTANCES
('l1', 'l2', 'bn_scale', 'taylor', 'random')
"""

from edgekit.pruning.api import prune
from edgekit.pruning.importance import IMPORTANCES, importance
from edgekit.pruning.result import LayerChange, PruneResult

__all__ = ["IMPORTANCES", "LayerChange", "PruneResult", "importance", "prune"]
