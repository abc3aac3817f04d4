"""Where a list's first page spends its time: ours next to stock Flask-Admin and the hand-written page (bench only).

    APP_ENV=development python -m bench.page_profile --db sqlite:///instance/bench_scale_1.db --reps 41
    APP_ENV=development python -m bench.page_profile --db ... --profile meeting      # cProfile of our page

The three pages are requested in the same loop, one after the other (the machine is shared: its load hits all
three alike), in one process through the Flask test client; the table shows the medians and the ratios, and the
load average before and after.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import time

from bench.handwritten import create_handwritten_app
from bench.run import SCREENS, login, panel_app
from bench.scale import reuse
from bench.stock import create_stock_app

#: The clock: wall time (what a user waits), or with --cpu this thread's CPU time (what the page costs the
#: process, far less disturbed by other processes on a loaded machine; SQLite runs in-process and counts,
#: PostgreSQL's own work does not).
CLOCK = time.perf_counter


def _get(client, url: str) -> float:
    started = CLOCK()
    response = client.get(url)
    elapsed = CLOCK() - started
    assert response.status_code == 200, (url, response.status_code)
    return elapsed


def compare(url: str, reps: int, screens: list[str]) -> dict:
    info = reuse(url)
    agency = info["agencies"][0]
    ours = panel_app(url).test_client()
    login(ours, agency["admin"])
    stock = create_stock_app(url).test_client()
    hand = create_handwritten_app(url, agency["id"]).test_client()
    pages = {s: ((ours, f"/admin/{s}/"), (stock, f"/stock/{s}/"), (hand, f"/hand/{s}/")) for s in screens}
    times = {s: ([], [], []) for s in screens}
    for s in screens:  # warm-up: templates compiled, caches filled
        for client, path in pages[s]:
            _get(client, path)
            _get(client, path)
    for _ in range(reps):
        for s in screens:
            for i, (client, path) in enumerate(pages[s]):
                times[s][i].append(_get(client, path))
    return {s: tuple(statistics.median(t) * 1000 for t in times[s]) for s in screens}


def profile(url: str, screen: str, reps: int, sort: str, lines: int) -> None:
    info = reuse(url)
    client = panel_app(url).test_client()
    login(client, info["agencies"][0]["admin"])
    for _ in range(3):
        _get(client, f"/admin/{screen}/")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(reps):
        _get(client, f"/admin/{screen}/")
    profiler.disable()
    pstats.Stats(profiler).sort_stats(sort).print_stats(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--reps", type=int, default=31)
    parser.add_argument("--screens", default=",".join(SCREENS))
    parser.add_argument("--profile", help="a screen: print cProfile's view of our page instead")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--lines", type=int, default=60)
    parser.add_argument("--cpu", action="store_true", help="time with this thread's CPU time, not wall time")
    args = parser.parse_args()
    global CLOCK
    if args.cpu:
        CLOCK = time.thread_time
    if args.profile:
        profile(args.db, args.profile, args.reps, args.sort, args.lines)
        return
    load_before = os.getloadavg()
    result = compare(args.db, args.reps, args.screens.split(","))
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1 min); reps {args.reps}; "
          f"{'CPU' if args.cpu else 'wall'} time")
    print("| lista | nosso ms | fábrica ms | à mão ms | nosso/à mão | nosso/fábrica |")
    print("|---|---:|---:|---:|---:|---:|")
    for screen, (ours, stock, hand) in result.items():
        print(f"| {screen} | {ours:.2f} | {stock:.2f} | {hand:.2f} | {ours / hand:.1f}× | {ours / stock:.2f}× |")


if __name__ == "__main__":
    main()
