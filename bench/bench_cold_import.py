"""Cold import of function_app against a bare `import azure.functions` (target ratio <= 1.3x).

Each import runs in a fresh interpreter, many times alternately; the medians are compared."""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 15


def cold(statement: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True)
    return time.perf_counter() - start


def main() -> None:
    bare, app, empty = [], [], []
    for _ in range(RUNS):
        empty.append(cold("pass"))
        bare.append(cold("import azure.functions"))
        app.append(cold("import function_app"))
    base = statistics.median(empty)
    bare_s, app_s = statistics.median(bare), statistics.median(app)
    print(f"interpreter start alone:       {base * 1000:.0f} ms")
    print(f"import azure.functions:        {bare_s * 1000:.0f} ms")
    print(f"import function_app:           {app_s * 1000:.0f} ms")
    print(f"ratio (wall, incl. start):     {app_s / bare_s:.2f}x (target <= 1.3x)")
    print(f"ratio (import time only):      {(app_s - base) / (bare_s - base):.2f}x")


if __name__ == "__main__":
    main()
