"""spa-vl: the loading script and analysis toolkit for SPA-VL (``sqrti/SPA-VL``).

    >>> import spa_vl
    >>> ds = spa_vl.load_dataset("sample", "validation", split="validation")
    >>> ds.features["class1"].names[:2]
    ['Malicious Use', 'Representation & ToxicityHarms']
"""

from .errors import SpaVLError
from .layout import CONFIGS, HUB_ID
from .loading import load_builder, load_dataset
from .sources import Source, resolve_source
from .stats import compute_stats
from .taxonomy import LABEL_COLUMNS, LEVELS, QUESTION_TYPES, LabelSpace, SpaVLWarning

__version__ = "0.1.0"

__all__ = [
    "CONFIGS",
    "HUB_ID",
    "LABEL_COLUMNS",
    "LEVELS",
    "QUESTION_TYPES",
    "LabelSpace",
    "Source",
    "SpaVLError",
    "SpaVLWarning",
    "compute_stats",
    "load_builder",
    "load_dataset",
    "resolve_source",
]
