"""What starting `alertbot` costs: wall time of `alertbot --help` (a fresh process each time,
median of N) and the heavy libraries each entry point imports, against the code before the
commands imported lazily, measured in the same run.

    python benchmarks/startup.py [--runs 5] [--baseline REV]

The baseline is the tree at REV (default: the commit before the lazy imports), unpacked from
git into a temporary folder; without git it is skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "1ce5180^"  # the last tree whose `alertbot --help` imported pandas and matplotlib
HEAVY = ("pandas", "numpy", "matplotlib", "chdb", "aiogram", "aiohttp", "aiochclient",
         "statsmodels", "scipy", "pydantic")  # fmt: skip

# Runs an entry point in this process, then names the heavy libraries it left in sys.modules.
PROBE = """
import sys
{body}
heavy = {heavy!r}
print(" ".join(sorted(m for m in heavy if m in sys.modules)) or "none")
"""
ENTRIES = {
    "alertbot --help": "from bot.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
                       "    pass",
    "alertbot check --json (ClickHouse source, unreachable)":
        "import contextlib, io\nfrom bot.cli import main\n"
        "with contextlib.redirect_stderr(io.StringIO()):\n    main(['check', '--json'])",
    "bot start-up (import bot.app)": "import bot.app",
}  # fmt: skip


def env_for(tree: Path) -> dict[str, str]:
    """This tree's code, an unreachable ClickHouse, a state file in the run's own folder."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "BOT_"))}
    return {**base, "PYTHONPATH": str(tree), "CLICKHOUSE_URL": "http://127.0.0.1:9",
            "CLICKHOUSE_TIMEOUT": "2", "STATE_PATH": os.environ["STARTUP_BENCH_STATE"]}  # fmt: skip


def help_seconds(tree: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot", "--help"], env=env_for(tree), cwd=tree,
                       capture_output=True, check=True)  # fmt: skip
        times.append(time.perf_counter() - started)
    return times


def heavy_of(tree: Path, body: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE.format(body=body, heavy=HEAVY)],
                          env=env_for(tree), cwd=tree, capture_output=True, text=True,
                          check=False, timeout=120)  # fmt: skip
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else f"(failed: {done.stderr.strip().splitlines()[-1:]})"


def baseline_tree(rev: str, folder: Path) -> Path | None:
    """The tree at `rev` unpacked into `folder`, or None when git cannot give it."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True,
                                 check=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", default=BASELINE, help=f"git revision (default {BASELINE})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STARTUP_BENCH_STATE"] = str(Path(tmp) / "state.sqlite3")
        (Path(tmp) / "tree").mkdir()
        old = baseline_tree(args.baseline, Path(tmp) / "tree")
        trees = [("now", ROOT)] + ([(f"before ({args.baseline})", old)] if old else [])
        medians = {}
        # Interleaved, so that a busy machine slows both sides alike.
        samples: dict[str, list[float]] = {name: [] for name, _ in trees}
        for _ in range(args.runs):
            for name, tree in trees:
                samples[name] += help_seconds(tree, 1)
        print(f"`alertbot --help`, wall time, median of {args.runs} fresh processes:")
        for name, _ in trees:
            medians[name] = statistics.median(samples[name])
            print(f"  {name:<24} {medians[name]:6.3f} s   (min {min(samples[name]):.3f} s)")
        if old:
            print(f"  ratio before / now: {medians[trees[1][0]] / medians['now']:.1f}x")
        else:
            print("  (no baseline: git cannot give the old tree)")
        print("\nheavy libraries imported:")
        for entry, body in ENTRIES.items():
            print(f"  {entry}")
            for name, tree in trees:
                print(f"    {name:<22} {heavy_of(tree, body)}")


if __name__ == "__main__":
    main()
