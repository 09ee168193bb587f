def score(body: dict) -> dict:
    """A large order is a risky one."""
    return {"score": 0.9 if body["total"] >= 100000 else 0.1}
