"""Schemathesis hooks for ops/schemathesis.sh: every error is problem+json.

Loaded through SCHEMATHESIS_HOOKS=schemathesis_hooks (with ops/ on PYTHONPATH).
"""

import json

import schemathesis


@schemathesis.check
def errors_are_problem_json(ctx, response, case):
    """Every 4xx and 5xx answer is application/problem+json with the contract's fields."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    # The pages (GET /, /qa, /signin...) answer people with HTML, errors too.
    if content_type.startswith("text/html"):
        return None
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(
            f"{response.status_code} came as {content_type!r}, not application/problem+json"
        )
    try:
        body = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(f"{response.status_code} problem body is not JSON: {error}")
    for field in ("type", "title", "detail"):
        if not isinstance(body.get(field), str):
            raise AssertionError(f"problem without {field}: {body}")
    if body.get("status") != response.status_code:
        raise AssertionError(f"problem status {body.get('status')} != {response.status_code}")
    return None
