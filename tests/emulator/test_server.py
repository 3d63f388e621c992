"""The emulator process: command line, environment, loopback-only binding, restarts, kill -9."""

import ipaddress
import os
import signal
import socket

import pytest
from google.api_core import exceptions

from emulator.cli import main
from emulator.server import ENV_KEYS, EmulatorError, EmulatorServer, running_env
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import (
    PARENT,
    admin,
    automl_client,
    create_dataset,
    operations_client,
    start_cli,
    start_import,
    storage_client,
    wait_for,
    wait_until_held,
)

# ---- helpers --------------------------------------------------------------------------------


def listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that process `pid` owns."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        with open(f"/proc/{pid}/net/{table}") as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != "0A" or inode not in inodes:  # 0A = LISTEN
                    continue
                address_hex, port_hex = local.split(":")
                raw = bytes.fromhex(address_hex)
                # /proc prints each 32-bit word in host (little-endian) order.
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                address = ipaddress.ip_address(socket.inet_ntop(family, raw))
                # gRPC binds 127.0.0.1 through an IPv6 socket as ::ffff:127.0.0.1, which
                # accepts exactly the connections to 127.0.0.1.
                if address.version == 6 and address.ipv4_mapped:
                    address = address.ipv4_mapped
                found.add((str(address), int(port_hex, 16)))
    return found


def env_ports(env: dict[str, str]) -> set[int]:
    return {int(value.rsplit(":", 1)[1]) for value in env.values()}


def import_digits(env, client, bucket: str, display_name: str, images) -> tuple[str, object]:
    """Creates a dataset and starts importing `images` (already in `bucket`) into it."""
    lines = [f"TRAIN,gs://{bucket}/{i.index}.{i.extension},{i.label}" for i in images]
    storage_client(env).bucket(bucket).blob(f"{display_name}.csv").upload_from_string(
        "\n".join(lines)
    )
    dataset = create_dataset(client, display_name)
    return dataset.name, start_import(client, dataset.name, f"gs://{bucket}/{display_name}.csv")


def upload_images(env, bucket_name: str, images) -> None:
    bucket = storage_client(env).create_bucket(bucket_name)
    for image in images:
        bucket.blob(f"{image.index}.{image.extension}").upload_from_string(image.data)


# ---- command line ---------------------------------------------------------------------------


def test_cli_prints_env_binds_loopback_only_and_stops_on_sigterm(tmp_path, capsys):
    data_dir = tmp_path / "data"
    process, env = start_cli(data_dir, tmp_path / "stderr.log")
    try:
        assert list(env) == list(ENV_KEYS)
        assert env["STORAGE_EMULATOR_HOST"].startswith("http://127.0.0.1:")
        assert env["EDGE_LABELER_AUTOML_ENDPOINT"].startswith("127.0.0.1:")
        assert env["EDGE_LABELER_VERTEX_ENDPOINT"] == env["EDGE_LABELER_AUTOML_ENDPOINT"]
        assert env["EDGE_LABELER_FIREBASE_ML_ENDPOINT"].startswith("http://127.0.0.1:")

        # Nothing of the emulator process listens anywhere but 127.0.0.1.
        sockets = listening_sockets(process.pid)
        assert sockets == {("127.0.0.1", port) for port in env_ports(env)}

        assert main(["env", "--data-dir", str(data_dir)]) == 0
        printed = capsys.readouterr().out.splitlines()
        assert printed == [f"{key}={env[key]}" for key in ENV_KEYS]
        assert admin(env, "GET", "/emulator/v1/health") == (200, {"status": "ok"})

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    assert not (data_dir / "emulator.json").exists()
    assert main(["env", "--data-dir", str(data_dir)]) == 1
    assert "no emulator is running on" in capsys.readouterr().err


def test_env_without_an_emulator_explains_how_to_start_one(tmp_path, capsys):
    assert main(["env", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"no emulator is running on {tmp_path}" in err
    assert f"edgectl emulator start --data-dir {tmp_path}" in err


def test_kill_9_keeps_state_and_finishes_interrupted_operations(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    process, env = start_cli(data_dir, tmp_path / "stderr.log")
    images = digit_images(3, ("zero", "one"))
    try:
        client = automl_client(env)
        upload_images(env, "crash", images)
        done_name, done_op = import_digits(env, client, "crash", "completed", images[:2])
        wait_for(done_op)

        # An import stopped after its commit, before its operation was marked done ...
        admin(
            env, "POST", "/emulator/v1/faults", {"method": "ImportData.committed", "effect": "HOLD"}
        )
        after_name, after_op = import_digits(env, client, "crash", "after_commit", images[2:4])
        wait_until_held(env, "ImportData.committed")
        # ... and one stopped before its commit.
        admin(env, "POST", "/emulator/v1/faults", {"method": "ImportData.commit", "effect": "HOLD"})
        before_name, before_op = import_digits(env, client, "crash", "before_commit", images[4:])
        wait_until_held(env, "ImportData.commit")
        assert not before_op.done() and not after_op.done()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    with pytest.raises(EmulatorError, match=r"\(pid \d+\) is not running any more"):
        running_env(data_dir)

    server = emulator_factory(data_dir)
    env = server.env
    client = automl_client(env)
    ops = operations_client(env)

    blobs = {b.name for b in storage_client(env).list_blobs("crash")}
    assert {f"{i.index}.{i.extension}" for i in images} <= blobs
    first = images[0]
    assert (
        storage_client(env).bucket("crash").get_blob(f"{first.index}.{first.extension}")
    ).download_as_bytes() == first.data

    assert client.get_dataset(name=done_name).example_count == 2
    assert ops.get_operation(done_op.operation.name).HasField("response")

    recovered = ops.get_operation(after_op.operation.name)
    assert recovered.done and recovered.HasField("response")  # its commit had reached disk
    assert client.get_dataset(name=after_name).example_count == 2

    interrupted = ops.get_operation(before_op.operation.name)
    assert (
        interrupted.done and interrupted.error.code == exceptions.Aborted.grpc_status_code.value[0]
    )
    assert "was interrupted: the emulator stopped while it was running" in interrupted.error.message
    assert client.get_dataset(name=before_name).example_count == 0
    assert [op.done for op in ops.list_operations(PARENT, filter_="")] == [True] * 6


# ---- in-process server ------------------------------------------------------------------------


def test_clean_restart_keeps_datasets_operations_and_objects(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    first = emulator_factory(data_dir)
    env = first.env
    client = automl_client(env)
    images = digit_images(2, ("two", "three"))
    upload_images(env, "restart", images)
    name, op = import_digits(env, client, "restart", "kept", images)
    wait_for(op)
    admin(env, "POST", "/emulator/v1/faults", {"method": "ImportData.commit", "effect": "HOLD"})
    _, running = import_digits(env, client, "restart", "running", images)
    wait_until_held(env, "ImportData.commit")
    before = client.get_dataset(name=name)
    first.stop()

    second = emulator_factory(data_dir)
    client = automl_client(second.env)
    after = client.get_dataset(name=name)
    assert (after.display_name, after.example_count, after.etag) == (
        before.display_name,
        4,
        before.etag,
    )
    ops = operations_client(second.env)
    assert ops.get_operation(op.operation.name).HasField("response")
    stopped = ops.get_operation(running.operation.name)
    assert stopped.done and "was interrupted" in stopped.error.message
    blob = storage_client(second.env).bucket("restart").get_blob(f"{images[0].index}.png")
    assert blob.download_as_bytes() == images[0].data


def test_session_fixture_exports_its_environment(emulator):
    assert {key: os.environ[key] for key in ENV_KEYS} == emulator.env


def test_in_process_server_listens_on_loopback_only(emulator):
    ports = env_ports(emulator.env)
    mine = {(host, port) for host, port in listening_sockets(os.getpid()) if port in ports}
    assert mine == {("127.0.0.1", port) for port in ports}


def test_fixed_port_scheme_and_port_conflicts(tmp_path, emulator_factory):
    base = _free_port_run(3)
    server = emulator_factory(tmp_path / "a", port=base)
    env = server.env
    assert env["STORAGE_EMULATOR_HOST"] == f"http://127.0.0.1:{base}"
    assert env["EDGE_LABELER_AUTOML_ENDPOINT"] == f"127.0.0.1:{base + 1}"
    assert env["EDGE_LABELER_FIREBASE_ML_ENDPOINT"] == f"http://127.0.0.1:{base + 2}"
    with pytest.raises(EmulatorError, match=rf"cannot listen for GCS on 127\.0\.0\.1:{base}"):
        EmulatorServer(tmp_path / "b", port=base).start()
    assert not (tmp_path / "b" / "emulator.json").exists()


def _free_port_run(count: int) -> int:
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no run of free ports found")


def test_one_instance_per_data_dir(tmp_path, emulator_factory):
    running = emulator_factory(tmp_path / "data")
    with pytest.raises(EmulatorError, match=rf"in use by a running emulator \(pid {os.getpid()}\)"):
        EmulatorServer(tmp_path / "data").start()
    assert running_env(tmp_path / "data") == running.env  # the refused start changed nothing


def test_a_damaged_state_file_is_named_and_nothing_starts(tmp_path, emulator_factory):
    data_dir = tmp_path / "data"
    server = emulator_factory(data_dir)
    dataset_id = create_dataset(automl_client(server.env), "d").name.rsplit("/", 1)[1]
    server.stop()
    damaged = data_dir / "state" / "datasets" / f"{dataset_id}.json"
    damaged.write_text('{"name": ')
    with pytest.raises(EmulatorError, match=rf"{damaged} is not valid JSON"):
        EmulatorServer(data_dir).start()
    damaged.write_text("[]")  # valid JSON, but not a record
    with pytest.raises(EmulatorError, match=rf"{damaged} holds a JSON list where .* an object"):
        EmulatorServer(data_dir).start()
    with pytest.raises(EmulatorError, match=r"not running any more|no emulator is running"):
        running_env(data_dir)  # the failed start released the directory
    damaged.unlink()
    assert emulator_factory(data_dir).env


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::1", "localhost"])
def test_only_an_ipv4_loopback_host_is_accepted(tmp_path, host):
    with pytest.raises(EmulatorError, match=r"127\.0\.0\.1"):
        EmulatorServer(tmp_path, host=host)


def test_admin_api_errors_are_google_json_errors(emulator):
    status, body = admin(emulator.env, "GET", "/emulator/v1/nothing-here")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    status, body = admin(emulator.env, "PUT", "/emulator/v1/faults", {})
    assert status == 400 and "allowed: DELETE, GET, POST" in body["error"]["message"]
    status, body = admin(emulator.env, "GET", "/emulator/v1/env")
    assert (status, body) == (200, emulator.env)
