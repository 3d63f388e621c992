"""components/process_pool.py: results in the order of the batches whatever worker made them;
a worker's exception raised in the caller after the results before it; a worker that dies, or
never starts, is an error, not a hang; the batches' source is closed when the caller stops."""

import pytest

from components.process_pool import batched, run_in_processes

WORKER = "tests.fixtures.echo_worker"
# A hang is a failure (a guard, not a timed assertion: these take well under a second).
pytestmark = pytest.mark.timeout(120)


def test_results_come_in_batch_order_from_every_worker():
    batches = [list(range(i, i + 3)) for i in range(0, 300, 3)]
    results = list(run_in_processes(WORKER, batches, workers=2))
    assert [square for result in results for square, _ in result] == [n * n for n in range(300)]
    assert len({pid for result in results for _, pid in result}) == 2


def test_a_worker_error_is_raised_after_the_results_before_it():
    batches = [[1], [2], ["fail"], [4], [5]]
    got = []
    with pytest.raises(ValueError, match="batch refused: it holds 'fail'"):
        for result in run_in_processes(WORKER, batches, workers=2):
            got.append(result[0][0])
    assert got == [1, 4]


def test_an_error_reading_the_batches_is_raised_in_order():
    def batches():
        yield [1]
        yield [2]
        raise OSError("the source went away")

    got = []
    with pytest.raises(OSError, match="the source went away"):
        for result in run_in_processes(WORKER, batches(), workers=2):
            got.append(result[0][0])
    assert got == [1, 4]


def test_a_worker_that_dies_is_an_error():
    with pytest.raises(RuntimeError, match="ended unexpectedly"):
        list(run_in_processes(WORKER, [[1], ["exit"], [3]], workers=1))


def test_a_worker_that_never_starts_is_an_error_not_a_hang():
    # Batches larger than a pipe's buffer: their sends fail (the worker is gone) rather than
    # waiting in the pipe for an answer that never comes.
    batches = [[b"x" * 200_000] for _ in range(4)]
    with pytest.raises(RuntimeError, match="ended unexpectedly"):
        list(run_in_processes("tests.fixtures.no_such_worker", batches, workers=2, first="go"))


def test_the_source_is_closed_when_the_caller_stops_early():
    closed = []

    def batches():
        try:
            for i in range(1_000):
                yield [i]
        finally:
            closed.append(True)

    source = batches()  # held here: closing it is the pool's doing, not the collector's
    for result in run_in_processes(WORKER, source, workers=2):
        assert result[0][0] == 0
        break
    assert closed == [True]


def test_batches_close_at_a_count_or_a_size():
    sizes = [5, 5, 20, 1, 1, 1, 1]
    assert list(batched(sizes, lambda n: n, most=3, most_bytes=10)) == [
        [5, 5],
        [20],
        [1, 1, 1],
        [1],
    ]


def test_an_overlapped_worker_starts_a_batch_while_the_one_before_still_runs(tmp_path):
    """`serve_overlapped` (the upload workers: their threads go from one batch to the next
    without draining): the second batch releases the first, which waits for it; results and
    errors still come in batch order."""
    flag = str(tmp_path / "released")
    batches = [["hold", flag], ["release", flag], ["fail"], ["release", flag]]
    got = []
    with pytest.raises(ValueError, match="batch refused"):
        for result in run_in_processes("tests.fixtures.overlap_worker", batches, workers=1):
            got.append(result)
    assert got == ["held", "released"]
