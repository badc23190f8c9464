"""Open-loop load and connection bursts against a local server, from one asyncio client.

Open loop: request i is sent at start + i/rate whether or not earlier ones were answered, on an idle
keep-alive connection or a new one, and its latency counts from that scheduled time, so a stalled server
cannot hide its queue. Each reply is sorted into an outcome: ``ok`` (200), ``shed`` (503 with Retry-After),
``late`` (answered after the deadline), ``timeout``, ``reset`` (connection refused, reset or closed early)
and ``HTTP <status>`` for anything else.
"""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

from mysfits.settings import api_path

REQUEST_BODY = b'{"entry": [1, 2, 3, 4, 5]}'
HARD_TIMEOUT_S = 10.0


def api_request(port: int) -> bytes:
    return (
        f"POST {api_path()} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(REQUEST_BODY)}\r\n\r\n"
    ).encode() + REQUEST_BODY


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> tuple[int, dict]:
    """Send one request; read one reply (Content-Length framed). Returns status and lower-cased headers."""
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers


def _outcome(status: int, headers: dict, latency_s: float, deadline_s: float) -> str:
    if latency_s > deadline_s:
        return "late"
    if status == 200:
        return "ok"
    if status == 503 and headers.get("retry-after"):
        return "shed"
    return f"HTTP {status}"


async def _open_loop(port: int, rate: int, seconds: float, deadline_s: float) -> dict:
    loop = asyncio.get_running_loop()
    payload = api_request(port)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    outcomes: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    peak_open = 0
    open_count = 0

    async def one(scheduled: float) -> None:
        nonlocal open_count, peak_open
        connection = None
        try:
            async with asyncio.timeout(HARD_TIMEOUT_S):
                while idle and idle[-1][0].at_eof():  # closed by the server while idle: not reusable
                    idle.pop()[1].close()
                    open_count -= 1
                if idle:
                    connection = idle.pop()
                else:
                    connection = await asyncio.open_connection("127.0.0.1", port)
                    open_count += 1
                    peak_open = max(peak_open, open_count)
                status, headers = await _exchange(*connection, payload)
        except TimeoutError:
            outcomes["timeout"] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            outcomes["reset"] += 1
        else:
            latency = loop.time() - scheduled
            latencies.append(latency)
            outcomes[_outcome(status, headers, latency, deadline_s)] += 1
            if headers.get("connection", "").lower() != "close":
                idle.append(connection)
                return
        if connection is not None:
            connection[1].close()
            open_count -= 1

    start = loop.time() + 0.2
    total = int(rate * seconds)
    tasks = []
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(scheduled)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    latencies.sort()
    return {
        "rate_rps": rate,
        "seconds": seconds,
        "requests": total,
        "outcomes": dict(outcomes),
        "errors": total - outcomes["ok"],
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else None,
        "max_ms": latencies[-1] * 1000 if latencies else None,
        "peak_connections": peak_open,
    }


def open_loop(port: int, rate: int, seconds: float, deadline_s: float = 2.0) -> dict:
    return asyncio.run(_open_loop(port, rate, seconds, deadline_s))


async def _burst(port: int, connections: int, within_s: float) -> dict:
    """``connections`` clients connect at once and each sends one valid request."""
    loop = asyncio.get_running_loop()
    payload = api_request(port)
    outcomes: collections.Counter[str] = collections.Counter()
    started = loop.time()
    answered_at: list[float] = []

    async def one() -> None:
        writer = None
        try:
            async with asyncio.timeout(within_s):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                status, headers = await _exchange(reader, writer, payload)
        except TimeoutError:
            outcomes["timeout"] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            outcomes["reset"] += 1
        else:
            answered_at.append(loop.time() - started)
            outcomes[_outcome(status, headers, 0.0, within_s)] += 1
        finally:
            if writer is not None:
                writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return {
        "connections": connections,
        "within_s": within_s,
        "answered": len(answered_at),
        "outcomes": dict(outcomes),
        "all_answered_s": max(answered_at) if len(answered_at) == connections else None,
    }


def burst(port: int, connections: int = 1000, within_s: float = 10.0) -> dict:
    return asyncio.run(_burst(port, connections, within_s))


def rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux /proc), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def measure_overload(port: int, pid: int, rate: int, seconds: float, settle_s: float = 5.0) -> dict:
    """Open-loop overload plus the server's memory before, at the end, and after ``settle_s`` of quiet."""
    before = rss_mib(pid)
    result = open_loop(port, rate, seconds)
    during = rss_mib(pid)
    time.sleep(settle_s)
    after = rss_mib(pid)
    return {**result, "rss_start_mib": before, "rss_end_mib": during, "rss_after_mib": after}
