"""The error hierarchy: one line, the Python spelling in the library, the flag on the command line."""

from __future__ import annotations

import pytest

from spa_vl.atomic import check_writable_dir
from spa_vl.cli import cli_option, main
from spa_vl.errors import LabelError, SchemaError, SourceError, SpaVLError, UsageError
from spa_vl.sample import generate_sample


def test_library_errors_name_parameters_not_flags(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "f").write_text("x")
    with pytest.raises(UsageError) as caught:
        check_writable_dir(tmp_path / "out", overwrite=False, what="report")
    error = caught.value
    assert isinstance(error, SpaVLError) and error.parameter == "overwrite"
    assert "overwrite=True" in str(error) and "--" not in str(error) and "\n" not in str(error)
    assert "--overwrite" in error.render(cli_option) and "overwrite=True" not in error.render(cli_option)


def test_cli_spells_the_fix_as_a_flag(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "s"), "--rows", "10"]) == 1
    err = capsys.readouterr().err
    assert "--rows 40" in err and "rows=40" not in err
    with pytest.raises(UsageError, match=r"image size 4 is too small.*image_size=8"):
        generate_sample(tmp_path / "t", rows=60, image_size=4)


def test_the_kinds_are_distinct_subclasses():
    kinds = (SourceError, SchemaError, LabelError, UsageError)
    assert all(issubclass(k, SpaVLError) for k in kinds)
    assert len({k.__name__ for k in kinds}) == 4 and not issubclass(SchemaError, SourceError)


def test_a_message_without_a_fix_renders_as_written():
    error = SchemaError("f.parquet: column 'question' is missing:   re-download the file")
    assert str(error) == error.render(cli_option) == "f.parquet: column 'question' is missing: re-download the file"
