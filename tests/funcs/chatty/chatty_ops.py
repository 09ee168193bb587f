"""A Func that logs at every level and prints, as Funcs do."""

import logging

logger = logging.getLogger(__name__)


def chat(request) -> dict:
    logger.debug("debug line of %s", request.request_id)
    logger.info("info line of %s", request.request_id)
    print(f"printed line of {request.request_id}")
    return {}
