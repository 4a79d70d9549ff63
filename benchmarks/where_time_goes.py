"""Where a bench's CPU goes: run any script under cProfile, clocked by process time.

The "where the time goes" paragraphs of benchmarks/README.md (a load's steps, the hit
loader, a daily workbook, UsersFlow) are profiles of one bench run: this script is how to
take them again. It runs SCRIPT with its arguments as ``__main__`` under ``cProfile`` with
``time.process_time`` as the clock (so other processes on a busy machine do not count),
then prints the load average before and after and the functions with the most cumulative
and own CPU time.

    PYTHONPATH=src python benchmarks/where_time_goes.py [--top 25] SCRIPT [ARGS...]
    PYTHONPATH=src python benchmarks/where_time_goes.py benchmarks/load_bench.py --rows 100000
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import runpy
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=25, help="functions shown per ordering")
    parser.add_argument("--out", help="also write the raw profile here (for snakeviz etc.)")
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    profiler = cProfile.Profile(time.process_time)
    sys.argv = [options.script, *options.args]
    started = time.process_time()
    profiler.enable()
    try:
        runpy.run_path(options.script, run_name="__main__")
    except SystemExit as stop:  # a bench that ends with sys.exit(code) is still profiled
        if stop.code not in (None, 0):
            print(f"(the script exited with {stop.code})")
    finally:
        profiler.disable()
    spent = time.process_time() - started
    print(f"load average after: {os.getloadavg()[0]:.2f}; {spent:.2f} CPU s in all")
    stats = pstats.Stats(profiler)
    if options.out:
        stats.dump_stats(options.out)
    for order in ("cumulative", "tottime"):
        print(f"\n== by {order} CPU time")
        stats.sort_stats(order).print_stats(options.top)


if __name__ == "__main__":
    main()
