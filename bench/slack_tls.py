"""What a call to Slack costs over TLS: slack_sdk's plain WebClient (a new connection, so a
TCP and a TLS handshake, for every call) against Amends' client (bot.slack_http: one kept
connection per thread), in the same run, against the fake Slack served over TLS with the
tests' certificate for 127.0.0.1 (tests/bot/tls), checked against their CA.

    python bench/slack_tls.py [--calls 1600] [--threads 8]

Prints calls per second and CPU per call (the client and the fake share this process, as
both ends of a handshake pay for it). On localhost a round trip is free; against slack.com
each handshake also costs its round trips (two before the request can go), which this
leaves out: the figures are the floor of what a kept connection saves.
"""

from __future__ import annotations

import argparse
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402

from bot.messaging import make_client  # noqa: E402
from bot.sandbox.fake_slack import FakeSlack  # noqa: E402

TLS = ROOT / "tests" / "bot" / "tls"
TARGET = 2.0  # the kept connection at least this many times the plain client's calls/s


def measure(client: WebClient, calls: int, threads: int) -> tuple[float, float]:
    """(calls per second, CPU milliseconds per call) for `calls` posts from `threads`."""
    def loop(n: int) -> None:
        for _ in range(calls // threads):
            client.chat_postMessage(channel=f"C0TLS{n}", text="a line of text")

    cpu, started = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(loop, range(threads)))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    done = calls // threads * threads
    return done / wall, cpu / done * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1600)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(TLS / "localhost.pem", TLS / "localhost.key")
    fake = FakeSlack(tls=served).start()
    url = fake.url
    trusted = ssl.create_default_context(cafile=str(TLS / "ca.pem"))  # still checked
    try:
        plain = WebClient(token="xoxb-bench-token-00", base_url=url, ssl=trusted, timeout=10)
        amends = make_client(token="xoxb-bench-token-00", base_url=url)
        amends.ssl = trusted
        measure(amends, args.threads * 4, args.threads)  # warm up: imports, first handshakes
        results = {}
        for name, client in (("plain WebClient", plain), ("amends (kept connections)", amends)):
            before = fake.connections
            per_s, cpu = measure(client, args.calls, args.threads)
            results[name] = per_s
            print(f"{name:<28}{per_s:>8.0f} calls/s {cpu:>6.2f} ms CPU per call "
                  f"{fake.connections - before:>6} connections opened")
    finally:
        fake.stop()
    ratio = results["amends (kept connections)"] / results["plain WebClient"]
    print(f"kept connections / plain: {ratio:.2f}x calls/s (target at least {TARGET}x), over "
          f"TLS on localhost, {args.threads} threads")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
