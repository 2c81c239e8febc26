#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus (ops/fuzz/seeds/<target>/) from an export of the
synthetic demo log, plus a few hand-written bodies for the event types the demo never writes.

    frontdoor serve --demo --data-dir /tmp/demo   # stop it with Ctrl-C once it serves
    frontdoor-replay export --data-dir /tmp/demo --out /tmp/demo.jsonl
    ops/fuzz/make-seeds.py /tmp/demo.jsonl

Takes the first three events of each type (the demo data is synthetic: no real person).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES = [
    "contact_received", "triage_rated", "call_logged", "checks_requested", "checks_returned",
    "duty_discussion_held", "consent_recorded", "decision_made", "action_plan_agreed",
    "referrer_informed", "handover_sent", "handover_accepted", "handover_returned",
    "contact_closed", "note_added", "correction_recorded", "audit_finding_recorded",
]
HAND_WRITTEN = [
    ("correction_recorded", {"corrects_event_id": "01JQ0000000000000000000000", "field": "children[0].date_of_birth",
                             "value": "2019-04-01", "reason": "Typed the wrong year"}),
    ("correction_recorded", {"corrects_event_id": "01JQ0000000000000000000001", "field": "referrer.phone",
                             "value": {"old": None, "new": ["01632 960123", 2.5]}, "reason": "Number added"}),
    ("correction_recorded", {"corrects_event_id": "01JQ0000000000000000000003", "field": "duration_seconds",
                             "value": {"hours": 0.1, "ratio": 1.2345678901234567e-50}, "reason": "Rounded"}),
    ("audit_finding_recorded", {"grade": "requires_improvement", "findings": "Consent not recorded before checks"}),
    ("decision_made", {"outcome": "assessment", "rationale": "Revised after the strategy meeting",
                       "level_of_need": 4, "primary_need": "N1",
                       "revises": {"event_id": "01JQ0000000000000000000002", "reason": "New information"}}),
]


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def write(target, name, data):
    path = os.path.join(HERE, "seeds", target)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


def main():
    seen = {}
    for line in open(sys.argv[1], encoding="utf-8"):
        line = line.rstrip("\n")
        env = json.loads(line)
        kind = env["type"]
        n = seen.get(kind, 0)
        if n >= 3:
            continue
        seen[kind] = n + 1
        name = f"{kind}-{n}"
        # The record body is the export line without its hash (see events/src/envelope.rs);
        # 4 control bytes first: which byte to change (0x0010), its bits (0x01), and recompute
        # the checksum (0x01).
        body = line[: line.rfind(',"hash":')] + "}"
        write("record", name, b"\x00\x10\x01\x01" + body.encode())
        data = compact(env["data"]).encode()
        write("schema", name, bytes([TYPES.index(kind), 1]) + data)
        if kind == "contact_received":
            contact = dict(env["data"], occurred_at=env["occurred_at"])
            write("new_contact", name, compact(contact).encode())
        else:
            request = {"type": kind, "data": env["data"], "occurred_at": env["occurred_at"],
                       "expected_version": env["version"] - 1}
            write("event_request", name, compact(request).encode())
    for i, (kind, data) in enumerate(HAND_WRITTEN):
        write("schema", f"hand-{kind}-{i}", bytes([TYPES.index(kind), 1]) + compact(data).encode())
        request = {"type": kind, "data": data, "occurred_at": "2026-11-20T10:15:00Z"}
        write("event_request", f"hand-{kind}-{i}", compact(request).encode())


if __name__ == "__main__":
    main()
