import re
from collections import Counter


def clean(body: str) -> str:
    return re.sub(r"[^a-z ]+", " ", body.lower())


def words(body: str) -> list:
    return body.split()


def count(body: list) -> dict:
    return dict(Counter(body))
