"""The studio without a browser: what it reads of a dataset, the labels file it writes, the
threshold it writes into a spec, its API's guards, and Ctrl-C."""

from __future__ import annotations

import difflib
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from components.evaluation.threshold import point_at
from components.spec import load_specs
from components.studio.datasets import StudioError, add_labels, read_dataset
from components.studio.evaluation import kept_models
from components.studio.threshold import with_fixed_threshold
from tests.fixtures.digits import digit_images
from tests.studio.conftest import start_studio, stop_studio

ROOT = Path(__file__).resolve().parents[2]

SCANS = """\
apiVersion: edge-labeler/v1
kind: Bucket
metadata: {name: data}
spec: {}
---
apiVersion: edge-labeler/v1
kind: Dataset
metadata: {name: scans}
spec:
  bucket: data
  classification: multiclass
  source:
    images: data/scans
    labels: data/labels.csv
"""


@pytest.fixture
def scans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `images` dataset: 12 labeled (zero, one), 4 unlabeled, a broken file, and the same
    image under two names with two labels."""
    monkeypatch.setenv("EDGE_LABELER_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "specs" / "data" / "scans"
    data.mkdir(parents=True)
    images = digit_images(8, ("zero", "one"))
    for i in images:
        (data / f"{i.index:04d}.{i.extension}").write_bytes(i.data)
    zero = next(i for i in images[:12] if i.label == "zero" and i.format == "PNG")
    (data / "copy.png").write_bytes(zero.data)  # a labeled `zero`, labeled `one` below
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    rows = ["path,label"] + [f"{i.index:04d}.{i.extension},{i.label}" for i in images[:12]]
    rows.append("copy.png,one")
    (tmp_path / "specs" / "data" / "labels.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "specs" / "all.yaml").write_text(SCANS)
    return tmp_path


def _view(root: Path):
    specs = load_specs(root / "specs")
    return read_dataset(specs.datasets["scans"], root)


def test_the_dataset_view_shows_refusals_and_duplicates_across_labels(scans):
    view = _view(scans)
    assert view.labels == ("zero", "one")
    refused = {p.where.rsplit("/", 1)[-1]: p.rule for p in view.refused}
    assert refused["broken.png"] == "image"
    assert any(p.rule == "duplicate-conflict" for p in view.refused)
    (duplicate,) = view.duplicates()
    files = {f["name"]: f["labels"] for f in duplicate["files"]}
    assert files["copy.png"] == ["one"] and ["zero"] in files.values()
    assert view.fingerprint is None  # the rules fail: no split is assigned
    assert len(view.unlabeled()) == 4
    page = view.to_json()
    assert page["counts"]["zero"]["—"] >= 1 and page["unlabeled"] == 4


def test_labels_are_added_as_sorted_rows_and_nothing_else_changes(scans):
    labels = scans / "specs" / "data" / "labels.csv"
    before = labels.read_text()
    view = _view(scans)
    new = {name: ["one"] for name in sorted(view.unlabeled(), reverse=True)}
    added = add_labels(view, new)
    assert added == [f"{name},one\n" for name in sorted(new)]
    after = labels.read_text()
    diff = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert sorted(diff) == sorted(f"+{name},one" for name in new)
    body = after.splitlines()[1:]
    assert body == sorted(body)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"nope.png": ["one"]}, "'nope.png' is not an image of"),
        ({"LABELED": ["one"]}, "is labeled already"),
        ({"UNLABELED": ["zero", "one"]}, "a multiclass dataset allows one label per image"),
        ({"UNLABELED": ["not a label"]}, "is not allowed"),
    ],
)
def test_bad_labels_write_nothing(scans, labels, message):
    path = scans / "specs" / "data" / "labels.csv"
    before = path.read_bytes()
    view = _view(scans)
    names = {"UNLABELED": view.unlabeled()[0], "LABELED": "copy.png"}
    labels = {names.get(k, k): v for k, v in labels.items()}
    with pytest.raises(StudioError, match=message):
        add_labels(view, labels)
    assert path.read_bytes() == before


def _one_line_diff(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]


def test_the_threshold_is_one_line_in_the_example_spec():
    text = (ROOT / "specs" / "digits.yaml").read_text()
    after = with_fixed_threshold(text, "digits", 0.7, "specs/digits.yaml")
    assert _one_line_diff(text, after) == ["-      maximize: f1", "+      fixed: 0.7"]
    again = with_fixed_threshold(after, "digits", 0.65, "specs/digits.yaml")
    assert _one_line_diff(after, again) == ["-      fixed: 0.7", "+      fixed: 0.65"]


def test_a_flow_style_threshold_stays_one_line():
    text = (
        "kind: Model\nmetadata: {name: m}\nspec:\n  acceptance:\n"
        "    threshold: {maximize: f1}  # why\n"
    )
    after = with_fixed_threshold(text, "m", 0.3, "x.yaml")
    removed, added = _one_line_diff(text, after)
    assert removed == "-    threshold: {maximize: f1}  # why"
    assert added.startswith("+    threshold: {fixed: 0.3}") and added.endswith("# why")


def test_the_kept_evaluation_gives_the_gates_numbers(rehearsal, studio_project):
    (model,) = kept_models(rehearsal).values()
    at = model.at(0.7)
    point = point_at(model.evaluations.overall, 0.7)
    assert (at["precision"], at["recall"], at["f1"]) == (point.precision, point.recall, point.f1)
    assert [r["label"] for r in at["perLabel"]] == ["zero", "one", "two"]
    view = read_dataset(load_specs(studio_project / "specs").datasets["digits"], studio_project)
    for threshold in (0.0, 0.35, 0.7, 0.97):
        check = model.images_at(view, threshold)["check"]
        assert check["agree"], check


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_writes_need_the_studios_page_and_ctrl_c_stops_the_server(
    studio_project, rehearsal, tmp_path
):
    proc, address = start_studio(
        studio_project, rehearsal, {"EDGE_LABELER_CACHE_DIR": str(tmp_path)}
    )
    try:
        assert address.startswith("127.0.0.1:")
        url = f"http://{address}/api/models/digits/threshold"
        body = json.dumps({"value": 0.4}).encode()
        # A form or fetch of another site: no studio header, or another origin.
        assert _post(url, body, {}) == 403
        assert _post(url, body, {"X-Edge-Studio": "1", "Origin": "http://evil.test"}) == 403
        # A site whose name resolves to 127.0.0.1 (DNS rebinding): refused, reads too.
        rebound = urllib.request.Request(
            f"http://{address}/api/overview", headers={"Host": "evil.test"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(rebound)
        assert refused.value.code == 403
        with urllib.request.urlopen(f"http://{address}/api/overview") as response:
            overview = json.load(response)
        assert [m["name"] for m in overview["models"] if m["evaluated"]] == ["digits"]
    finally:
        status, out = stop_studio(proc)
    assert status == 0 and out.strip().endswith("edgectl studio: stopped"), out
    host, port = address.split(":")
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port))):
        pass
