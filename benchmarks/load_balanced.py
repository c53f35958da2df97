"""Classroom load through the load balancer of ``scripts/serve_class.sh``: do sessions stick?

    scripts/serve_class.sh 2 &        # two replicas behind nginx on :8600
    python3 benchmarks/load_balanced.py --url http://127.0.0.1:8600 [--sessions 6]
        [--seconds 40] [--dwell 8] [--json out.json]

Each simulated student does what a browser does: a first ``GET /`` without cookies (nginx picks
a replica and sets the ``ssl_explorer_replica`` cookie; its ``X-SSL-Explorer-Replica`` header
names the replica), then the websocket ``/_stcore/stream`` with that cookie, then
``benchmarks/load_test.py``'s slider workload (every page in turn, a random slider at a time)
for ``--seconds``, then a last ``GET /`` with the cookie. A session is *sticky* when the
websocket's handshake and the last request name the replica of its first request.

Prints the sessions per replica, how many stuck, the errors and the rerun latencies (p50 / p95
/ max); exits 1 on any error or a session that did not stick.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load_test  # noqa: E402  (benchmarks/load_test.py)

REPLICA_HEADER = "X-SSL-Explorer-Replica"


def first_request(url: str, cookie: str = "") -> tuple[str, str]:
    """``GET url`` -> (the replica that answered, the sticky cookie it set or was sent)."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=60) as answer:
        replica = answer.headers.get(REPLICA_HEADER, "")
        set_cookie = answer.headers.get("Set-Cookie", "")
    return replica, cookie or set_cookie.split(";", 1)[0]


class CookieSession(load_test.Session):
    """A load-test session whose websocket carries the sticky cookie; remembers the replica
    named by the handshake."""

    def __init__(self, ws_url: str, cookie: str, *, timeout: float) -> None:
        super().__init__(ws_url, timeout=timeout)
        self.cookie, self.replica = cookie, ""

    async def connect(self) -> None:
        import websockets

        self.ws = await websockets.connect(
            self.ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=self.timeout,
            ping_interval=None, additional_headers={"Cookie": self.cookie})
        self.replica = self.ws.response.headers.get(REPLICA_HEADER, "")


async def student(url: str, index: int, args: argparse.Namespace) -> dict[str, Any]:
    """One browser: first request, websocket, slider workload, last request."""
    out: dict[str, Any] = {"index": index, "runs": [], "errors": []}
    try:
        out["replica"], cookie = await asyncio.to_thread(first_request, url + "/")
        ws_url = url.replace("http", "ws", 1) + "/_stcore/stream"
        session = CookieSession(ws_url, cookie, timeout=args.timeout)
        await session.connect()
        out["ws_replica"] = session.replica
        first = await session.open("")
        runs = [first]
        pages = load_test.page_variants(sorted(session.pages))
        rng = random.Random(args.seed * 1000 + index)
        end = time.perf_counter() + args.seconds
        where = index % len(pages)
        while time.perf_counter() < end:
            page, query = pages[where]
            runs.append(await session.open(page, query))
            page_end = min(end, time.perf_counter() + args.dwell)
            while time.perf_counter() < page_end:
                sliders = session.sliders()
                if sliders:
                    session.set_slider(rng.choice(sliders), rng)
                runs.append(await session.rerun())
                await asyncio.sleep(rng.uniform(0.2, 0.8))
            where = (where + 1) % len(pages)
        await session.close()
        out["last_replica"], _ = await asyncio.to_thread(first_request, url + "/", cookie)
        out["runs"] = runs
        out["errors"] = [e for r in runs for e in r.errors]
    except Exception as error:  # a refused or dropped connection is an error we report
        out["errors"].append(f"session {index}: {error!r}")
    out["sticky"] = bool(out.get("replica")) and (
        out.get("replica") == out.get("ws_replica") == out.get("last_replica"))
    return out


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    return await asyncio.gather(*(student(args.url.rstrip("/"), i, args)
                                  for i in range(args.sessions)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8600")
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--dwell", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    students = asyncio.run(run(args))
    wall = time.perf_counter() - start
    per_replica: dict[str, int] = {}
    for s in students:
        per_replica[s.get("replica") or "?"] = per_replica.get(s.get("replica") or "?", 0) + 1
    runs = [r for s in students for r in s["runs"]]
    errors = [e for s in students for e in s["errors"]]
    summary = load_test.summarise(runs)
    sticky = sum(s["sticky"] for s in students)
    print(f"{args.sessions} sessions through {args.url} for {args.seconds:g} s "
          f"({wall:.0f} s wall)")
    print("sessions per replica: " + ", ".join(f"{k}: {v}" for k, v in sorted(per_replica.items())))
    print(f"sticky (first request, websocket and last request on one replica): "
          f"{sticky} of {len(students)}")
    print(f"reruns: {summary['reruns']}, p50 {summary['p50_ms']:.0f} ms, "
          f"p95 {summary['p95_ms']:.0f} ms, max {summary['max_ms']:.0f} ms")
    print(f"errors: {len(errors)}")
    for error in errors[:20]:
        print(f"  {error}")
    if args.json:
        args.json.write_text(json.dumps(dict(
            url=args.url, sessions=args.sessions, seconds=args.seconds, wall_s=wall,
            per_replica=per_replica, sticky=sticky, summary=summary, errors=errors),
            indent=1, default=str))
    return 0 if not errors and sticky == len(students) else 1


if __name__ == "__main__":
    sys.exit(main())
