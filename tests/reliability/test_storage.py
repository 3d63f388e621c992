"""Cloud Storage: content addresses hold the bytes they name, and a long outage ends in one
clear message (no traceback) once the retry deadline passed."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.cloud.storage import ObjectStore
from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import arm_fault, clear_faults, storage_client
from tests.fixtures.provider_host import ProviderCallError
from tests.reliability.scratch import LABELS, Scratch, new_scratch


@pytest.fixture
def scratch(tmp_path: Path, emulator) -> Iterator[Scratch]:
    stack = new_scratch(tmp_path, "automl_v1", emulator.env)
    try:
        yield stack
    finally:
        clear_faults(emulator.env)
        stack.close()


def test_an_address_holding_other_bytes_is_uploaded_again(scratch: Scratch):
    right, other = digit_images(20, LABELS)[:2]
    address = f"images/{hashlib.sha256(right.data).hexdigest()}.{right.extension}"
    bucket = storage_client(scratch.env, scratch.target.project).bucket(scratch.bucket)
    bucket.blob(address).upload_from_string(other.data)  # another image under its address
    host = scratch.host()
    outputs = scratch.create_dataset(host)
    assert ObjectStore(scratch.target, scratch.bucket).read(address) == right.data
    assert outputs["exampleCount"] == 60
    log = "\n".join(host.output)
    assert f"gs://{scratch.bucket}/{address} held other bytes than its name says" in log, log


def test_a_long_storage_outage_ends_in_one_clear_message(scratch: Scratch):
    arm_fault(scratch.env, "storage.objects.insert", "UNAVAILABLE", count=10**6)
    with pytest.raises(ProviderCallError) as info:
        scratch.create_dataset(scratch.host())
    message = info.value.details
    assert "Traceback" not in message and "RetryError" not in message, message
    assert message.startswith(f"Dataset 'digits': uploading gs://{scratch.bucket}/images/"), message
    assert "still failing after" in message and "the service is unavailable" in message, message
