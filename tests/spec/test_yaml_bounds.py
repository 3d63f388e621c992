"""Reading YAML is bounded and every failure is a `file:line:column` issue.

tests/reliability/test_crafted_specs.py runs the hostile files through `edgectl validate`;
these are the bounds' edges and the files validate does not read (Pulumi.<stack>.yaml).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components.spec import SpecError, load_specs, yaml_source
from components.spec.stack import load_stack_config
from components.spec.yaml_source import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    parse_yaml,
    read_yaml_file,
)


def _error(text: str) -> str:
    parsed = parse_yaml(text, "x.yaml")
    assert parsed.error is not None, "expected the file to be refused"
    return parsed.error.render()


def _problems(text: str) -> list[str]:
    parsed = parse_yaml(text, "x.yaml")
    assert parsed.error is None, parsed.error
    return [f"{where}: {message}" for doc in parsed.documents for _, where, message in doc.problems]


def test_nesting_through_aliases_counts_the_expanded_depth():
    # each anchor nests 10 levels and names the previous one: 41 levels once expanded
    text = "".join(
        f"a{i}: &a{i} " + "[" * 10 + (f"*a{i - 1}" if i else "0") + "]" * 10 + "\n"
        for i in range(4)
    )
    assert _error(text) == (
        f"x.yaml:4:19: YAML nested deeper than {MAX_DEPTH} levels (aliases included); spec "
        "documents nest a few levels, spec.acceptance.perLabel.<label> is the deepest"
    )


def test_nesting_up_to_the_bound_is_read():
    depth = MAX_DEPTH - 1  # the document's root mapping is the first level
    parsed = parse_yaml("a: " + "[" * depth + "]" * depth + "\n", "x.yaml")
    assert parsed.error is None


def test_too_many_nodes_in_a_small_file():
    text = "a: [" + ",".join("1" * (MAX_NODES + 1)) + "]\n"
    assert len(text) < MAX_FILE_BYTES
    assert _error(text).startswith(
        f"x.yaml:1:{5 + 2 * (MAX_NODES - 3)}: more than {MAX_NODES:,} YAML nodes in one file"
    )


def test_alias_expansions_are_counted_over_the_file():
    block = "{" + ", ".join(f"k{i}: {i}" for i in range(49)) + "}"  # 99 nodes
    uses = MAX_ALIAS_NODES // 99
    ok = f"shared: &s {block}\nuses: [" + ", ".join(["*s"] * uses) + "]\n"
    assert parse_yaml(ok, "x.yaml").error is None
    assert "YAML aliases expand to more than" in _error(ok.replace("[*s", "[*s, *s"))


def test_shared_blocks_by_alias_still_load(spec_dir: Path):
    # anchors are per document: one shared block, used by two labels' minimums
    (spec_dir / "m.yaml").write_text(
        "apiVersion: edge-labeler/v1\nkind: Model\nmetadata: {name: m}\nspec:\n"
        "  dataset: digits\n  budget: {nodeHours: 1}\n  acceptance:\n"
        "    threshold: {maximize: f1}\n"
        "    perLabel: {eight: &strict {minPrecision: 0.9, minRecall: 0.8}, nine: *strict}\n"
    )
    per_label = load_specs(spec_dir).models["m"].acceptance.per_label
    assert per_label["eight"] == per_label["nine"] and per_label["nine"].min_recall == 0.8


def test_recursive_alias_is_still_a_problem_not_a_hang():
    assert _problems("a: &a [1, *a]\n") == ["x.yaml:1:4: recursive YAML alias"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!int abc", "invalid YAML value: 'abc' is not a valid !!int"),
        ("!!bool maybe", "invalid YAML value: 'maybe' is not a valid !!bool"),
        ("1" * 65, "a number of 65 characters is too long (at most 64); quote it if it is text"),
        (
            "1." + "5" * 63,
            "a number of 65 characters is too long (at most 64); quote it if it is text",
        ),
        ('"a\\x01b"', "control character U+0001 is not allowed in text"),
        ('"\\uFFFE"', "character U+FFFE is not allowed in text"),
    ],
)
def test_bad_scalars_are_problems_at_their_value(value: str, message: str):
    assert _problems(f"key: {value}\n") == [f"x.yaml:1:6: {message}"]


def test_a_long_number_within_the_bound_is_read():
    parsed = parse_yaml("a: " + "1" * 64 + "\n", "x.yaml")
    assert parsed.documents[0].data == {"a": int("1" * 64)}


def test_control_character_in_a_key():
    assert _problems('"k\\0": 1\n') == [
        "x.yaml:1:1: control character U+0000 is not allowed in a key"
    ]


def test_unprintable_character_line_and_column_count_yaml_line_breaks():
    assert _error("a: 1\r\nb: 2\rc: \x07\n") == (
        "x.yaml:3:4: control character U+0007 is not allowed in YAML (is this a binary file?)"
    )


def test_invalid_utf8_points_at_the_byte(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_bytes("a: 1\nb: 'é'\nc: '".encode() + b"\xff'\n")
    assert read_yaml_file(path, "x.yaml").error.render() == (
        "x.yaml:3:5: not UTF-8 text (invalid start byte: byte 0xFF); save it as UTF-8"
    )


def test_file_over_the_bound_is_refused_unread(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\n" + "#" * MAX_FILE_BYTES)
    assert read_yaml_file(path, "x.yaml").error.render() == (
        f"x.yaml:1:1: the file is {MAX_FILE_BYTES + 5:,} bytes; a spec, overlay or stack file "
        f"may be at most {MAX_FILE_BYTES:,} bytes (1 MiB): split the specs into several files"
    )


def test_stack_file_over_the_bound(tmp_path: Path):
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  edge-labeler:project: p-12345\n" + "#" * (8 * MAX_FILE_BYTES) + "\n"
    )
    with pytest.raises(SpecError) as raised:
        load_stack_config("dev", tmp_path)
    (issue,) = raised.value.issues
    assert (issue.file, issue.line) == (str(tmp_path / "Pulumi.dev.yaml"), 1)
    assert "may be at most 1,048,576 bytes" in issue.message


def test_stack_file_with_a_NUL_byte(tmp_path: Path):
    (tmp_path / "Pulumi.dev.yaml").write_bytes(b"config:\n  edge-labeler:project: p\x00\n")
    with pytest.raises(SpecError) as raised:
        load_stack_config("dev", tmp_path)
    assert raised.value.render() == (
        f"{tmp_path / 'Pulumi.dev.yaml'}:2:26: control character U+0000 is not allowed in YAML "
        "(is this a binary file?)"
    )


# ---- libyaml's events, the Python parser's results --------------------------------------------

_REPO = Path(__file__).resolve().parents[2]
# Texts where parsers tend to differ: block scalars and their chomping, flow collections,
# quoting and escapes, anchors and merge keys, tags, directives and document markers, a BOM,
# CRLF line ends, tabs, non-ASCII names, empty documents, duplicate keys, values that resolve
# to other types (YAML 1.1's yes / 0o / 1_000 / .nan / ~); and texts each refuses.
_TEXTS = [
    "a: |\n  one\n  two\n\nb: >-\n  folded\n  text\n\n\nc: |+\n  kept\n\n",
    "a: [1, 2, {b: c, d: [e, f]}]\nz: {}\ny: []\n",
    "'quoted': \"esc\\u00e9 \\t \\x41 \\N\"\nplain: it's\nfold: 'a\n  b'\n",
    "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n",
    "a: !!str 12\nb: !!int '7'\nc: !!float 1\nd: !!binary aGk=\n",
    "%YAML 1.1\n---\na: 1\n...\n---\nb: 2\n",
    "\ufeffa: 1\n",
    "a: 1\r\nb:\r\n  - x\r\n  - y\r\n",
    "a:\tb\nc: 'tab\there'\n",
    "názov: ľadovec\n日本: [東京]\nemoji: \U0001f600\n",
    "---\n---\na: 1\n---\n",
    "a: 1\na: 2\n",
    "a: yes\nb: 0o17\nc: 1_000\nd: .nan\ne: ~\nf: 2026-12-05\ng: 1:30\nh: 0x1F\n",
    "? complex\n: key\n? [a, b]\n: flow key\n",
    "a: [1,\n",
    "a: b: c\n",
    "- a\nb: c\n",
    "a: 'unterminated\n",
    "a: *nowhere\n",
    "a:\n\t- b\n",
    "a: !!int nope\n",
    "%YAML 2.0\n---\na: 1\n",
    "a: &x 1\nb: &x 2\nc: *x\n",
    "{a: 1}}\n",
    "a: 1\n...\nb: 2\n",
    "a: b # comment\n# only a comment\nc:    spaced   \n",
    "- - nested\n  - list\n- {k: v}\n",
    "a: |2\n   indented\n  less\n",
    "a: \"multi\n  line\n\n  para\"\nb: 'it''s'\n",
    "a: !custom b\n",
    "a: &r [*r]\n",
    "a: 'x'y'\n",
    "? a\n? b\n",
    "a:\n- 1\n- 2\nb:\n  c:\n    d: e\n",
    "a: >\n\n  leading blank\n\n  kept\n",
    "",
    "# nothing\n",
    "--- |\n  a top-level block\n",
    "a: [b, c]: d\n",
    "a: {b: c, b: d}\n",
    "a: 12e3\nb: -.inf\nc: +1\nd: 0b101\ne: 1e\n",
]


@pytest.mark.parametrize(
    "text",
    [
        *_TEXTS,
        *(
            (_REPO / name).read_text(encoding="utf-8")
            for name in (
                "specs/digits.yaml",
                "specs/envs/dev.yaml",
                "specs/envs/prod.yaml",
                "Pulumi.yaml",
                "Pulumi.dev.yaml",
                "policy/PulumiPolicy.yaml",
                ".github/workflows/ci.yml",
            )
        ),
    ],
)
def test_libyaml_reads_what_the_python_parser_reads(text: str):
    # parse_yaml takes libyaml's events and falls back to PyYAML's Python parser on any error:
    # documents, values, where each was written, problems and errors are the Python parser's.
    read = parse_yaml(text, "x.yaml")
    python = yaml_source._parse_with(yaml_source._BoundedLoader, text, Path("x.yaml"), "x.yaml")
    assert read == python
    if "\t" not in text:  # (texts with tabs go to the Python parser alone)
        fast = yaml_source._parse_with(yaml_source._FastLoader, text, Path("x.yaml"), "x.yaml")
        assert (fast.error is None) == (python.error is None), (fast.error, python.error)
