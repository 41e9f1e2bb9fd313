"""SPA-VL — the classic `datasets` loading script.

SPA-VL (arXiv 2406.12030, ``sqrti/SPA-VL``) is a safety-preference dataset for vision-language
models: (image, question, chosen, rejected) quadruples with a 3-level harm taxonomy and three
question types. This script yields them with typed features: ``image`` Image, text columns as
strings, ``class1``/``class2``/``class3`` and ``question_type`` as ClassLabel (-1 = unknown).

Configs: ``train`` (alias ``default``), ``validation``, ``eval`` (alias ``test``; splits
``harm`` and ``help``). ``data_dir`` is a local mirror folder; without it the hub is read.

The builder's code and every feature and label list live in the ``spa_vl`` package (this file
re-exports them), so the script and the package can never disagree. Use it as a script::

    import importlib.util
    spec = importlib.util.spec_from_file_location("spa_vl_script", "spa_vl.py")
    script = importlib.util.module_from_spec(spec); spec.loader.exec_module(script)
    builder = script.SpaVL(config_name="validation", data_dir="/data/SPA-VL")
    builder.download_and_prepare(); ds = builder.as_dataset()

(`datasets` < 4 also accepts ``datasets.load_dataset("path/to/spa_vl.py", "validation",
data_dir=...)``; `datasets` >= 4 refuses scripts there, and ``spa_vl.load_dataset`` does the same.)
"""

import os
import sys

try:
    import spa_vl.builder as _builder
except ImportError:  # run from a checkout without `pip install`: the package sits beside this file
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import spa_vl.builder as _builder

SpaVL = _builder.SpaVL
SpaVLConfig = _builder.SpaVLConfig
_DESCRIPTION = _builder.DESCRIPTION
_CITATION = _builder.CITATION
_HOMEPAGE = _builder.HOMEPAGE
_LICENSE = _builder.LICENSE

__all__ = ["SpaVL", "SpaVLConfig"]
