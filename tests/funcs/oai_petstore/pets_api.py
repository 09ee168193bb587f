"""The OAI petstore's operations, named as Python names them: listPets is
list_pets, showPetById is show_pet_by_id."""

from funcatron_wf import HTTPError

PETS = {1: {"id": 1, "name": "Rex", "tag": "dog"}, 2: {"id": 2, "name": "Tom"}}


def list_pets(limit: int | None = None) -> list:
    return list(PETS.values())[:limit]


def create_pets(body: dict) -> tuple[None, int]:
    PETS[body["id"]] = body
    return None, 201


def show_pet_by_id(pet_id: str) -> dict:
    if not pet_id.isdigit() or int(pet_id) not in PETS:
        raise HTTPError(404, f"no pet {pet_id}")
    return PETS[int(pet_id)]
