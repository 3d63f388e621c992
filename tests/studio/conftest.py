"""The studio's test setup: one small project, rehearsed once per session (one trained model,
an epoch budget so the run does not depend on the machine's speed), `edgectl studio` serving
it in a subprocess, and a real browser: Debian's chromium + chromedriver driven by Selenium.

The browser is located (or installed with apt-get when the tests run as root on Debian);
without it the browser tests are skipped, the reason printed. Screenshots of every page go to
EDGE_LABELER_TEST_ARTIFACTS (default .test-artifacts/) under studio/; the folder is printed.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.cli import main
from emulator.core.trainer import EPOCHS_PER_NODE_HOUR_ENV
from tests.fixtures.digits import DigitImage, digit_images, write_zip
from tests.fixtures.emulator import patched_environ

ROOT = Path(__file__).resolve().parents[2]
GIT = ["git", "-c", "user.name=Studio", "-c", "user.email=studio@example.com"]
LABELS = ("zero", "one", "two")
PER_LABEL = 40  # images per label of the trained dataset (4 per label in TEST)
UNLABELED = 12  # images the labeling test labels

SPECS = """\
apiVersion: edge-labeler/v1
kind: Bucket
metadata: {name: data}
spec: {}
---
apiVersion: edge-labeler/v1
kind: Dataset
metadata: {name: digits}
spec:
  bucket: data
  source: {zip: data/digits.zip}
---
apiVersion: edge-labeler/v1
kind: Model
metadata: {name: digits}
spec:
  dataset: digits
  optimizeFor: latency
  budget: {nodeHours: 1}
  acceptance:
    # The threshold with the best balance on the test split.
    threshold:
      maximize: f1
    # Low minima: a short training on 120 images.
    minPrecision: 0.2
---
apiVersion: edge-labeler/v1
kind: Dataset
metadata: {name: scans}
spec:
  bucket: data
  source:
    images: data/scans
    labels: data/scans-labels.csv
"""


def git(root: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout


def _new(more: int, than: int) -> list[DigitImage]:
    """The digits of `digit_images(more)` that `digit_images(than)` does not hold."""
    old = {i.index for i in digit_images(than, LABELS)}
    return [i for i in digit_images(more, LABELS) if i.index not in old]


def scan_name(image: DigitImage) -> str:
    """The file name of a digit in the `scans` folder."""
    return f"scan{image.index:04d}.{image.extension}"


def scan_truth() -> dict[str, str]:
    """What each file of the `scans` folder shows (its digit's label), by name."""
    return {scan_name(i): i.label for i in _new(PER_LABEL + 14, PER_LABEL)}


def held_out() -> list[DigitImage]:
    """Digits in no dataset of the project (for "test your model")."""
    return _new(PER_LABEL + 16, PER_LABEL + 14)


@pytest.fixture(scope="session")
def studio_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed project: a trained digits dataset, and `scans`, an `images` source whose
    labels file labels 30 images (10 per label) and leaves 12 unlabeled."""
    root = tmp_path_factory.mktemp("studio") / "project"
    data = root / "specs" / "data"
    write_zip(data / "digits.zip", digit_images(PER_LABEL, LABELS))
    scans = data / "scans"
    scans.mkdir(parents=True)
    rows = ["path,label"]
    extra = _new(PER_LABEL + 14, PER_LABEL)  # not in digits.zip: 14 per label
    labeled = [i for label in LABELS for i in [x for x in extra if x.label == label][:10]]
    unlabeled = [i for i in extra if i not in labeled][:UNLABELED]
    assert len(labeled) == 30 and len(unlabeled) == UNLABELED
    for image in [*labeled, *unlabeled]:
        (scans / scan_name(image)).write_bytes(image.data)
    rows += [f"{scan_name(i)},{i.label}" for i in sorted(labeled, key=lambda i: i.index)]
    (data / "scans-labels.csv").write_text("\n".join(rows) + "\n")
    (root / "specs" / "all.yaml").write_text(SPECS)
    (root / "Pulumi.yaml").write_text("name: edge-labeler\nruntime: python\n")
    (root / "Pulumi.local.yaml").write_text(
        'config:\n  edge-labeler:project: studio-local\n  edge-labeler:emulator: "true"\n'
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return root


@pytest.fixture(scope="session")
def rehearsal(studio_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`edgectl rehearse --out DIR` of the project: the session's one trained model."""
    out = tmp_path_factory.mktemp("studio-rehearsal")
    console = io.StringIO()
    with (
        patched_environ(
            {
                EPOCHS_PER_NODE_HOUR_ENV: "20",
                "EDGE_LABELER_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
            }
        ),
        contextlib.redirect_stdout(console),
    ):
        code = main(["rehearse", "--project-dir", str(studio_project), "--out", str(out)])
    assert code == 0, console.getvalue() + (out / "report.md").read_text()
    assert (out / "digits" / "model.tflite").is_file(), console.getvalue()
    return out


# -- the server -------------------------------------------------------------------------------


def start_studio(
    project: Path, rehearsal: Path, env: dict[str, str]
) -> tuple[subprocess.Popen, str]:
    """`edgectl studio` in a subprocess on a free port; (process, its URL).

    Started as from a terminal, where Ctrl-C is SIGINT at its default: a shell running the
    suite as a background job (`make test &`) passes SIGINT on ignored, and a Python started
    so never turns it into KeyboardInterrupt (the server then outlived its stop_studio).
    """
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from components.cli import main; sys.exit(main(sys.argv[1:]))",
            "studio",
            "--project-dir",
            str(project),
            "--rehearsal",
            str(rehearsal),
            "--port",
            "0",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed once the socket listens
    if "http://" not in first:
        proc.kill()
        raise AssertionError(f"edgectl studio did not start: {first}{proc.stderr.read()}")
    return proc, first.split("http://", 1)[1].split("/", 1)[0]


def stop_studio(proc: subprocess.Popen) -> tuple[int, str]:
    """Ctrl-C (SIGINT), as a user stops it; (exit status, the rest of its output)."""
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)  # a hang guard, not a measurement
    return proc.returncode, out


@pytest.fixture(scope="session")
def studio(
    studio_project: Path, rehearsal: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The base URL of `edgectl studio --rehearsal DIR` serving the project."""
    env = {"EDGE_LABELER_CACHE_DIR": str(tmp_path_factory.mktemp("studio-cache"))}
    proc, address = start_studio(studio_project, rehearsal, env)
    yield f"http://{address}"
    status, out = stop_studio(proc)
    assert status == 0 and "stopped" in out, out


# -- the browser ------------------------------------------------------------------------------


def _find_browser() -> tuple[str | None, str | None]:
    browser = next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )
    driver = shutil.which("chromedriver")
    if driver is None and os.environ.get("CHROMEWEBDRIVER"):  # GitHub's runners
        candidate = Path(os.environ["CHROMEWEBDRIVER"]) / "chromedriver"
        driver = str(candidate) if candidate.is_file() else None
    return browser, driver


def _install_browser() -> str:
    """apt-get install chromium chromium-driver, when root on Debian; what happened."""
    if os.geteuid() != 0 or not shutil.which("apt-get") or not Path("/etc/debian_version").exists():
        return "not root on Debian: install them with `apt-get install chromium chromium-driver`"
    done = subprocess.run(
        ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
        capture_output=True,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return "installed" if done.returncode == 0 else f"apt-get failed: {done.stderr[-300:]}"


@pytest.fixture(scope="session")
def screenshots(request: pytest.FixtureRequest) -> Path:
    folder = Path(os.environ.get("EDGE_LABELER_TEST_ARTIFACTS", ROOT / ".test-artifacts"))
    folder = folder.resolve() / "studio"
    folder.mkdir(parents=True, exist_ok=True)
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nstudio screenshots: {folder}")
    return folder


@pytest.fixture(scope="session")
def browser(request: pytest.FixtureRequest) -> Iterator[object]:
    """Headless Chromium driven by Selenium (skipped, with the reason, without them)."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (requirements-dev.txt)"
    )
    chromium, driver = _find_browser()
    if chromium is None or driver is None:
        outcome = _install_browser()
        chromium, driver = _find_browser()
        if chromium is None or driver is None:
            reason = f"no chromium/chromedriver on PATH ({outcome})"
            reporter = request.config.pluginmanager.getplugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"\nstudio browser tests skipped: {reason}")
            pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,1600", "--disable-gpu"):  # fmt: skip
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=driver)
    drv = webdriver.Chrome(options=options, service=service)
    yield drv
    drv.quit()
