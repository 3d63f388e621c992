"""`edgectl studio` in a real browser (headless Chromium, Selenium): every page, its edits
ending as files in the project's Git work tree, a screenshot of each page saved.

Every wait below waits for the page to show a state (an attribute the page sets last when a
request has been answered), never for a length of time; WebDriverWait's limit is a hang
guard only.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from components.cli import main
from components.evaluation.metrics import evaluations_from_json
from components.evaluation.threshold import point_at
from tests.studio.conftest import PER_LABEL, UNLABELED, git, held_out, scan_truth

HANG_GUARD_S = 300


def _wait(browser, condition):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, HANG_GUARD_S).until(condition)


def _css(browser, selector):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, selector)


def _all(browser, selector):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, selector)


def _open(browser, studio, page):
    browser.get(f"{studio}/#{page}")
    _wait(browser, lambda b: not _css(b, f"#page-{page}").get_attribute("hidden"))


def _attribute_is(selector, name, value):
    return lambda b: _css(b, selector).get_attribute(name) == value


def _keys(browser, *keys):
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(browser)
    for key in keys:
        chain.send_keys(key)
    chain.perform()


def _wait_for_images(browser, selector):
    """Until every image of `selector` has loaded (and decoded to a picture)."""
    script = "return arguments[0].complete && arguments[0].naturalWidth > 0"
    _wait(browser, lambda b: all(b.execute_script(script, i) for i in _all(b, selector)))


def _no_error(browser):
    error = _css(browser, "#error")
    assert error.get_attribute("hidden"), error.text


def test_datasets_page_counts_per_label_and_split(browser, studio, screenshots):
    _open(browser, studio, "datasets")
    _wait(browser, lambda b: _all(b, "#counts tr[data-label]"))
    rows = _all(browser, "#counts tr[data-label]")
    assert [r.get_attribute("data-label") for r in rows] == ["zero", "one", "two"]
    totals = [int(r.find_elements("css selector", "td")[-1].text) for r in rows]
    assert totals == [PER_LABEL] * 3
    # Every contact-sheet image loaded (served from the project's zip, thumbnailed).
    assert len(_all(browser, ".sheet img")) == 3 * min(PER_LABEL, 24)  # 24 per sheet
    _wait_for_images(browser, ".sheet img")
    _no_error(browser)
    browser.save_screenshot(str(screenshots / "datasets.png"))


def test_label_twelve_images_by_keyboard(browser, studio, studio_project, screenshots):
    labels_file = studio_project / "specs" / "data" / "scans-labels.csv"
    before = labels_file.read_text().splitlines()
    _open(browser, studio, "label")
    _wait(browser, lambda b: len(_all(b, "#label-grid .card")) == UNLABELED)
    names = [c.get_attribute("data-name") for c in _all(browser, "#label-grid .card")]
    # The legend: key → label, in the dataset's order (the labels file's).
    legend = dict(span.text.split(" ", 1) for span in _all(browser, "#label-keys span"))
    assert sorted(legend.values()) == ["one", "two", "zero"]
    key_of = {label: key for key, label in legend.items()}
    truth = scan_truth()
    browser.execute_script("document.getElementById('label-grid').focus()")
    # A number key sets the image's label (the digit it shows) and moves to the next image.
    _keys(browser, *[key_of[truth[name]] for name in names])
    _wait(browser, lambda b: len(_all(b, "#label-grid .card.labeled")) == UNLABELED)
    _wait_for_images(browser, "#label-grid img")
    browser.save_screenshot(str(screenshots / "label.png"))
    _keys(browser, "\ue007")  # Enter saves
    _wait(browser, _attribute_is("#label-status", "data-saved", str(UNLABELED)))
    _no_error(browser)
    browser.save_screenshot(str(screenshots / "label-saved.png"))

    after = labels_file.read_text().splitlines()
    added = [line for line in after if line not in before]
    expected = {n: truth[n] for n in names}
    assert sorted(added) == sorted(f"{n},{label}" for n, label in expected.items())
    assert after[0] == "path,label" and after[1:] == sorted(after[1:])  # sorted by path
    diff = git(studio_project, "diff", "--numstat", "--", str(labels_file))
    assert diff.split()[:2] == [str(UNLABELED), "0"]  # 12 lines added, none changed
    assert main(["validate", str(studio_project / "specs")]) == 0


def _move_slider_to(browser, value: float) -> None:
    """Home, then → once per 0.01 step: the slider's own keyboard steps."""
    slider = _css(browser, "#threshold")
    slider.click()
    _keys(browser, "\ue011")  # Home: 0.00
    _wait(browser, _attribute_is("#overall", "data-threshold", "0.00"))
    _keys(browser, *["\ue014"] * round(value * 100))  # arrow right
    _wait(browser, _attribute_is("#overall", "data-threshold", f"{value:.2f}"))


def _evaluation(rehearsal: Path):
    data = json.loads((rehearsal / "digits" / "evaluation.json").read_text())
    return evaluations_from_json(data["evaluations"])


def test_the_slider_shows_the_evaluations_metrics_at_0_7(browser, studio, rehearsal, screenshots):
    _open(browser, studio, "evaluate")
    _wait(browser, lambda b: _css(b, "#overall").get_attribute("data-threshold"))
    _move_slider_to(browser, 0.7)
    _no_error(browser)
    evaluations = _evaluation(rehearsal)
    overall = point_at(evaluations.overall, 0.7)
    assert overall.true_positives > 0  # the model labels something at 0.7: not a vacuous match
    assert _css(browser, "#overall-precision").text == f"{overall.precision:.3f}"
    assert _css(browser, "#overall-recall").text == f"{overall.recall:.3f}"
    assert _css(browser, "#overall-f1").text == f"{overall.f1:.3f}"
    rows = _all(browser, "#per-label tr[data-label]")
    assert [r.get_attribute("data-label") for r in rows] == ["zero", "one", "two"]
    for row in rows:
        point = point_at(evaluations.per_label[row.get_attribute("data-label")], 0.7)
        assert row.find_element("css selector", ".precision").text == f"{point.precision:.3f}"
        assert row.find_element("css selector", ".recall").text == f"{point.recall:.3f}"
    # The exported model's scores on the TEST split reproduce the evaluation's counts.
    assert _css(browser, "#agreement").text.startswith("✓"), _css(browser, "#agreement").text
    # The confusion matrix at 0.7 counts every TEST image once.
    cells = [c.text for c in _all(browser, "#confusion td")]
    assert sum(int(c) for c in cells if c != "·") == evaluations.overall.example_count
    browser.save_screenshot(str(screenshots / "evaluate.png"))

    # At 0 every label reaches the threshold: false positives, each a thumbnail.
    _move_slider_to(browser, 0.0)
    low = point_at(evaluations.overall, 0.0)
    assert low.false_positives > 0
    assert len(_all(browser, "#false-positives .card")) == min(low.false_positives, 60)
    assert len(_all(browser, "#false-negatives .card")) == min(low.false_negatives, 60)
    _wait_for_images(browser, "#false-positives img")
    browser.save_screenshot(str(screenshots / "evaluate-0.00.png"))


def test_use_this_threshold_is_a_one_line_diff(browser, studio, studio_project, screenshots):
    spec = studio_project / "specs" / "all.yaml"
    _open(browser, studio, "evaluate")
    _wait(browser, lambda b: _css(b, "#overall").get_attribute("data-threshold"))
    _move_slider_to(browser, 0.7)
    _css(browser, "#use-threshold").click()
    _wait(browser, _attribute_is("#threshold-diff", "data-written", "0.70"))
    _no_error(browser)
    browser.save_screenshot(str(screenshots / "evaluate-threshold-written.png"))
    assert git(studio_project, "diff", "--numstat", "--", str(spec)).split()[:2] == ["1", "1"]
    diff = git(studio_project, "diff", "-U0", "--", str(spec))
    assert "\n-      maximize: f1\n+      fixed: 0.7\n" in diff
    assert "# Low minima: a short training on 120 images." in spec.read_text()  # comments kept
    assert main(["validate", str(studio_project / "specs")]) == 0


def test_test_your_model_labels_a_held_out_digit_as_predict_does(
    browser, studio, rehearsal, screenshots, tmp_path
):
    digit = held_out()[0]
    image = tmp_path / f"held-out-{digit.label}.{digit.extension}"
    image.write_bytes(digit.data)
    _open(browser, studio, "evaluate")
    _wait(browser, lambda b: _css(b, "#overall").get_attribute("data-threshold"))
    _move_slider_to(browser, 0.5)
    _open(browser, studio, "test")
    _css(browser, "#test-file").send_keys(str(image))
    _wait(browser, _attribute_is("#test-result", "data-image", image.name))
    _no_error(browser)
    shown = [
        (li.get_attribute("data-label"), float(li.get_attribute("data-score")))
        for li in _all(browser, "#test-result li[data-score]")
    ]
    # `edgectl predict` on the same file, with the model the rehearsal exported.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(
            ["predict", "--model-file", str(rehearsal / "digits" / "model.tflite"),
             "--threshold", "0.5", "--format", "json", str(image)]
        )  # fmt: skip
    assert status == 0, out.getvalue()
    (predicted,) = json.loads(out.getvalue())["images"]
    expected = [(x["label"], x["score"]) for x in predicted["labels"]]
    assert expected, "the model labels the held-out digit at 0.5"
    assert [label for label, _ in shown] == [label for label, _ in expected]
    # The same scores, to the 6 decimals `edgectl predict --format json` prints.
    assert [score for _, score in shown] == pytest.approx([s for _, s in expected], abs=5e-7)
    browser.save_screenshot(str(screenshots / "test.png"))


def test_the_page_loads_nothing_from_the_network(browser, studio):
    _open(browser, studio, "datasets")
    urls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert urls and all(url.startswith(studio) for url in urls), urls
