"""OpenFaaS-style Python template (seed 004): ``handle(logger, request)``, sync or ``async def``.

Request -> ``request``: the JSON object of the body (an empty body is ``{}``)
with a ``metadata`` dict holding the seven documented keys (``activityID``,
``environmentID``, ``environmentName``, ``organizationID``, ``projectID``,
``stateStoreUrl``, ``stateStoreToken``).  Values the caller sent in its own
``metadata`` object are kept; ``activityID`` is always the execution id and
``organizationID`` the organization id when the launcher knows one; keys
nobody provides are "".  A body that is not a JSON object is a 400 (the
handler is not called): the document defines the request as a dictionary.

``logger``: a standard :class:`logging.Logger` (``function``) writing to stdout,
the user's log stream.

Return value -> a 200 with the value as JSON (the document: "A dictionary
that will be returned as the JSON response body").
Exceptions are the core's 500 ``{error, type, traceback}``.
"""

from __future__ import annotations

import json
import logging
import sys

from ..protocol import BadRequest, Request, json_result, make_invoke

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable, Dict

    from ..protocol import Invoke

METADATA_KEYS = (
    "activityID",
    "environmentID",
    "environmentName",
    "organizationID",
    "projectID",
    "stateStoreUrl",
    "stateStoreToken",
)


def make_logger() -> logging.Logger:
    logger = logging.getLogger("function")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def build_request(req: Request) -> Dict[str, Any]:
    if req.body.strip():
        try:
            payload = json.loads(req.body)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    else:
        payload = {}
    if not isinstance(payload, dict):
        raise BadRequest(f"the request body must be a JSON object, not {type(payload).__name__}")
    metadata: Dict[str, Any] = dict.fromkeys(METADATA_KEYS, "")
    sent = payload.get("metadata")
    if isinstance(sent, dict):
        metadata.update(sent)
    metadata["activityID"] = req.execution_id
    if req.organization_id:
        metadata["organizationID"] = req.organization_id
    payload["metadata"] = metadata
    return payload


def make_invoker(fn: Callable[..., Any]) -> Invoke:
    """Wrap ``fn(logger, request)`` into ``invoke(Request) -> Response`` (async when *fn* is)."""
    logger = make_logger()

    def call(req: Request) -> Any:
        return fn(logger, build_request(req))  # a BadRequest is a 400: the handler is not called

    return make_invoke(fn, call, json_result)  # the value as the JSON body of a 200
