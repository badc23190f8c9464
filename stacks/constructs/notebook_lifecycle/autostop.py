"""Stop this SageMaker notebook instance once Jupyter has been idle for the configured minutes.

Installed by the on-start lifecycle script and run by a systemd timer on the first interpreter that imports
boto3 (the instance's JupyterSystemEnv; Amazon Linux 2023's own python3 has none). Standard library plus boto3,
so nothing is downloaded at start-up. Keep to what Python 3.9 runs.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

JUPYTER_SESSIONS_URL = "https://localhost:8443/api/sessions"
# On tmpfs: a stop clears it, so a new start never inherits an old "idle since".
STATE_FILE = Path("/run/mysfits-autostop/idle-since")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def latest_activity(sessions: list[dict]) -> tuple[bool, datetime | None]:
    """(any kernel busy, most recent kernel activity) from Jupyter's /api/sessions answer."""
    busy = False
    latest = None
    for session in sessions:
        kernel = session.get("kernel") or {}
        if kernel.get("execution_state") == "busy":
            busy = True
        if kernel.get("last_activity"):
            activity = parse_time(kernel["last_activity"])
            latest = activity if latest is None or activity > latest else latest
    return busy, latest


def idle_since(sessions: list[dict], now: datetime, previous: datetime | None) -> datetime | None:
    """When the instance became idle, or None while it is in use."""
    busy, latest = latest_activity(sessions)
    if busy:
        return None
    candidates = [moment for moment in (latest, previous) if moment is not None]
    return max(candidates) if candidates else now


def should_stop(idle_start: datetime | None, now: datetime, idle_minutes: int) -> bool:
    return idle_start is not None and now - idle_start >= timedelta(minutes=idle_minutes)


def fetch_sessions(url: str = JUPYTER_SESSIONS_URL) -> list[dict]:
    # Jupyter on the instance serves a self-signed certificate on localhost only.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url, context=context, timeout=10) as response:  # noqa: S310 - fixed localhost URL
        return json.load(response)


def stop_instance(name: str, region: str) -> None:
    import boto3  # the on-start script chose an interpreter that has it

    boto3.client("sagemaker", region_name=region).stop_notebook_instance(NotebookInstanceName=name)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-minutes", type=int, required=True)
    parser.add_argument("--notebook-name", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--jupyter-url", default=JUPYTER_SESSIONS_URL, help=argparse.SUPPRESS)
    parser.add_argument("--state-file", type=Path, default=STATE_FILE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    state_file: Path = args.state_file

    now = datetime.now(timezone.utc)
    try:
        sessions = fetch_sessions(args.jupyter_url)
    except (OSError, ValueError) as error:
        # Exit 1 so the unit shows as failed in systemd, not a quiet success while nothing can ever stop.
        print(f"autostop: ERROR: Jupyter's sessions API not readable ({error}); cannot tell idleness, not stopping")
        return 1
    previous = parse_time(state_file.read_text().strip()) if state_file.exists() else None
    idle_start = idle_since(sessions, now, previous)
    if idle_start is None:
        state_file.unlink(missing_ok=True)
        print("autostop: a kernel is busy")
        return 0
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(idle_start.isoformat())
    if should_stop(idle_start, now, args.idle_minutes):
        print(f"autostop: idle since {idle_start.isoformat()}; stopping {args.notebook_name}")
        try:
            stop_instance(args.notebook_name, args.region)
        except Exception as error:  # any failure must reach the journal as one line, with exit 1
            print(f"autostop: ERROR: could not stop {args.notebook_name}: {type(error).__name__}: {error}")
            return 1
    else:
        print(f"autostop: idle since {idle_start.isoformat()}; limit {args.idle_minutes} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
