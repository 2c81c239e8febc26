#!/usr/bin/env python3
"""Slow clients against the real server: holds N slow connections open and measures what
well-behaved clients get meanwhile.

    ops/slow-clients.py [--binary target/release/frontdoor] [--slow 2000] [--seconds 45]

Starts `frontdoor serve` on 127.0.0.1:0 with a fresh temporary data directory and a soft
open-file limit of 1,024 (the server raises its own), creates tokens with the CLI, then holds
--slow connections open for --seconds: a third send half a request's headers a byte a second,
a third send a whole request head and trickle its body a byte a second, a third make one
request and sit idle on the kept-alive connection. Each reconnects as soon as the server
closes it, so the count stays up all along. Meanwhile, open loop, 20 `GET /healthz` and 20
appends (`POST /v1/contacts/{id}/events`, a note) a second, each on a fresh connection,
timed from connect to the last byte of the answer. Prints one line per kind: requests,
errors, p50/p99/max in ms, and the slow connections held. A measurement, not a test: it
exits 0 unless the server could not be started.

Python's standard library only; loopback only.
"""

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def token(binary, data_dir, role, actor, agency="childrens_social_care"):
    out = subprocess.run(
        [binary, "token", "create", "--data-dir", data_dir, "--role", role, "--actor", actor, "--agency", agency],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def start(binary, data_dir):
    def low_limit():
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    server = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=low_limit,
        env={**os.environ, "FRONTDOOR_LOG": "warn"})
    first = server.stdout.readline().strip()
    prefix = "frontdoor listening on http://"
    if not first.startswith(prefix):
        server.kill()
        sys.exit(f"slow-clients: the server did not start: {first!r}")
    host, port = first[len(prefix):].rsplit(":", 1)
    return server, host, int(port)


async def request(host, port, raw):
    """Sends a whole request on a fresh connection; returns (status, body, seconds)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    elapsed = time.perf_counter() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body, elapsed


def post(path, token_, body):
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token_}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
            ).encode() + data


class Held:
    open = 0
    reconnects = 0


async def slow_client(host, port, kind, stop, tokens_referrer):
    """One slow client: misbehaves on a connection, and opens another when it is closed."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        Held.open += 1
        try:
            if kind == 0:
                # Half a request's headers, a byte a second.
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
                while not stop.is_set() and not reader.at_eof():
                    writer.write(b"X")
                    await writer.drain()
                    await asyncio.sleep(1)
            elif kind == 1:
                # A whole head, then the body a byte a second.
                writer.write(b"POST /v1/contacts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + tokens_referrer.encode() + b"\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n")
                while not stop.is_set() and not reader.at_eof():
                    writer.write(b" ")
                    await writer.drain()
                    await asyncio.sleep(1)
            else:
                # One request, then idle on the kept-alive connection.
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                await writer.drain()
                while not stop.is_set() and await asyncio.wait_for(reader.read(4096), 3600):
                    pass
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            Held.open -= 1
            Held.reconnects += 1
            writer.close()
        await asyncio.sleep(0.05)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else float("nan")


async def measure(host, port, tokens, contact, seconds, stop):
    results = {"healthz": ([], [0]), "append": ([], [0])}
    held = []

    async def one(kind, raw, expect):
        times, errors = results[kind]
        try:
            status, _, elapsed = await asyncio.wait_for(request(host, port, raw), 10)
            if status == expect:
                times.append(elapsed)
            else:
                errors[0] += 1
        except (OSError, asyncio.TimeoutError, IndexError, ValueError):
            errors[0] += 1

    health = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    tasks = []
    begin = time.perf_counter()
    tick = 0
    while time.perf_counter() - begin < seconds:
        tick += 1
        note = post(f"/v1/contacts/{contact}/events", tokens["practitioner"],
                    {"type": "note_added", "data": {"text": f"note {tick}"}})
        tasks.append(asyncio.create_task(one("healthz", health, 200)))
        tasks.append(asyncio.create_task(one("append", note, 201)))
        if tick % 20 == 0:
            held.append(Held.open)
        await asyncio.sleep(max(0.0, begin + tick / 20 - time.perf_counter()))
    await asyncio.gather(*tasks)
    stop.set()
    return results, held


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "frontdoor"))
    parser.add_argument("--slow", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=45)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.slow + 1000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.slow + 1000), hard))
    with tempfile.TemporaryDirectory(prefix="frontdoor-slow-") as data_dir:
        tokens = {role: token(args.binary, data_dir, role, f"slow-{role}", agency)
                  for role, agency in [("referrer", "education"), ("practitioner", "childrens_social_care")]}
        server, host, port = start(args.binary, data_dir)
        try:
            contact_body = {
                "channel": "phone", "source": "2A",
                "referrer": {"name": "Jo Teacher", "organisation": "Hillside Primary", "role": "DSL"},
                "children": [{"name": "Sam Example", "date_of_birth": "2017-05-04", "sex": "M"}],
                "concerns": "Load test contact.", "consent": "given"}
            status, body, _ = await request(host, port, post("/v1/contacts", tokens["referrer"], contact_body))
            if status != 201:
                sys.exit(f"slow-clients: could not create a contact: {status} {body[:200]!r}")
            contact = json.loads(body)["contact_id"]
            stop = asyncio.Event()
            slow = [asyncio.create_task(slow_client(host, port, i % 3, stop, tokens["referrer"])) for i in range(args.slow)]
            for _ in range(100):
                if Held.open >= args.slow:
                    break
                await asyncio.sleep(0.1)
            print(f"{Held.open} slow connections open; measuring for {args.seconds} s", flush=True)
            results, held = await measure(host, port, tokens, contact, args.seconds, stop)
            await asyncio.wait(slow, timeout=5)
            for kind, (times, errors) in results.items():
                print(f"{kind}: {len(times) + errors[0]} requests, {errors[0]} errors, "
                      f"p50 {percentile(times, 0.5):.1f} ms, p99 {percentile(times, 0.99):.1f} ms, "
                      f"max {max(times) * 1000 if times else float('nan'):.1f} ms")
            print(f"slow connections held while measuring: min {min(held)}, max {max(held)}; "
                  f"{Held.reconnects} reconnections after the server closed one")
        finally:
            server.terminate()
            try:
                code = server.wait(timeout=20)
                print(f"server exit after SIGTERM: {code}")
            except subprocess.TimeoutExpired:
                server.kill()
                print("server did not exit within 20 s of SIGTERM")


if __name__ == "__main__":
    asyncio.run(main())
