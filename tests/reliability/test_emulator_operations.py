"""The emulator's ListOperations filter as AutoML documents it (`operation_id`, `done`,
`worksOn`, each with = or !=): what finding a running training or import relies on."""

import pytest
from google.api_core import exceptions

from tests.fixtures.digits import digit_images
from tests.fixtures.emulator import (
    PARENT,
    arm_fault,
    automl_client,
    clear_faults,
    create_dataset,
    operations_client,
    start_import,
    storage_client,
    wait_until_held,
)


def test_list_operations_filters_as_documented(emulator_factory):
    env = emulator_factory().env
    client = automl_client(env)
    first, second = create_dataset(client, "first"), create_dataset(client, "second")
    bucket = storage_client(env).create_bucket("filters")
    bucket.blob("a.png").upload_from_string(digit_images(1, ("zero",))[0].data)
    bucket.blob("index.csv").upload_from_string("TRAIN,gs://filters/a.png,zero\n")
    arm_fault(env, "ImportData.commit", "HOLD")  # a running import on `second`
    try:
        importing = start_import(client, second.name, "gs://filters/index.csv").operation.name
        wait_until_held(env, "ImportData.commit")
        ops = operations_client(env)

        def names(filter_: str) -> set[str]:
            return {o.name for o in ops.list_operations(PARENT, filter_=filter_)}

        created = names("done = true")  # the two CreateDataset operations
        assert len(created) == 2 and importing not in created
        assert names("done != true") == {importing}
        assert names(f"worksOn = {second.name} AND done = false") == {importing}
        assert names(f'worksOn != "{second.name}" AND done = false') == set()
        assert names(f"worksOn = {first.name}") <= created
        operation_id = importing.rsplit("/", 1)[1]
        assert names(f"operation_id = {operation_id}") == {importing}
        assert names(f"operation_id != {operation_id}") == created
        with pytest.raises(exceptions.InvalidArgument, match="operation_id, done and worksOn"):
            list(ops.list_operations(PARENT, filter_="state = RUNNING"))
    finally:
        clear_faults(env)
