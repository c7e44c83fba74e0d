"""The docs a user follows work: every relative link and #anchor in README.md, docs/*.md and
models/MODEL_CARD.md resolves (GitHub's heading slugs), every ``asymfusion COMMAND --flag`` in
their fenced code blocks exists in that command's parser, and every subcommand's ``--help``
ends with example command lines whose flags exist too.

The parsers are built in-process with ``cli.build_parser`` (one import per subcommand module),
not by running ``asymfusion COMMAND --help`` in a subprocess per command.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from asymfusion_ros.cli import COMMANDS, build_parser

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md"), REPO / "models" / "MODEL_CARD.md"])
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
# `asymfusion` as a command word: alone, at the end of a path, or as `python -m asymfusion_ros.cli`.
COMMAND_WORD = re.compile(r"^(?:.*/)?asymfusion$|^asymfusion_ros\.cli$")
SEPARATORS = {"&&", "||", ";", "|"}


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def split_fences(text: str) -> tuple[list[str], list[str]]:
    """(prose lines, fenced lines) of a markdown file; a fenced line is neither heading nor link."""
    prose, fenced, inside = [], [], False
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
            continue
        (fenced if inside else prose).append(line)
    return prose, fenced


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    prose, _ = split_fences(path.read_text())
    seen: dict[str, int] = {}
    found = set()
    for line in prose:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = github_slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(found)


def relative_links(path: Path) -> Iterator[str]:
    prose, _ = split_fences(path.read_text())
    text = re.sub(r"`[^`]*`", "", "\n".join(prose))  # code spans hold no links
    for match in LINK.finditer(text):
        target = match.group(1)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            yield target


def broken_link(source: Path, target: str) -> str | None:
    file_part, _, anchor = target.partition("#")
    resolved = (source.parent / file_part).resolve() if file_part else source
    if not resolved.exists():
        return f"{target}: no such file {resolved}"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
        return f"{target}: no heading gives #{anchor} in {resolved.name}"
    return None


def test_github_slug_rules() -> None:
    assert github_slug("Many bags: one report, `--jobs`, `--ray`") == "many-bags-one-report---jobs---ray"
    assert github_slug("2. BatchNorm folded per modality (`fusion/folding.py`)") == (
        "2-batchnorm-folded-per-modality-fusionfoldingpy"
    )
    assert github_slug("Which model do I run?") == "which-model-do-i-run"
    assert github_slug("Metrics (held-out synthetic frames)") == "metrics-held-out-synthetic-frames"


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_relative_links_and_anchors_resolve(doc: Path) -> None:
    problems = [p for t in relative_links(doc) if (p := broken_link(doc, t))]
    assert not problems, f"{_rel(doc)}: " + "; ".join(problems)


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    doc.write_text("# Title\n\n## A section\n\n```\n# not a heading\n```\n")
    assert broken_link(doc, "#a-section") is None and broken_link(doc, "#title") is None
    assert "no heading" in str(broken_link(doc, "#not-a-heading"))
    assert "no such file" in str(broken_link(doc, "missing.md"))


# Modules that need the `train` extra (torch, h5py): absent from the torch-less venvs, where the
# commands they serve are checked by the main venv's run instead.
TRAIN_EXTRA = {"torch", "h5py"}


@cache
def parser_or_missing_extra(name: str) -> argparse.ArgumentParser | str:
    """The subcommand's parser, or the name of the `train` extra module its import lacks here."""
    try:
        importlib.import_module(COMMANDS[name][0])
    except ModuleNotFoundError as err:
        if err.name not in TRAIN_EXTRA:
            raise
        return err.name
    parser = build_parser([name])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def subcommand_parser(name: str) -> argparse.ArgumentParser:
    parser = parser_or_missing_extra(name)
    if isinstance(parser, str):
        pytest.skip(f"`asymfusion {name}` needs {parser} (the train extra), not installed here")
    return parser


def option_strings(name: str) -> set[str]:
    return {s for action in subcommand_parser(name)._actions for s in action.option_strings}


def command_flags(lines: list[str]) -> Iterator[tuple[str, str, str]]:
    """(subcommand, --flag, the line) for each asymfusion command in shell lines; `\\` joins lines."""
    for line in "\n".join(lines).replace("\\\n", " ").splitlines():
        try:
            words = shlex.split(line, comments=False)
        except ValueError:
            words = line.split()
        command, depth = None, 0
        for i, word in enumerate(words):
            depth += word.count("[") - word.count("]")
            if word in SEPARATORS and depth == 0:
                command = None
            elif (
                COMMAND_WORD.match(word) and i + 1 < len(words) and re.match(r"^[a-z][a-z-]*$", words[i + 1])
            ):
                command = words[i + 1]
                yield command, "", line
            elif command and word.lstrip("[").startswith("--"):
                flag = re.match(r"--[A-Za-z0-9][\w-]*", word.lstrip("["))
                if flag:
                    yield command, flag.group(0), line


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_commands_in_code_blocks_exist(doc: Path) -> None:
    _, fenced = split_fences(doc.read_text())
    problems = []
    for command, flag, line in command_flags(fenced):
        if command not in COMMANDS:
            problems.append(f"`asymfusion {command}` is no subcommand: {line.strip()}")
        elif isinstance(parser_or_missing_extra(command), str):
            continue  # checked where the train extra is installed
        elif flag and flag not in option_strings(command):
            problems.append(f"`asymfusion {command}` has no {flag}: {line.strip()}")
    assert not problems, f"{_rel(doc)}:\n" + "\n".join(problems)


def test_a_wrong_flag_is_found() -> None:
    found = list(command_flags(["asymfusion replay bags/ --jobs 2 \\", "  --no-such-flag && ls --all"]))
    assert [(c, f) for c, f, _ in found] == [
        ("replay", ""),
        ("replay", "--jobs"),
        ("replay", "--no-such-flag"),
    ]
    assert "--no-such-flag" not in option_strings("replay")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_help_ends_with_examples(name: str) -> None:
    parser = subcommand_parser(name)
    examples = __import__(COMMANDS[name][0], fromlist=["EXAMPLES"]).EXAMPLES
    assert 1 <= len(examples) <= 2 and all(e.startswith(f"asymfusion {name}") for e in examples)
    help_text = parser.format_help()
    assert help_text.rstrip().endswith(examples[-1]), "examples are the end of --help, as written"
    flags = list(command_flags(list(examples)))
    assert {c for c, _, _ in flags} == {name}
    assert not [f for _, f, _ in flags if f and f not in option_strings(name)]


def test_top_level_help_says_what_the_tool_is_for() -> None:
    help_text = build_parser([]).format_help()
    assert "semantic segmentation for ROS 2 robots" in help_text
    assert "asymfusion doctor" in help_text
    assert "one entry point, one module per subcommand" not in help_text
