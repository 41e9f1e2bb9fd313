"""Every example in README.md runs as written on the embedded sample (issue 24).

A doctest-style runner over README's fenced blocks, parsed with markdown-it-py: every ``python`` block is
executed (in document order, one namespace, in a scratch folder), and every line of every ``bash`` block is
run — ``spa-vl …`` through the CLI's ``main``, ``python …`` with this interpreter; anything else fails. A
block that is not meant to run (the set-up, a user's mirror path, the trainers' commands) carries an
explicit ``<!-- readme-test: skip (reason) -->`` comment right before its fence; its ``spa-vl`` lines are
still parsed, so an option that no longer exists fails here too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from spa_vl.cli import build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
RUNNABLE = ("python", "bash")


@dataclass
class Block:
    language: str
    code: str
    line: int  # 1-based line of the opening fence
    skip: str | None  # the reason given in the marker, or None

    def __str__(self) -> str:
        return f"README.md:{self.line}:{self.language}"


def readme_blocks(text: str) -> list[Block]:
    """The fenced code blocks of ``text``, each with the skip reason of a marker right before it."""
    tokens = MarkdownIt("commonmark").parse(text)
    blocks, previous = [], None
    for token in tokens:
        if token.type == "fence":
            marker = SKIP.search(previous.content) if previous is not None and previous.type == "html_block" else None
            line = token.map[0] + 1 if token.map else 0
            blocks.append(Block(token.info.strip().split(" ")[0], token.content, line, marker and marker["reason"]))
        if token.type in ("fence", "html_block", "paragraph_open", "heading_open", "bullet_list_open", "table_open"):
            previous = token
    return blocks


def command_lines(code: str) -> list[list[str]]:
    """The commands of a bash block: continuation lines joined, comments and blank lines dropped."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        if argv:
            commands.append(argv)
    return commands


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
RUN = [b for b in BLOCKS if b.language in RUNNABLE and not b.skip]


def test_the_readme_parses_into_runnable_blocks_and_few_skipped_ones():
    skipped = [b for b in BLOCKS if b.skip]
    assert {b.language for b in RUN} == {"python", "bash"}
    assert len(RUN) >= 6 and len(skipped) <= 3, [str(b) for b in skipped]
    # a marker only ever sits right before a fence: none is left dangling before prose
    assert README.read_text(encoding="utf-8").count("readme-test: skip") == len(skipped)


def test_the_readme_is_a_users_path():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 320  # "at most ~300" (issue 24); longer text belongs in docs/*.md
    # CI runs scripts/test.sh; the Quick start keeps both commands
    assert "bash scripts/run.sh" in text and "bash scripts/test.sh" in text
    headings = [line[3:].strip() for line in text.splitlines() if line.startswith("## ")]
    path = ["Install", "Load", "Explore", "Report", "Subsets", "Train", "Publish", "Troubleshooting", "Architecture"]
    assert [h for h in headings if h in path] == path  # in the order a user needs them
    assert "not met" not in text.lower()


def test_every_relative_link_of_the_readme_resolves():
    text = README.read_text(encoding="utf-8")
    anchors = {_slug(line.lstrip("#").strip()) for line in text.splitlines() if line.startswith("#")}
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        if target.startswith("#"):
            assert target[1:] in anchors, target
        else:
            assert (README.parent / target.split("#")[0]).exists(), target


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.skip and b.language == "bash"], ids=str)
def test_spa_vl_lines_of_skipped_blocks_still_parse(block):
    parser = build_parser()
    for argv in command_lines(block.code):
        if argv[0] == "spa-vl":
            parser.parse_args(argv[1:])  # SystemExit (usage error) fails the test


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One scratch folder for the whole README, as a user's shell would be."""
    folder = tmp_path_factory.mktemp("readme")
    before = os.getcwd()
    os.chdir(folder)
    yield {"path": folder, "namespace": {"__name__": "__readme__"}}
    os.chdir(before)


@pytest.mark.parametrize("block", RUN, ids=str)
def test_readme_block_runs_on_the_sample(block, workdir):
    if block.language == "python":
        exec(compile(block.code, str(block), "exec"), workdir["namespace"])  # noqa: S102 - the README's own code
        return
    for argv in command_lines(block.code):
        if argv[0] == "spa-vl":
            with contextlib.redirect_stdout(sys.stderr):  # keep pytest's capture readable
                code = main(argv[1:])
            assert code == 0, f"{block}: {shlex.join(argv)} exited {code}"
        elif argv[0] == "python":
            result = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, cwd=workdir["path"])
            assert result.returncode == 0, f"{block}: {shlex.join(argv)}: {result.stderr[-2000:]}"
        else:
            pytest.fail(f"{block}: {argv[0]!r} is neither spa-vl nor python: mark the block "
                        "<!-- readme-test: skip (reason) --> or make it runnable")
