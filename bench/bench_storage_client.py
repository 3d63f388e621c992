"""Benchmark: what one 5 KB upload costs the client, over the storage clients' session.

A first import of 10,000 images sends 10,000 uploads (from one worker process per core since
0142757: storage.py's `_upload_in_processes`; below 2,000 uploads from the provider's threads),
and each process's CPU (one core: the GIL) bounds its rate. This measures one process's
client CPU per upload (os.times of this process: user + system) and the uploads per second,
32 threads (the threaded upload path) through the
storage library's `upload_from_string` with `ifGenerationMatch=0`, against the local emulator
in a process of its own:
- `StorageSession` (components/cloud/sessions.py), what the storage clients use;
- baseline, in the same run: google-auth's `AuthorizedSession` as the storage library makes it
  (requests' `Session.request` on every request), with the same 32 connections kept.
The two alternate, 3 rounds each; the medians are printed. No assertions: figures only.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.table import row

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "edge-labeler-bench"
THREADS = 32


def start_emulator(data_dir: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """`edgectl emulator start` in its own process; the KEY=value lines it prints."""
    log = data_dir.with_suffix(".log")
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "start", "--data-dir", str(data_dir)],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    env: dict[str, str] = {}
    while "EDGE_LABELER_FIREBASE_ML_ENDPOINT" not in env:
        if process.poll() is not None:
            raise SystemExit(f"the emulator ended: see {log}")
        time.sleep(0.1)
        for line in log.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.isupper() and not line.startswith("#"):
                env[key.strip()] = value.strip()
    return process, env


def clients(url: str):
    """Two storage clients of the emulator: over StorageSession, and over AuthorizedSession."""
    import google.cloud.storage as storage
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import AuthorizedSession
    from requests.adapters import HTTPAdapter

    from components.cloud.sessions import StorageSession

    ours = StorageSession(AnonymousCredentials())
    plain = AuthorizedSession(AnonymousCredentials())
    plain.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=THREADS))
    made = {}
    for name, session in (("StorageSession", ours), ("AuthorizedSession", plain)):
        session.trust_env = False
        made[name] = storage.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=url),
            _http=session,
        )
    return made


def round_of(client, bucket: str, tag: str, payloads: list[bytes]) -> tuple[float, float]:
    """(client CPU ms per upload, uploads per second) of one round."""
    blobs = client.bucket(bucket)

    def upload(i: int) -> None:
        blobs.blob(f"{tag}/{i}.png").upload_from_string(
            payloads[i], content_type="image/png", if_generation_match=0, retry=None
        )

    before, start = os.times(), time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(upload, range(len(payloads))))
    seconds, after = time.perf_counter() - start, os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    return cpu * 1000 / len(payloads), len(payloads) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=3000, help="per round (3000)")
    parser.add_argument("--rounds", type=int, default=3, help="per session (3)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-storage-client-"))
    process, env = start_emulator(tmp / "emulator")
    try:
        os.environ.update(env)
        made = clients(env["STORAGE_EMULATOR_HOST"])
        bucket = "bench-client"
        made["StorageSession"].create_bucket(bucket)
        payloads = [os.urandom(5000) for _ in range(args.uploads)]
        for name, client in made.items():  # connections opened, code paths warm
            round_of(client, bucket, f"warm-{name}", payloads[:200])
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in made}
        print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
        for n in range(args.rounds):
            for name, client in made.items():
                cpu, rate = round_of(client, bucket, f"{name}-{n}", payloads)
                figures[name].append((cpu, rate))
                print(f"{name} round {n}: {cpu:.3f} ms CPU per upload, {rate:,.0f} uploads/s")
        medians = {
            name: [statistics.median(r[i] for r in rounds) for i in (0, 1)]
            for name, rounds in figures.items()
        }
        cpu_ours, rate_ours = medians["StorageSession"]
        cpu_base, rate_base = medians["AuthorizedSession"]
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        row(
            "client CPU per 5 KB upload (StorageSession), 32 threads",
            cpu_ours,
            "ms",
            baseline=cpu_base,
            baseline_of="AuthorizedSession (requests' Session.request)",
        )
        row(
            "uploads per second to the emulator (StorageSession), 32 threads",
            rate_ours,
            "uploads/s",
            baseline=rate_base,
            baseline_of="AuthorizedSession (requests' Session.request)",
        )
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
