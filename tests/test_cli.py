import subprocess
import sys

import pytest

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


def test_every_subcommand_help_has_an_example():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subparsers) == {"sample", "stats", "doctor", "report", "embed", "ablate", "card", "publish"}
    for name, sub in subparsers.items():
        text = sub.format_help()
        assert "example:" in text and f"spa-vl {name}" in text, name


def test_debug_shows_the_traceback(tmp_path):
    missing = str(tmp_path / "missing")
    result = subprocess.run([sys.executable, "-m", "spa_vl.cli", "--debug", "stats", missing], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" in result.stderr and "SpaVLError" in result.stderr
    plain = subprocess.run([sys.executable, "-m", "spa_vl.cli", "stats", missing], capture_output=True, text=True)
    assert plain.returncode == 1 and plain.stderr.count("\n") == 1 and "Traceback" not in plain.stderr


def test_data_warnings_are_one_plain_line(mirror, capsys):
    import pyarrow.parquet as pq
    from helpers import rewrite_parquet, set_column

    harm = mirror / "test/harm-00000-of-00001.parquet"
    n = pq.read_metadata(harm).num_rows
    rewrite_parquet(harm, lambda t: set_column(t, "class1", ["Unheard-of domain"] * n))
    assert main(["card", str(mirror), "--overwrite"]) == 0
    err = capsys.readouterr().err
    assert "spa-vl: warning: labels not in the reference taxonomy" in err and "Unheard-of domain" in err
    assert main(["--quiet", "card", str(mirror), "--overwrite"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_quiet_and_debug_work_after_the_subcommand(tmp_path):
    missing = str(tmp_path / "missing")
    after = subprocess.run([sys.executable, "-m", "spa_vl.cli", "stats", missing, "--debug"], capture_output=True, text=True)
    assert after.returncode == 1 and "Traceback" in after.stderr
    quiet = subprocess.run([sys.executable, "-m", "spa_vl.cli", "stats", missing, "--quiet"], capture_output=True, text=True)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr


def test_output_into_a_closed_pipe_stops_quietly(sample_dir):
    # the reader goes away before spa-vl prints (as `| head` does): no error, no traceback
    process = subprocess.Popen([sys.executable, "-m", "spa_vl.cli", "stats", str(sample_dir)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "error" not in err and "Traceback" not in err


def test_model_group_without_members_is_a_one_line_error(sample_dir, tmp_path, capsys):
    argv = ["ablate", str(sample_dir), "--out", str(tmp_path / "o"), "--recipe", "response-models", "--n", "5", "--model-group", "safe"]
    assert main(argv) == 1
    assert "--model-group 'safe' is not NAME=M1,M2,..." in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_mistyped_option_shows_the_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["stats", "--nme"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.startswith("usage: spa-vl stats") and "unrecognized arguments: --nme" in err
