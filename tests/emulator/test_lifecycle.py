"""The emulator as a developer drives it: `stop`, `status`, `reset`, `env --export`, the request
log, and a SIGTERM that ends the process once its state is safe.

Every wait is on an event (a process ending, an operation held); the timeouts are hang guards.
"""

import io
import json
import os
import signal
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1
from google.cloud.aiplatform import schema

from emulator.cli import main
from emulator.server import ENV_KEYS, FIREBASE_ML_ENV, STATE_FILE, EmulatorServer
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import (
    HANG_GUARD_S,
    PARENT,
    PROJECT,
    admin,
    arm_fault,
    automl_client,
    create_dataset,
    json_call,
    operations_client,
    start_cli,
    start_import,
    storage_client,
    wait_for,
    wait_until_held,
)
from tests.fixtures.vertex import vertex_clients

# Only a guard against a test that would otherwise hang: a stopping emulator exits in well
# under a second here, and the old one hung forever in this test's set-up (see below).
EXIT_HANG_GUARD_S = 120.0


def _firebase_models(env) -> list:
    status, body = admin(env, "GET", f"/v1beta2/projects/{PROJECT}/models")
    assert status == 200, body
    return body.get("models", [])


def _remote_config(env, method: str, body=None) -> tuple[int, str, dict]:
    """(status, ETag, template) of the project's Remote Config template."""
    request = urllib.request.Request(
        f"{env[FIREBASE_ML_ENV]}/v1/projects/{PROJECT}/remoteConfig",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "If-Match": "*"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.headers["ETag"], json.loads(response.read() or b"{}")


def _populate(env) -> dict[str, str]:
    """One of everything a reset must remove; the names of what was made."""
    bucket = storage_client(env).create_bucket("reset-me")
    bucket.blob("images/0.png").upload_from_string(digit_images(1, ("zero",))[0].data)
    automl = automl_client(env)
    dataset = create_dataset(automl, "kept_until_reset")
    vertex_dataset = wait_for(
        vertex_clients(env).datasets.create_dataset(
            parent=PARENT,
            dataset=aiplatform_v1.Dataset(
                display_name="vertex_dataset", metadata_schema_uri=schema.dataset.metadata.image
            ),
        )
    )
    status, created = admin(
        env, "POST", f"/v1beta2/projects/{PROJECT}/models", {"displayName": "firebase_model"}
    )
    assert status == 200, created
    template = {"parameters": {"welcome": {"defaultValue": {"value": "hi"}}}}
    assert _remote_config(env, "PUT", template)[0] == 200
    arm_fault(env, "GetModel", "UNAVAILABLE", count=5)
    return {"dataset": dataset.name, "vertex_dataset": vertex_dataset.name}


def _assert_empty(env, made: dict[str, str]) -> None:
    assert list(storage_client(env).list_buckets()) == []
    automl = automl_client(env)
    assert list(automl.list_datasets(parent=PARENT)) == []
    with pytest.raises(exceptions.NotFound):
        automl.get_dataset(name=made["dataset"])
    assert list(vertex_clients(env).datasets.list_datasets(parent=PARENT)) == []
    assert list(operations_client(env).list_operations(PARENT, filter_="")) == []
    assert _firebase_models(env) == []
    status, etag, template = _remote_config(env, "GET")
    assert (status, template) == (200, {}) and etag.endswith("-0")  # never published


# ---- stop, status, env --------------------------------------------------------------------


def test_stop_ends_the_process_and_the_request_log_has_every_call(tmp_path, capsys):
    data_dir, log = tmp_path / "data", tmp_path / "requests.jsonl"
    process, env = start_cli(data_dir, tmp_path / "stderr.log", "--log-requests", str(log))
    try:
        bucket = storage_client(env).create_bucket("logged")
        bucket.blob("a b.txt").upload_from_string(b"x")
        assert bucket.blob("a b.txt").download_as_bytes() == b"x"
        automl = automl_client(env)
        with pytest.raises(exceptions.NotFound):
            automl.get_dataset(name=f"{PARENT}/datasets/ICN123")
        assert admin(env, "GET", "/emulator/v1/health") == (200, {"status": "ok"})
        assert _firebase_models(env) == []

        assert main(["stop", "--data-dir", str(data_dir)]) == 0
        out = capsys.readouterr().out
        assert f"stopped the emulator on {data_dir} (pid {process.pid}) in " in out
        assert process.wait(timeout=EXIT_HANG_GUARD_S) == 0
    finally:
        process.kill()
    assert not (data_dir / STATE_FILE).exists()
    assert main(["status", "--data-dir", str(data_dir)]) == 3
    assert main(["stop", "--data-dir", str(data_dir)]) == 0
    assert "nothing to stop: no emulator is running on" in capsys.readouterr().out

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert all(isinstance(c.pop("ms"), float) and c.pop("time").endswith("Z") for c in calls)
    for expected in (
        {
            "transport": "gcs",
            "service": "storage",
            "method": "buckets.insert",
            "resource": "/storage/v1/b",
            "status": 200,
        },
        {
            "transport": "gcs",
            "service": "storage",
            "method": "objects.insert",
            "resource": "gs://logged",  # a multipart upload names the object in its body
            "status": 200,
        },
        {
            "transport": "gcs",
            "service": "storage",
            "method": "objects.get",
            "resource": "gs://logged/a b.txt",
            "status": 200,
        },
        {
            "transport": "grpc",
            "service": "google.cloud.automl.v1.AutoMl",
            "method": "GetDataset",
            "resource": f"{PARENT}/datasets/ICN123",
            "status": "NOT_FOUND",
        },
        {
            "transport": "rest",
            "service": "emulator",
            "method": "health",
            "resource": "/emulator/v1/health",
            "status": 200,
        },
        {
            "transport": "rest",
            "service": "firebaseml",
            "method": "projects.models.list",
            "resource": f"/v1beta2/projects/{PROJECT}/models",
            "status": 200,
        },
    ):
        assert expected in calls, calls


def test_stop_leaves_an_emulator_inside_another_program_alone(emulator_factory, capsys):
    server = emulator_factory()  # in this process: SIGTERM would end the test run
    assert main(["stop", "--data-dir", str(server.data_dir)]) == 1
    err = capsys.readouterr().err
    assert f"the emulator on {server.data_dir} runs inside another program" in err
    assert admin(server.env, "GET", "/emulator/v1/health") == (200, {"status": "ok"})


def test_status_says_whether_one_runs_its_pid_env_uptime_health_and_state(emulator_factory, capsys):
    server = emulator_factory()
    data_dir = str(server.data_dir)
    assert main(["status", "--data-dir", data_dir]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"running: pid {os.getpid()} on {data_dir} (started ")
    assert lines[1] == f"health: ok (GET {server.env[FIREBASE_ML_ENV]}/emulator/v1/health)"
    assert lines[2].startswith("state: ")
    assert lines[3:] == [f"{key}={server.env[key]}" for key in ENV_KEYS]

    assert main(["status", "--data-dir", data_dir, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["running"] is True and document["health"] == "ok"
    assert document["env"] == server.env and document["uptimeSeconds"] >= 0
    assert document["state"]["files"] >= 1


def test_status_of_a_directory_whose_emulator_died_is_not_running(tmp_path, capsys):
    (tmp_path / STATE_FILE).write_text(json.dumps({"pid": 1, "env": {}}))  # no lock held
    assert main(["status", "--data-dir", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert out.startswith("not running: the emulator recorded in") and "did not stop" in out
    assert main(["status", "--data-dir", str(tmp_path / "none"), "--format", "json"]) == 3
    assert json.loads(capsys.readouterr().out)["running"] is False


def test_env_export_lines_are_evaluated_by_the_shell(emulator_factory, capsys):
    server = emulator_factory()
    assert main(["env", "--export", "--data-dir", str(server.data_dir)]) == 0
    exports = capsys.readouterr().out
    assert exports.splitlines()[0].startswith("export STORAGE_EMULATOR_HOST=")
    script = 'eval "$EXPORTS"; printf "%s\\n" ' + " ".join(f'"${key}"' for key in ENV_KEYS)
    shown = subprocess.run(
        ["sh", "-c", script], env={"EXPORTS": exports}, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert shown == [server.env[key] for key in ENV_KEYS]


# ---- reset --------------------------------------------------------------------------------


def test_reset_empties_every_service_and_the_instance_keeps_serving(emulator_factory, capsys):
    server = emulator_factory()
    env, data_dir = server.env, str(server.data_dir)
    made = _populate(env)
    # Background work held mid-way: the reset must end it, not wait for it forever.
    bucket = storage_client(env).create_bucket("held")
    bucket.blob("index.csv").upload_from_string("TRAIN,gs://reset-me/images/0.png,zero\n")
    arm_fault(env, "ImportData.commit", "HOLD")
    importing = start_import(
        automl_client(env),
        create_dataset(automl_client(env), "importing").name,
        "gs://held/index.csv",
    )
    wait_until_held(env, "ImportData.commit")
    # And a call in flight, held: the reset releases it, and it is answered before anything
    # is removed.
    arm_fault(env, "GetDataset", "HOLD")
    in_flight = ThreadPoolExecutor(1).submit(automl_client(env).get_dataset, name=made["dataset"])
    wait_until_held(env, "GetDataset")

    assert main(["reset", "--data-dir", data_dir]) == 1
    assert "run `edgectl emulator reset --yes" in capsys.readouterr().err
    assert sorted(b.name for b in storage_client(env).list_buckets()) == ["held", "reset-me"]

    assert main(["reset", "--yes", "--data-dir", data_dir]) == 0
    assert "it keeps serving on the same ports" in capsys.readouterr().out
    assert in_flight.result(timeout=HANG_GUARD_S).name == made["dataset"]
    _assert_empty(env, made)
    assert server.env == env
    assert admin(env, "GET", "/emulator/v1/faults")[1] == {"faults": [], "held": []}
    with pytest.raises(exceptions.NotFound):  # the held import's operation is gone too
        operations_client(env).get_operation(importing.operation.name)

    # It serves as new, and what is made now survives a restart; what was reset does not.
    storage_client(env).create_bucket("after-reset")
    after = create_dataset(automl_client(env), "after_reset")
    server.stop()
    again = emulator_factory(server.data_dir)
    assert [b.name for b in storage_client(again.env).list_buckets()] == ["after-reset"]
    datasets = automl_client(again.env).list_datasets(parent=PARENT)
    assert [d.name for d in datasets] == [after.name]
    assert not list(Path(data_dir).glob(".reset-*"))


def test_a_reset_cut_short_by_a_crash_is_finished_on_the_next_start(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    first = emulator_factory(data_dir)
    storage_client(first.env).create_bucket("before-crash")
    create_dataset(automl_client(first.env), "before_crash")
    first.stop()
    # What a reset writes first, before it moves anything: a crash right after it.
    (data_dir / "reset.pending").write_text('{"aside": ".reset-crashed"}')
    (data_dir / ".reset-crashed").mkdir()

    second = emulator_factory(data_dir)
    assert list(storage_client(second.env).list_buckets()) == []
    assert list(automl_client(second.env).list_datasets(parent=PARENT)) == []
    assert not (data_dir / "reset.pending").exists()
    assert not list(data_dir.glob(".reset-*"))


def test_reset_of_a_directory_without_an_emulator_says_so(tmp_path, capsys):
    assert main(["reset", "--yes", "--data-dir", str(tmp_path)]) == 1
    assert "nothing to reset: no emulator is running on" in capsys.readouterr().err


def test_request_log_in_process(tmp_path):
    from emulator.transport.calls import RequestLog

    stream = io.StringIO()
    with EmulatorServer(tmp_path / "data", request_log=RequestLog(stream)) as server:
        client = automl_client(server.env)
        client.list_datasets(parent=PARENT)
        assert json_call(server.env[FIREBASE_ML_ENV] + "/nowhere", "GET")[0] == 404
    calls = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(c["transport"], c["method"], c["resource"], c["status"]) for c in calls] == [
        ("grpc", "ListDatasets", PARENT, "OK"),
        ("rest", "GET /nowhere", "/nowhere", 404),
    ]


# ---- SIGTERM ------------------------------------------------------------------------------

# The process's own exit: an exit handler and a thread that never end stand for what made it
# last ≈ 25 s (TensorFlow's and gRPC's teardown, module finalisation); once its state is safe
# the emulator must not wait for either.
_LINGERING = (
    "import atexit, sys, threading\n"
    "never = threading.Event()\n"
    "atexit.register(never.wait)\n"
    "threading.Thread(target=never.wait, name='lingering').start()\n"
    "from emulator.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_sigterm_ends_the_process_once_its_state_is_safe(tmp_path):
    data_dir = tmp_path / "data"
    process, env = start_cli(data_dir, tmp_path / "stderr.log", python_args=("-c", _LINGERING))
    try:
        automl = automl_client(env)
        created = create_dataset(automl, "survives")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=EXIT_HANG_GUARD_S) == 0
    finally:
        process.kill()
    assert not (data_dir / STATE_FILE).exists()
    log = (tmp_path / "stderr.log").read_text()
    assert "emulator stopped" in log and "Traceback" not in log
    process, env = start_cli(data_dir, tmp_path / "stderr-2.log")
    try:
        assert automl_client(env).get_dataset(name=created.name).display_name == "survives"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=EXIT_HANG_GUARD_S)
