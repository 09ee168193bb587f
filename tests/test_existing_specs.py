"""Published specs serve as they are: the OpenAPI Initiative's petstore,
with its bare operationIds (listPets, showPetById), through the real `dev
--module pets_api`, its functions found by their snake_case names."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import REPO
from tests.dev_process import DevProcess, running

PETSTORE = REPO / "tests" / "funcs" / "oai_petstore"
HOST = {"host": "petstore.swagger.io"}


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    log = tmp_path_factory.mktemp("petstore") / "dev.log"
    with running(DevProcess([PETSTORE], log, extra=["--module", "pets_api"])) as process:
        yield process


def test_dev_prints_how_each_operation_id_maps(dev: DevProcess) -> None:
    output = dev.output()
    assert "GET     petstore.swagger.io/v1/pets -> listPets (pets_api.list_pets)" in output
    assert "-> showPetById (pets_api.show_pet_by_id)" in output


def test_the_petstore_serves_with_its_operation_ids_unchanged(dev: DevProcess) -> None:
    with httpx.Client(base_url=f"{dev.url}/v1", headers=HOST, timeout=30) as http:
        assert http.get("/pets", params={"limit": 1}).json() == [
            {"id": 1, "name": "Rex", "tag": "dog"}
        ]
        assert http.post("/pets", json={"id": 3, "name": "Kit"}).status_code == 201
        assert http.get("/pets/3").json() == {"id": 3, "name": "Kit"}
        assert http.get("/pets/9").status_code == 404
        bad = http.get("/pets", params={"limit": "many"})
        assert bad.status_code == 400
        assert [p["name"] for p in bad.json()["invalid_params"]] == ["limit"]
