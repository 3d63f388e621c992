"""`edgectl review` of what apps are served: rollouts' percentages, renamed publications, a
prod rollout of a model not promoted there; and of data: images added, removed, relabelled."""

from __future__ import annotations

import io
import json
import zipfile

from jsonschema import Draft202012Validator
from PIL import Image

from tests.review.conftest import ROOT, change

SCHEMA = json.loads((ROOT / "components" / "schemas" / "review.schema.json").read_text())
STACKS = ["dev", "local", "prod", "staging"]
ROLLOUT = """\
---
apiVersion: edge-labeler/v1
kind: Publication
metadata:
  name: candidate
spec:
  model: digits
  target: storage
  displayName: digits_candidate
---
apiVersion: edge-labeler/v1
kind: Rollout
metadata:
  name: digits
spec:
  parameter: digits_model
  publication: digits
  conditions:
    - name: candidate
      publication: candidate
      percent: 10
"""


def _valid(report: dict) -> dict:
    errors = list(Draft202012Validator(SCHEMA).iter_errors(report))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    return report


def test_a_percentage_change_is_shown_and_a_prod_rollout_of_an_unpromoted_model_flagged(
    repo, capsys
):
    with (repo.root / "specs/digits.yaml").open("a") as specs:
        specs.write(ROLLOUT)
    repo.commit("serve a candidate to 10 % of users")
    repo.edit("specs/digits.yaml", "      percent: 10\n", "      percent: 20\n")
    repo.commit("20 %")
    code, report = repo.review(capsys)
    assert code == 0
    _valid(report)
    for stack in STACKS:
        rollout = change(report, stack, "Rollout", "digits")
        assert rollout["action"] == "updated"
        assert rollout["fields"] == [
            {
                "field": "conditions",
                "old": [{"name": "candidate", "publication": "candidate", "percent": 10}],
                "new": [{"name": "candidate", "publication": "candidate", "percent": 20}],
            }
        ]
        (condition,) = rollout["rollout"]
        assert condition["percent"] == {"old": 10, "new": 20}
        assert condition["serves"] == {"old": "digits_candidate", "new": "digits_candidate"}
        assert condition["rules"]["new"] == "percent('digits_model') <= 20"
        assert condition["text"] == "`candidate`: 10 % → 20 % of users get `digits_candidate`"
        assert rollout["resources"][0]["type"] == "Rollout"
        assert rollout["reachesProdPublication"] is (stack == "prod")
    prod = change(report, "prod", "Rollout", "digits")["alerts"]
    assert prod == [
        "serves `digits_classifier` by default, a model not gated for prod: Model `digits` has "
        "no `promoted:` pin on stack 'prod', so it did not pass the gate of the stack before "
        "prod (`edgectl promote --model digits --from <stack> --to prod`)",
        "serves `digits_candidate` to 20 % of users (`candidate`), a model not gated for prod: "
        "Model `digits` has no `promoted:` pin on stack 'prod', so it did not pass the gate of "
        "the stack before prod (`edgectl promote --model digits --from <stack> --to prod`)",
    ]
    # dev uploads `digits` for testers only: apps told to load it cannot.
    (dev,) = change(report, "dev", "Rollout", "digits")["alerts"]
    assert "Publication `digits` is not published on stack 'dev' (published: false)" in dev
    assert change(report, "local", "Rollout", "digits")["alerts"] == []
    assert report["summary"]["alerts"] == 3

    _, markdown = repo.review(capsys, fmt="markdown")
    assert (
        "| **prod** (prod) | 🚨 Rollout `digits` — **reaches a prod publication** | ✏️ updated | "
        "`candidate`: 10 % → 20 % of users get `digits_candidate`; 🚨 **2 alert(s)**, see below |"
        in markdown
    )
    assert "- Remote Config: `candidate`: 10 % → 20 % of users get `digits_candidate`" in markdown
    assert "- 🚨 **serves `digits_candidate` to 20 % of users (`candidate`)" in markdown
    assert "| **dev** | ⚠️ Rollout `digits` | ✏️ updated |" in markdown

    # Promoted to prod (gated on staging, checked against prod's acceptance): no alert.
    from components.promotion.pin import with_pin

    overlay = repo.root / "specs/envs/prod.yaml"
    overlay.write_text(
        with_pin(overlay.read_text(), "prod", "digits", "staging", "sha256:" + "5e" * 32)
    )
    repo.edit("specs/digits.yaml", "      percent: 20\n", "      percent: 50\n")
    repo.commit("promoted, and 50 %")
    _, report = repo.review(capsys, "--stack", "prod")
    rollout = change(_valid(report), "prod", "Rollout", "digits")
    assert rollout["alerts"] == [] and rollout["rollout"][0]["percent"] == {"old": 20, "new": 50}


def test_a_renamed_publication_is_flagged_as_breaking_the_apps_loading_it(repo, capsys):
    with (repo.root / "specs/digits.yaml").open("a") as specs:
        specs.write(ROLLOUT)
    repo.commit("a rollout")
    repo.edit("specs/digits.yaml", "displayName: digits_classifier", "displayName: digits_v2")
    repo.commit("rename")
    code, report = repo.review(capsys)
    assert code == 0
    _valid(report)
    for stack in STACKS:
        publication = change(report, stack, "Publication", "digits")
        assert publication["action"] == "replaced"
        (alert,) = publication["alerts"]
        assert alert == (
            "renames the model apps load: `digits_classifier` → `digits_v2`; apps that load it "
            "by the name `digits_classifier` no longer get it (the model of the old name is "
            "deleted from firebase-ml); apps that read the Remote Config parameter of Rollout "
            "`digits` get the new name"
        )
        # The rollout follows: its default value is the new name.
        (default,) = change(report, stack, "Rollout", "digits")["rollout"]
        assert default["condition"] is None
        assert default["serves"] == {"old": "digits_classifier", "new": "digits_v2"}
    _, markdown = repo.review(capsys, fmt="markdown")
    assert "- 🚨 **renames the model apps load: `digits_classifier` → `digits_v2`" in markdown
    assert "- ⚠️ **renames the model apps load" in markdown  # on the other stacks


def _flipped(png: bytes) -> bytes:
    """Other image content of the same kind (a mirrored digit)."""
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out, "PNG")
    return out.getvalue()


def test_a_data_change_lists_images_added_removed_and_relabelled_per_label_and_split(repo, capsys):
    archive = repo.root / "specs/data/digits.zip"
    with zipfile.ZipFile(archive) as source:
        members = {i.filename: source.read(i) for i in source.infolist() if not i.is_dir()}
    of = {label: sorted(n for n in members if f"/{label}/" in n) for label in ("one", "nine")}
    sevens = sorted(n for n in members if "/seven/" in n)
    dropped = of["nine"][:5]
    relabelled = {n: n.replace("/one/", "/seven/was-one-") for n in of["one"][:3]}
    added = {
        f"{sevens[i].rsplit('.', 1)[0]}-mirrored.png": _flipped(members[sevens[i]])
        for i in range(4)
    }
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members.items():
            if name not in dropped:
                target.writestr(relabelled.get(name, name), data)
        for name, data in added.items():
            target.writestr(name, data)
    repo.commit("5 fewer nines, 3 ones that are sevens, 4 more sevens")
    code, report = repo.review(capsys, "--stack", "dev")
    assert code == 0
    dataset = change(_valid(report), "dev", "Dataset", "digits")
    data = dataset["data"]
    assert (data["added"], data["removed"], data["relabelled"]) == (4, 5, 3)
    assert data["images"]["new"] - data["images"]["old"] == 4 - 5
    labels = {c["label"]: c for c in data["labels"]}
    assert {k: labels["seven"][k] for k in ("added", "relabelledIn", "net")} == {
        "added": 4,
        "relabelledIn": 3,
        "net": 7,
    }
    assert (labels["one"]["relabelledOut"], labels["one"]["net"]) == (3, -3)
    assert (labels["nine"]["removed"], labels["nine"]["net"]) == (5, -5)
    for label in ("one", "seven", "nine"):
        splits = labels[label]["splits"]
        assert sum(s["new"] - s["old"] for s in splits.values()) == labels[label]["net"]
    assert data["summary"].startswith("−5 `nine`, −3 `one`, +7 `seven`, 3 relabelled")
    _, markdown = repo.review(capsys, "--stack", "dev", fmt="markdown")
    row = "| **dev** | Dataset `digits` | ♻️ replaced | images: −5 `nine`, −3 `one`, +7 `seven`"
    assert row in markdown
    assert "  | `seven` | +4 |  | +3 / −0 | " in markdown
