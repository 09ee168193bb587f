"""The hello example: plain functions, callable from unit tests as they are."""


def greet(name: str) -> dict:
    return {"greeting": f"Hello, {name}"}


async def compose(body: dict) -> tuple[dict, int]:
    salutation = body.get("salutation", "Hello")
    return {"greeting": f"{salutation}, {body['name']}"}, 201


def boom() -> dict:
    raise RuntimeError("this Func always fails")
