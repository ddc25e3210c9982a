"""Prints a line for each trial the benchmark records, as it records it (scripts/bench runs it in the background).

Watches --results for new record files (tests/bench/steps/record.yml writes one per trial) and prints each
one's `progress` line, or else its first record's figure and value. Stops on SIGTERM (after a last look) or
when the process --parent is gone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

STOP = {"asked": False}


def stop(_signum: int, _frame: object) -> None:
    STOP["asked"] = True


def line(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # still being written: read it next time
    if isinstance(data, dict) and data.get("progress"):
        return " ".join(str(data["progress"]).split())
    records = data["records"] if isinstance(data, dict) else data
    if not records:
        return ""
    first = records[0]
    return f"{first['section']}: {first['figure']}: {first['value']} {first.get('unit') or ''}".rstrip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stop)
    seen: set[str] = set()
    while True:
        last = STOP["asked"]
        for path in sorted(args.results.glob("*.json")):
            if path.name in seen:
                continue
            text = line(path)
            if text is None:
                continue
            seen.add(path.name)
            if text:
                print(f"  {time.strftime('%H:%M:%S')} {text}", flush=True)
        if last:
            return 0
        try:
            os.kill(args.parent, 0)
        except OSError:
            return 0
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
