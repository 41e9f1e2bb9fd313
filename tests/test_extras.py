"""Without the analysis extra: the loader, stats, doctor, sample and card work, and report says what to install.

A child interpreter refuses to import every module of the analysis extra (and torch), as a clean
``pip install spa-vl`` would leave it, and records any attempt: the loader commands must not even try.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from spa_vl.cli import ANALYSIS_MODULES

HEAVY = (*ANALYSIS_MODULES, "torch", "transformers", "onnxruntime", "openvino")


def _run_without_extras(body: str, tmp_path) -> dict:
    code = textwrap.dedent(
        f"""
        import importlib.abc, json, sys
        HEAVY = {HEAVY!r}
        tried = []

        class NoExtras(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in HEAVY:
                    tried.append(name)
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, NoExtras())
        import importlib.util
        _find = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in HEAVY else _find(name, *a)
        result = {{}}
        """
    ) + textwrap.dedent(body) + "\nprint(json.dumps({**result, 'tried': sorted(set(tried))}))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_loader_stats_doctor_sample_card_need_no_extra(sample_dir, tmp_path):
    result = _run_without_extras(
        f"""
        import spa_vl
        from spa_vl.cli import main
        ds = spa_vl.load_dataset({str(sample_dir)!r}, "validation", split="validation", cache_dir={str(tmp_path / 'c')!r})
        result["rows"] = ds.num_rows
        result["stats"] = main(["--quiet", "stats", {str(sample_dir)!r}])
        result["doctor"] = main(["--quiet", "doctor", {str(sample_dir)!r}])
        result["sample"] = main(["--quiet", "sample", {str(tmp_path / 's')!r}, "--rows", "60"])
        """,
        tmp_path,
    )
    assert result["rows"] > 0 and (result["stats"], result["doctor"], result["sample"]) == (0, 0, 0)
    assert result["tried"] == []  # not one import of the analysis extra or torch


def test_report_without_the_extra_says_what_to_install(sample_dir, tmp_path):
    result = _run_without_extras(
        f"""
        import io, contextlib
        from spa_vl.cli import main
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            result["rc"] = main(["report", {str(sample_dir)!r}, "--out", {str(tmp_path / 'r')!r}])
        result["err"] = err.getvalue()
        """,
        tmp_path,
    )
    assert result["rc"] == 1
    assert "spa-vl report needs the analysis extra" in result["err"] and "pip install 'spa-vl[analysis]'" in result["err"]
    assert not (tmp_path / "r").exists()
