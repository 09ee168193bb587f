def shout(body):
    return {"shouted": body["greeting"].upper() + "!"}
