"""The spec files of one run: read from inside the project root, documents to Entries.

The spec files are the directory's `*.yaml`; an Entry is a document whose kind is known.
"""

from __future__ import annotations

from pathlib import Path

from components.spec.entry import ENVELOPE, Entry, doc_context
from components.spec.errors import Location
from components.spec.issue_log import IssueLog
from components.spec.paths import root_problem
from components.spec.schema import KINDS, did_you_mean, show
from components.spec.yaml_source import YamlDocument, YamlFile, read_yaml_file

SPEC_SUFFIX = ".yaml"


class SpecReader:
    """Reads one run's YAML files (specs, overlay) from inside the project root.

    It remembers which files it read and whether any could not be parsed.
    """

    def __init__(self, root: Path, log: IssueLog) -> None:
        self.root = root
        self.log = log
        self.files: list[Path] = []
        self.parse_failed = False  # then cross-document rules would report half a picture

    def read(self, path: Path) -> YamlFile:
        """The file's documents; its syntax and unreadable values go to the log."""
        self.files.append(path)
        if (problem := root_problem(path.name, path, self.root)) is not None:
            self.log.error(Location(str(path), 1, 1), problem)
            self.parse_failed = True
            return YamlFile(path, str(path), [])
        parsed = read_yaml_file(path, str(path))
        if parsed.error is not None:
            self.log.errors.append(parsed.error)
            self.parse_failed = True
        for doc in parsed.documents:
            for path_, where, message in doc.problems:
                self.log.error(where, message, path_, **doc_context(doc))
        return parsed


def spec_paths(directory: Path, log: IssueLog) -> list[Path]:
    """The spec files of `directory`, sorted; warns of `.yml` files and of none at all."""
    files = sorted(p for p in directory.iterdir() if p.is_file())
    paths = [p for p in files if p.suffix == SPEC_SUFFIX]
    for ignored in (p for p in files if p.suffix == ".yml"):
        log.warn(Location(str(ignored)), "ignored: spec files end in .yaml (rename it to load it)")
    if not paths:
        log.warn(
            Location(str(directory)), "no *.yaml spec files here (envs/ holds overlays, not specs)"
        )
    return paths


def base_entries(directory: Path, reader: SpecReader, log: IssueLog) -> list[Entry]:
    """Every document of the spec files that says which kind it is."""
    entries = []
    for path in spec_paths(directory, log):
        for doc in reader.read(path).documents:
            entry = _envelope(doc, log)
            if entry is not None:
                entries.append(entry)
    return entries


def _envelope(doc: YamlDocument, log: IssueLog) -> Entry | None:
    """The document's kind and name, or None (with an issue) when unusable."""
    data = doc.data
    if not isinstance(data, dict):
        log.error(
            doc.start,
            f"a document must be a mapping with {', '.join(ENVELOPE)}; got {show(data)}",
        )
        return None
    context = doc_context(doc)
    if "kind" not in data:
        log.error(
            doc.start,
            f"required field is missing (one of {', '.join(KINDS)})",
            ("kind",),
            name=context["name"],
        )
        return None
    kind = data["kind"]
    if kind not in KINDS:
        log.error(
            doc.value_location(("kind",)),
            f"{show(kind)} is not a kind; kinds are {', '.join(KINDS)}{did_you_mean(kind, KINDS)}",
            ("kind",),
            name=context["name"],
        )
        return None
    return Entry(kind, context["name"], doc)
