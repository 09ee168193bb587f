"""A fixed stock, so every request sees the same numbers."""

from funcatron_wf import HTTPError

STOCK = {"apple": 1000, "pear": 200, "piano": 2}


def reserve(body: dict, request) -> dict:
    short = [i["sku"] for i in body["items"] if i["quantity"] > STOCK.get(i["sku"], 0)]
    if short:
        raise HTTPError(409, f"not enough stock of {', '.join(short)}")
    return {"reservation": "r-" + request.request_id[:12], "items": body["items"]}


def level(sku: str) -> dict:
    return {"sku": sku, "in_stock": STOCK.get(sku, 0)}
