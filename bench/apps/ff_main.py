"""Google functions-framework serving the same handler (`functions-framework --target main`)."""

import functions_framework
from _adapter import invoke


@functions_framework.http
def main(request):
    status, ctype, data, eid = invoke(request.get_data(), request.headers.get("x-execution-id"))
    return data, status, {"Content-Type": ctype, "x-execution-id": eid}
