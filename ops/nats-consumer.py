#!/usr/bin/env python3
"""A downstream reader of frontdoor's log: reads the downstream stream (the log without
restricted checks) from NATS JetStream and verifies the chain it can see.

Each message of the downstream stream is one log position (its stream sequence is the
position), with these headers:

  Frontdoor-Position   the log position
  Frontdoor-Kind       "event": the payload is the event exactly as frontdoor's export writes
                       it (one JSON object, `hash` its last field);
                       "withheld": the payload is {"position", "withheld": true, "prev_hash",
                       "hash"}, an event a reader without the right to restricted checks may
                       not see
  Frontdoor-Withdraw   (optional) earlier positions, comma-separated, that this event made
                       restricted: drop what you hold of them, keep their hashes
  Frontdoor-Node       the frontdoor node that published it

What is verified, for every message from position 1: the positions follow without a gap; each
message's `prev_hash` is the hash before it; for each event shown, its `hash` is
SHA-256(prev_hash bytes || the event's JSON without its `hash` field), recomputed from the very
bytes received; a withdrawn position is an earlier one. What cannot be verified: the content of
a withheld event (only that the chain passes through its hash), and that the head is the
service's own head (compare it with `GET /v1/events` as an auditor, or `frontdoor-replay`).

Prints one JSON line: {"verified", "shown", "withheld", "withdrawn", "head": {"position",
"hash"}}, and exits 1 (naming the position) when the chain does not verify.

  ops/nats-consumer.py --server tls://nats1:4222 --user warehouse --password-env NATS_PASSWORD \\
      --ca ca.pem [--cert client.pem --key client.key] [--stream FRONTDOOR_DOWNSTREAM]

nats-py (PyPI, pinned in ops/nats-py-install.sh).
"""

import argparse
import asyncio
import hashlib
import json
import os
import ssl
import sys

import nats

ZERO = "0" * 64


class ChainError(Exception):
    pass


def verify_message(expected_position, prev_hash, headers, data):
    """Checks one message against the chain so far; returns (kind, hash, withdrawn positions)."""
    headers = headers or {}
    position = int(headers.get("Frontdoor-Position", "0"))
    if position != expected_position:
        raise ChainError(f"position {expected_position}: the message says {position}")
    doc = json.loads(data)
    if doc.get("position") != position:
        raise ChainError(f"position {position}: the payload says {doc.get('position')}")
    if doc.get("prev_hash") != prev_hash:
        raise ChainError(f"position {position}: prev_hash {doc.get('prev_hash')} is not the hash before it ({prev_hash})")
    claimed = doc.get("hash", "")
    if len(claimed) != 64:
        raise ChainError(f"position {position}: no hash")
    kind = headers.get("Frontdoor-Kind")
    if kind == "event":
        suffix = b',"hash":"' + claimed.encode() + b'"}'
        if not data.endswith(suffix):
            raise ChainError(f"position {position}: the event does not end with its hash")
        body = data[: -len(suffix)] + b"}"
        computed = hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()
        if computed != claimed:
            raise ChainError(f"position {position}: the event's hash is {computed}, not {claimed}")
    elif kind == "withheld":
        if doc != {"position": position, "withheld": True, "prev_hash": prev_hash, "hash": claimed}:
            raise ChainError(f"position {position}: a withheld event carries more than its hashes")
    else:
        raise ChainError(f"position {position}: unknown kind {kind!r}")
    withdraw = [int(p) for p in headers.get("Frontdoor-Withdraw", "").split(",") if p]
    for p in withdraw:
        if not 0 < p < position:
            raise ChainError(f"position {position}: withdraws {p}, which is not an earlier position")
    return kind, claimed, withdraw


async def read(args):
    tls = None
    if args.ca:
        tls = ssl.create_default_context(cafile=args.ca)
        if args.cert:
            tls.load_cert_chain(args.cert, args.key)
    password = os.environ.get(args.password_env) if args.password_env else None
    nc = await nats.connect(
        servers=[args.server],
        user=args.user,
        password=password,
        tls=tls,
        # Replies come to inboxes of this user's own, the only ones its permissions let it read.
        inbox_prefix=args.inbox_prefix or (f"_INBOX_{args.user}" if args.user else "_INBOX"),
        allow_reconnect=False,
        connect_timeout=5,
    )
    try:
        js = nc.jetstream(timeout=5)
        info = await js.stream_info(args.stream)
        last = info.state.last_seq
        prev = ZERO
        shown = {}
        withheld = set()
        withdrawn = 0
        for position in range(1, last + 1):
            message = await js.get_msg(args.stream, seq=position)
            kind, prev, withdraw = verify_message(position, prev, message.headers, message.data)
            if kind == "event":
                shown[position] = json.loads(message.data)
            else:
                withheld.add(position)
            for p in withdraw:
                # What the reader held of it goes; only its hash (in the chain) stays.
                if shown.pop(p, None) is not None:
                    withdrawn += 1
                withheld.add(p)
        return {
            "verified": last,
            "shown": len(shown),
            "withheld": len(withheld),
            "withdrawn": withdrawn,
            "head": {"position": last, "hash": prev},
        }
    finally:
        await nc.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="a NATS server, tls://host:port")
    parser.add_argument("--user", help="the NATS user (one of frontdoor's replication.downstream_users)")
    parser.add_argument("--password-env", help="the environment variable holding the user's password")
    parser.add_argument("--ca", help="the CA that signed the NATS servers' certificates")
    parser.add_argument("--cert", help="this reader's certificate, when the servers ask for one")
    parser.add_argument("--key", help="its key")
    parser.add_argument("--stream", default="FRONTDOOR_DOWNSTREAM")
    parser.add_argument("--inbox-prefix", help="where replies come (default _INBOX_<user>)")
    args = parser.parse_args()
    try:
        summary = asyncio.run(read(args))
    except ChainError as e:
        print(json.dumps({"error": str(e)}))
        sys.exit(1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
