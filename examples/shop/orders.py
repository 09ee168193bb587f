from funcatron_wf import Response


def accept(body: dict, request) -> Response:
    order = {"order_id": "o-" + request.request_id[:12], **body}
    return Response(order, status=201)
