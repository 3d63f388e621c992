"""Uploads raise the cycle collector's first threshold while they run (components/cloud/storage.py:
at Python's 700 the collector stopped every thread ~470 times in 10,000 uploads), and leave it
as they found it: after an error too, and with two upload runs overlapping."""

import gc
import threading
import uuid

import pytest

from components.cloud import storage as storage_module
from components.cloud.clients import CloudTarget
from components.cloud.storage import ObjectStore, Upload
from tests.fixtures.emulator import LOCATION, PROJECT, storage_client


@pytest.fixture
def store(emulator):
    target = CloudTarget(stack="local", project=PROJECT, region=LOCATION, emulator=True)
    bucket = storage_client(emulator.env).create_bucket(f"gc-{uuid.uuid4().hex[:10]}").name
    return ObjectStore(target, bucket)


@pytest.fixture
def threshold():
    before = gc.get_threshold()
    gc.set_threshold(701, 11, 12)
    yield
    gc.set_threshold(*before)


def test_uploads_run_with_fewer_collections_and_restore_the_threshold(store, threshold):
    seen = []

    def read(i):
        seen.append(gc.get_threshold())
        return f"image {i}".encode()

    uploads = [Upload(f"images/{i}.png", lambda i=i: read(i)) for i in range(5)]
    assert store.upload_missing(uploads, "images/") == 5
    assert seen == [(storage_module.UPLOAD_GC_THRESHOLD, 11, 12)] * 5
    assert gc.get_threshold() == (701, 11, 12)


def test_the_threshold_is_restored_when_an_upload_fails(store, threshold):
    def fail():
        raise OSError("the disk went away")

    with pytest.raises(OSError, match="the disk went away"):
        store.upload_missing([Upload("images/bad.png", fail)], "images/")
    assert gc.get_threshold() == (701, 11, 12)


def test_overlapping_upload_runs_restore_the_threshold_found_by_the_first(store, threshold):
    """Run A starts, run B starts while A runs, A ends while B runs, then B ends."""
    a_reading, b_reading = threading.Event(), threading.Event()
    during_b_after_a = []

    def a_read():
        a_reading.set()
        assert b_reading.wait(30)
        return b"a"

    run_a = threading.Thread(
        target=store.upload_missing, args=([Upload("images/a.png", a_read)], "images/")
    )

    def b_read():
        b_reading.set()
        run_a.join(60)
        during_b_after_a.append(gc.get_threshold())
        return b"b"

    run_a.start()
    assert a_reading.wait(30)
    store.upload_missing([Upload("images/b.png", b_read)], "images/")
    assert not run_a.is_alive()
    assert during_b_after_a == [(storage_module.UPLOAD_GC_THRESHOLD, 11, 12)]
    assert gc.get_threshold() == (701, 11, 12)
