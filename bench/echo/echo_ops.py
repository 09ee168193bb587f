def echo(word: str) -> dict:
    return {"echo": word}
