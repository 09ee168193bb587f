"""The petstore example (OpenAPI 3): a Func is stateless between requests
unless it keeps state elsewhere; this in-memory dict is per Runner process,
enough for a demo."""

import itertools

_ids = itertools.count(1)
_pets: dict[str, dict] = {}


def list_pets() -> list:
    return list(_pets.values())


def add_pet(body: dict) -> tuple[dict, int, dict]:
    pet = {"id": str(next(_ids)), **body}
    _pets[pet["id"]] = pet
    return pet, 201, {"Location": f"/api/pets/{pet['id']}"}


def get_pet(petId: str) -> dict | tuple[dict, int]:  # noqa: N803 - named as in the spec
    if petId not in _pets:
        return {"detail": f"no pet {petId}"}, 404
    return _pets[petId]
