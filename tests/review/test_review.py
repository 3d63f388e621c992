"""`edgectl review` on a temporary git repository: one committed change per test."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from jsonschema import Draft202012Validator

from tests.review.conftest import ROOT, change

SCHEMA = json.loads((ROOT / "components" / "schemas" / "review.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
STACKS = ["dev", "local", "prod", "staging"]


def _valid(report: dict) -> dict:
    errors = sorted(VALIDATOR.iter_errors(report), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    return report


def _resources(c: dict) -> dict[str, str]:
    return {r["type"]: r["action"] for r in c["resources"]}


def test_budget_increase_retrains_everywhere_with_its_cost(repo, capsys):
    repo.edit("specs/digits.yaml", "nodeHours: 1\n", "nodeHours: 2\n")
    repo.commit("more budget")
    code, report = repo.review(capsys)
    assert code == 0
    _valid(report)
    assert [s["stack"] for s in report["stacks"]] == STACKS
    for stack in STACKS:
        model = change(report, stack, "Model", "digits")
        assert model["action"] == "retrains"
        assert model["fields"] == [{"field": "budget.nodeHours", "old": 1, "new": 2}]
        trained = next(r for r in model["resources"] if r["type"] == "TrainedModel")
        assert trained["action"] == "replace"
        assert {
            "field": "budgetMilliNodeHours",
            "old": 1000,
            "new": 2000,
            "effect": "replace",
            "via": "fingerprint",
        } in (trained["fields"])
        # The dataset is untouched: only the model's own resources change.
        assert ("Dataset", "digits") not in {
            (c["kind"], c["name"]) for c in _changes(report, stack)
        }
    dev = change(report, "dev", "Model", "digits")["cost"]
    assert dev["nodeHours"] == 2 and dev["perNodeHourUsd"] == 18.0 and dev["usd"] == 36.0
    assert "Vertex AI pricing page" in dev["priceSource"]
    assert change(report, "local", "Model", "digits")["cost"]["usd"] == 0.0  # the emulator
    assert report["summary"]["retrains"] == 4 and report["summary"]["costUsd"] == 108.0
    # prod's publication serves the retrained model: highlighted.
    assert change(report, "prod", "Model", "digits")["reachesProdPublication"] is True
    assert change(report, "dev", "Model", "digits")["reachesProdPublication"] is False

    code, markdown = repo.review(capsys, fmt="markdown")
    assert code == 0
    assert (
        "| **dev** | Model `digits` | 🔁 **retrains** | `budget.nodeHours` `1` → `2` | ≤ $36.00 |"
        in (markdown)
    )
    assert "<details open><summary><b>prod</b> (prod)" in markdown  # prod publication: opened
    assert "2 node hours × $18.00 = **$36.00**" in markdown
    assert "🚨" in markdown


def _changes(report: dict, stack: str) -> list[dict]:
    return next(s for s in report["stacks"] if s["stack"] == stack)["changes"]


def test_price_from_stack_config_and_flag_is_named(repo, capsys):
    repo.edit(
        "Pulumi.dev.yaml",
        "  edge-labeler:specs: specs\n",
        '  edge-labeler:specs: specs\n  edge-labeler:trainingPricePerNodeHour: "4.95"\n',
    )
    repo.edit("specs/digits.yaml", "nodeHours: 1\n", "nodeHours: 3\n")
    repo.commit("budget and a price")
    _, report = repo.review(capsys, "--stack", "dev")
    cost = change(_valid(report), "dev", "Model", "digits")["cost"]
    # Named as the repository names it, not by the review's temporary checkout.
    assert cost["usd"] == 14.85
    assert cost["priceSource"] == "edge-labeler:trainingPricePerNodeHour in Pulumi.dev.yaml"
    _, report = repo.review(capsys, "--stack", "dev", "--price-per-node-hour", "10")
    cost = change(report, "dev", "Model", "digits")["cost"]
    assert (
        cost["usd"] == 30.0 and cost["priceSource"] == "--price-per-node-hour on the command line"
    )


def test_acceptance_loosening_is_flagged_and_only_updates_the_gate(repo, capsys):
    repo.edit("specs/envs/prod.yaml", "    minAuPrc: 0.95\n", "")
    repo.edit(
        "specs/envs/prod.yaml", "      nine: {minRecall: 0.8}\n", "      nine: {minRecall: 0.6}\n"
    )
    repo.edit("specs/envs/staging.yaml", "    minPrecision: 0.9\n", "    minPrecision: 0.8\n")
    repo.commit("looser gates")
    code, report = repo.review(capsys)
    assert code == 0
    _valid(report)
    prod = change(report, "prod", "Model", "digits")
    assert prod["action"] == "updated" and prod["loosened"] is True
    assert _resources(prod) == {"AcceptanceGate": "update", "ModelExport": "update"}
    acceptance = {a["field"]: a for a in prod["acceptance"]}
    assert acceptance["acceptance.minAuPrc"]["loosened"] is True
    assert acceptance["acceptance.minAuPrc"]["note"] == "criterion removed"
    assert acceptance["acceptance.perLabel.nine.minRecall"] == {
        "field": "acceptance.perLabel.nine.minRecall",
        "old": 0.8,
        "new": 0.6,
        "loosened": True,
        "note": "lowered",
    }
    assert prod["cost"] is None  # no retraining
    staging = change(report, "staging", "Model", "digits")
    assert [a["field"] for a in staging["acceptance"] if a["loosened"]] == [
        "acceptance.minPrecision"
    ]
    assert all(s["stack"] in ("prod", "staging") for s in report["stacks"] if s["changes"])
    assert report["summary"]["loosened"] == 2

    _, markdown = repo.review(capsys, fmt="markdown")
    assert "⚠️ **loosened**: `acceptance.minAuPrc` `0.95` → — (criterion removed)" in markdown
    assert "⚠️ **acceptance loosened**" in markdown


def test_threshold_policy_change_is_flagged(repo, capsys):
    repo.edit("specs/digits.yaml", "      maximize: f1\n", "      fixed: 0.3\n")
    repo.commit("a fixed threshold")
    _, report = repo.review(capsys, "--stack", "local")
    model = change(_valid(report), "local", "Model", "digits")
    (policy,) = model["acceptance"]
    assert policy["field"] == "acceptance.threshold" and policy["loosened"] is True
    assert (policy["old"], policy["new"]) == ("maximize f1", "fixed 0.3")


def test_tag_change_updates_the_publication_only(repo, capsys):
    repo.edit(
        "specs/envs/dev.yaml", "tags: [digits, handwriting, dev]", "tags: [digits, dev, beta]"
    )
    repo.commit("a tag")
    code, report = repo.review(capsys)
    assert code == 0
    _valid(report)
    dev = _changes(report, "dev")
    assert [(c["kind"], c["name"], c["action"]) for c in dev] == [
        ("Publication", "digits", "updated")
    ]
    (publication,) = dev[0]["resources"]
    assert publication["action"] == "update"
    assert publication["fields"] == [
        {
            "field": "tags",
            "old": ["digits", "handwriting", "dev"],
            "new": ["digits", "dev", "beta"],
            "effect": "update",
            "via": None,
        }
    ]
    assert dev[0]["cost"] is None and report["summary"]["retrains"] == 0
    assert all(not s["changes"] for s in report["stacks"] if s["stack"] != "dev")


def test_dataset_change_reimports_and_retrains(repo, capsys):
    archive = repo.root / "specs/data/digits.zip"
    with zipfile.ZipFile(archive) as source:
        members = {i.filename: source.read(i) for i in source.infolist() if not i.is_dir()}
    dropped = sorted(n for n in members if "/nine/" in n)[:5]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members.items():
            if name not in dropped:
                target.writestr(name, data)
    repo.commit("five fewer nines")
    code, report = repo.review(capsys)
    assert code == 0
    _valid(report)
    for stack in STACKS:
        dataset = change(report, stack, "Dataset", "digits")
        assert dataset["action"] == "replaced" and dataset["fields"] == []  # same spec text
        fields = {f["field"]: f for f in dataset["resources"][0]["fields"]}
        assert fields["fingerprint"]["effect"] == "replace"
        assert fields["imageCount"]["old"] - fields["imageCount"]["new"] == 5
        assert "the images changed (content fingerprint): a new import" in dataset["notes"]
        model = change(report, stack, "Model", "digits")
        assert model["action"] == "retrains" and model["cost"]["nodeHours"] == 1
    assert change(report, "dev", "Model", "digits")["cost"]["usd"] == 18.0


def test_renaming_the_archive_changes_nothing_in_the_cloud(repo, capsys):
    (repo.root / "specs/data/digits.zip").rename(repo.root / "specs/data/renamed.zip")
    repo.edit("specs/digits.yaml", "zip: data/digits.zip", "zip: data/renamed.zip")
    repo.commit("rename")
    code, report = repo.review(capsys, "--stack", "dev")
    assert code == 0
    (dataset,) = _changes(_valid(report), "dev")
    assert dataset["action"] == "unchanged" and dataset["resources"] == []
    assert dataset["fields"] == [
        {"field": "source.zip", "old": "data/digits.zip", "new": "data/renamed.zip"}
    ]


def test_deleted_publication_is_deleted_everywhere_and_highlighted_on_prod(repo, capsys):
    text = (repo.root / "specs/digits.yaml").read_text()
    (repo.root / "specs/digits.yaml").write_text(
        text[: text.index("---\napiVersion: edge-labeler/v1\nkind: Publication")]
    )
    for stack in STACKS:
        overlay = repo.root / f"specs/envs/{stack}.yaml"
        text = overlay.read_text()
        overlay.write_text(
            text[: text.index("---\napiVersion: edge-labeler/v1\nkind: Publication")]
        )
    repo.commit("no publication")
    code, report = repo.review(capsys)
    assert code == 0
    _valid(report)
    for stack in STACKS:
        (deleted,) = _changes(report, stack)
        assert (deleted["kind"], deleted["action"]) == ("Publication", "deleted")
        assert _resources(deleted) == {"Publication": "delete"}
        assert deleted["reachesProdPublication"] is (stack == "prod")
    prod = change(report, "prod", "Publication", "digits")
    assert prod["resources"][0]["protected"] is True
    assert any("protected on this stack" in n for n in prod["notes"])
    assert any("apps stop receiving 'digits_classifier'" in n for n in prod["notes"])
    _, markdown = repo.review(capsys, fmt="markdown")
    assert (
        "| **prod** (prod) | 🚨 Publication `digits` — **reaches a prod publication** | 🗑️ deleted"
        in markdown
    )


def test_invalid_head_exits_1_with_every_error_located(repo, capsys):
    repo.edit("specs/digits.yaml", "nodeHours: 1\n", "nodeHours: 0\n")
    repo.edit("specs/envs/prod.yaml", "minRecall: 0.9", "minRecal: 0.9")
    repo.commit("broken")
    code, report = repo.review(capsys)
    assert code == 1
    _valid(report)
    assert report["valid"] is False
    for stack in STACKS:
        errors = next(s for s in report["stacks"] if s["stack"] == stack)["errors"]
        assert any(
            e["file"] == "specs/digits.yaml" and e["field"] == "spec.budget.nodeHours" and e["line"]
            for e in errors
        ), errors
    prod_errors = next(s for s in report["stacks"] if s["stack"] == "prod")["errors"]
    assert any(e["file"] == "specs/envs/prod.yaml" and "minRecal" in e["text"] for e in prod_errors)
    code, markdown = repo.review(capsys, fmt="markdown")
    assert code == 1
    assert "❌ **The head revision does not validate**" in markdown
    assert "specs/digits.yaml:" in markdown and "/tmp" not in markdown.split("```text")[1]


def test_the_work_tree_is_not_touched_and_unknown_revisions_exit_2(repo, capsys):
    repo.edit("specs/digits.yaml", "nodeHours: 1\n", "nodeHours: 2\n")
    repo.commit("more budget")
    repo.edit("specs/digits.yaml", "nodeHours: 2\n", "nodeHours: 5\n")  # uncommitted
    before = {p: p.read_bytes() for p in Path(repo.root).rglob("*") if p.is_file()}
    code, report = repo.review(capsys, "--stack", "dev")
    assert code == 0
    assert change(report, "dev", "Model", "digits")["fields"][0]["new"] == 2  # HEAD, not the file
    after = {p: p.read_bytes() for p in Path(repo.root).rglob("*") if p.is_file()}
    assert before == after
    # Without --head: the working tree, uncommitted edit included.
    from components.cli import main

    assert (
        main(
            [
                "review",
                "--project-dir",
                str(repo.root),
                "--base",
                "HEAD",
                "--stack",
                "dev",
                "--format",
                "json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["head"]["label"] == "working tree"
    assert change(report, "dev", "Model", "digits")["fields"][0]["new"] == 5
    assert main(["review", "--project-dir", str(repo.root), "--base", "no-such-rev"]) == 2
    assert "revision 'no-such-rev' is not a commit" in capsys.readouterr().err


def test_a_promotion_pin_copies_instead_of_retraining(repo, capsys):
    from components.promotion.pin import with_pin

    fingerprint = "sha256:" + "5e" * 32
    overlay = repo.root / "specs/envs/prod.yaml"
    overlay.write_text(with_pin(overlay.read_text(), "prod", "digits", "staging", fingerprint))
    repo.commit("promote digits to prod")
    code, report = repo.review(capsys)
    assert code == 0
    _valid(report)
    assert [s["stack"] for s in report["stacks"] if s["changes"]] == ["prod"]
    model = change(report, "prod", "Model", "digits")
    assert model["action"] == "replaced" and model["cost"] is None
    assert _resources(model) == {
        "TrainedModel": "delete",
        "AcceptanceGate": "delete",
        "ModelExport": "delete",
        "PromotedModel": "create",
    }
    trained = next(r for r in model["resources"] if r["type"] == "TrainedModel")
    assert trained["retained"] is True  # prod's retainOnDelete: the cloud model is kept
    assert any(
        "promoted from stack 'staging'" in n and "nothing is trained" in n for n in model["notes"]
    )
    assert model["reachesProdPublication"] is True
    publication = change(report, "prod", "Publication", "digits")
    assert publication["action"] == "updated"
    assert report["summary"]["retrains"] == 0


def test_a_pin_from_the_emulator_stack_into_prod_is_refused_with_its_line(repo, capsys):
    from components.promotion.pin import with_pin

    overlay = repo.root / "specs/envs/prod.yaml"
    text = with_pin(overlay.read_text(), "prod", "digits", "local", "sha256:" + "5e" * 32)
    overlay.write_text(text)
    (line,) = [n for n, t in enumerate(text.splitlines(), 1) if t.startswith("  promoted:")]
    column = text.splitlines()[line - 1].index("local") + 1
    repo.commit("promote digits from the laptop to prod")
    code, report = repo.review(capsys)
    assert code == 1
    _valid(report)
    prod = next(s for s in report["stacks"] if s["stack"] == "prod")
    assert [e["text"] for e in prod["errors"]] == [
        f"specs/envs/prod.yaml:{line}:{column}: Model 'digits' spec.promoted.from: 'local' is an "
        "emulator stack (edge-labeler:emulator: true in Pulumi.local.yaml): it is never a source "
        "for the non-emulator stack 'prod', whatever edge-labeler:promoteFrom declares; allowed "
        "sources: staging (edge-labeler:promoteFrom in Pulumi.prod.yaml)"
    ]
    assert all(not s["errors"] for s in report["stacks"] if s["stack"] != "prod")
    code, markdown = repo.review(capsys, fmt="markdown")
    assert code == 1 and f"specs/envs/prod.yaml:{line}:{column}: Model 'digits'" in markdown


def test_a_stack_declaring_the_emulator_as_a_source_is_refused(repo, capsys):
    repo.edit("Pulumi.prod.yaml", "promoteFrom: [staging]", "promoteFrom: [staging, local]")
    repo.commit("let prod take models from a laptop")
    code, report = repo.review(capsys)
    assert code == 1
    prod = next(s for s in report["stacks"] if s["stack"] == "prod")
    (error,) = prod["errors"]
    assert error["file"] == "Pulumi.prod.yaml" and error["field"] == "edge-labeler:promoteFrom[1]"
    assert "'local' is an emulator stack" in error["message"]


def test_schema_modeline_changes_nothing(repo, capsys):
    """The `yaml-language-server` comment is for editors: removing it reviews as no change."""
    modeline = "# yaml-language-server: $schema=../components/schemas/spec.schema.json\n"
    repo.edit("specs/digits.yaml", modeline, "")
    repo.commit("drop the modeline")
    code, report = repo.review(capsys)
    assert code == 0
    for stack in _valid(report)["stacks"]:
        assert stack["changes"] == [], stack


def test_secret_stack_settings_review_without_their_ciphertext(repo, capsys):
    """`pulumi config set --secret` writes `{secure: <ciphertext>}` into Pulumi.<stack>.yaml:
    the review reads the stack file and shows neither the value nor its ciphertext."""
    ciphertext = "v1:c2VjcmV0LW5vbmNl:ZGVwbG95ZXItN2YzYUBzZWNyZXQtcHJvamVjdA=="
    stack_file = repo.root / "Pulumi.dev.yaml"
    stack_file.write_text(
        stack_file.read_text()
        + f"  edge-labeler:impersonateServiceAccount:\n    secure: {ciphertext}\n"
        + f"  edge-labeler:credentials:\n    secure: {ciphertext}\n"
    )
    repo.edit("specs/digits.yaml", "nodeHours: 1\n", "nodeHours: 2\n")
    repo.commit("dev deploys as a service account; more budget")
    for fmt in ("json", "markdown"):
        code, report = repo.review(capsys, fmt=fmt)
        assert code == 0, report
        text = json.dumps(report) if fmt == "json" else report
        assert "retrains" in text or "replaced" in text
        assert ciphertext not in text and "c2VjcmV0" not in text
