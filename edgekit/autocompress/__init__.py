"""Hardware-aware compression search: Optuna explores pruning, distillation and quantization settings;
every trial is exported, verified on held-out data and profiled on the target device.

Importing this package is cheap (no torch, no Optuna); they load when a search runs.
"""

from edgekit.autocompress.api import SearchResult, search
from edgekit.autocompress.config import OBJECTIVES, SearchConfig
from edgekit.autocompress.space import QuantMode, SearchSpace, TrialParams

__all__ = ["OBJECTIVES", "QuantMode", "SearchConfig", "SearchResult", "SearchSpace", "TrialParams", "search"]
