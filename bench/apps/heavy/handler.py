# Bench: a handler whose import is dominated by a heavy vendored dependency
# (scikit-learn pulls scipy + joblib + threadpoolctl; numpy comes from the image).
import json

import sklearn.linear_model  # noqa: F401  (the import is the point)


def handler(payload, ctx):
    try:
        event = json.loads(payload) if payload else {}
    except (TypeError, ValueError):
        event = {}
    return {"ok": True, "name": event.get("name", "world"), "execution_id": ctx.get("execution_id", "")}
