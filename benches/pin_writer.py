#!/usr/bin/env python3
"""Runs a one-writer command with its writer held on one CPU, so that two
engines' tail latencies can be compared at the same placement.

    python3 benches/pin_writer.py 1 target/release/lsm bench --in-process \
        --engine lsm-async --benchmarks fillrandom --no-probe

The command's main thread (the writer of `lsm bench --in-process`'s
single-threaded fills, and of `put_latency_trace`) is set to CPU `CPU`
before it starts anything. Threads it starts inherit that, so every other
thread of the process is set back to all of this process's CPUs within
20 ms of appearing (RocksDB starts its background threads at its first
flush, from the writer's thread). The command writes to this script's
output; its exit status is this script's.

Why: on the development VM every interrupt costs the thread it lands on
15-50 us, and the disk's completion interrupts all go to one CPU, so a
fill's p99.9 depends on the CPU the scheduler put its writer on
(docs/async.md, "The p99.9 of a fill: interrupts").
"""
import os
import subprocess
import sys
import time

POLL_SECONDS = 0.02


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    writer_cpu = int(sys.argv[1])
    every_cpu = os.sched_getaffinity(0)
    if writer_cpu not in every_cpu:
        sys.exit(f"CPU {writer_cpu} is not one of this process's CPUs {sorted(every_cpu)}")
    child = subprocess.Popen(sys.argv[2:])
    os.sched_setaffinity(child.pid, {writer_cpu})
    freed = set()
    while child.poll() is None:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{child.pid}/task")]
        except FileNotFoundError:
            break
        for tid in tids:
            if tid != child.pid and tid not in freed:
                try:
                    os.sched_setaffinity(tid, every_cpu)
                    freed.add(tid)
                except OSError:
                    pass  # the thread already exited
        time.sleep(POLL_SECONDS)
    sys.exit(child.wait())


if __name__ == "__main__":
    main()
