import logging

logger = logging.getLogger(__name__)


def record(body: dict, request) -> dict:
    """Detached in the checkout chain: the client has its reply already."""
    logger.info("audit %s: %s", request.request_id, body)
    return {"recorded": body}
