import subprocess
import sys

from spa_vl.cli import build_parser, main


def test_help_lists_examples():
    text = build_parser().format_help()
    assert "examples:" in text and "spa-vl stats" in text


def test_user_error_is_one_line_exit_1(tmp_path, capsys):
    assert main(["stats", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("spa-vl: error: ") and "\n" not in err and "Traceback" not in err


def test_usage_error_exits_2():
    result = subprocess.run([sys.executable, "-m", "spa_vl.cli", "nonsense"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_sample_command_writes_the_layout(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sample", str(out), "--rows", "50", "--seed", "2", "--image-size", "16"]) == 0
    assert (out / "data" / "train-00000-of-00008.parquet").is_file()
    assert main(["sample", str(out), "--rows", "50"]) == 1  # exists: refuses without --overwrite
    assert "--overwrite" in capsys.readouterr().err
