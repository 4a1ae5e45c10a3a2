#!/usr/bin/env python3
"""Where each slow put of a `put_latency_trace` run went, from the scheduler's
trace of the same run.

    perf record -a -k CLOCK_MONOTONIC -e sched:sched_switch \
        -e sched:sched_waking -e sched:sched_stat_runtime -o sched.data -- \
        target/release/examples/put_latency_trace 1000000 async 1000 > trace.txt
    perf script -i sched.data -F comm,tid,cpu,time,event,trace > sched.txt
    python3 benches/slow_put_causes.py trace.txt sched.txt

Each put the trace lists (those over its threshold) is split into:
- asleep: the writer thread blocked (inside the store) until something woke it;
- queued: runnable, while the CPU it waited on ran another task (named);
- vcpu: runnable on an idle virtual CPU the host had not run yet, or on CPU
  while the guest's scheduler credited it no run time (the host took the
  virtual CPU: steal);
- running: on CPU and credited.
Each put is named by its largest share. The writer is the thread of
`put_latency_trace` with the most events. Events perf lost are bridged: a
thread is taken to be running from its first event after a switch-out.
"""
import bisect
import collections
import re
import sys

EVENT = re.compile(r'^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
SWITCH = re.compile(r'prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)')


def task_label(comm):
    """A task's name, without a kernel worker's CPU and queue numbers."""
    comm = comm.strip()
    if comm.startswith(('kworker', 'swapper')):
        return re.sub(r'[/:].*$', '', comm)
    return comm


def overlap(a, b, s, e):
    return max(0.0, min(b, e) - max(a, s))


def main(trace_path, sched_path):
    lines = open(trace_path).read().splitlines()
    start = float(re.search(r'timeline starts at ([\d.]+) s', lines[0]).group(1))
    puts = []
    for line in lines:
        m = re.match(r'\s*([\d.]+) ms\s+PUT\s+([\d.]+) us', line)
        if m:
            puts.append((float(m.group(1)) / 1e3, float(m.group(2)) / 1e6))
    events = []
    for line in open(sched_path):
        m = EVENT.match(line)
        if m:
            comm, tid, cpu, t, name, rest = m.groups()
            events.append((float(t), int(cpu), int(tid), comm, name, rest))
    events.sort(key=lambda ev: ev[0])
    writer = collections.Counter(
        ev[2] for ev in events if ev[3].startswith('put_latency')).most_common(1)[0][0]

    runs = collections.defaultdict(list)  # cpu -> [(from, to, task)]
    current = {}                          # cpu -> (task, since)
    switched_out = []                     # the writer's: (t, state, cpu)
    wakings = []                          # the writer's: (t, target cpu)
    seen = []                             # times the writer is known to run
    credited = []                         # the writer's (t, run time ns)
    for t, cpu, tid, comm, name, rest in events:
        if tid == writer:
            seen.append(t)
        if name == 'sched:sched_switch':
            prev, state, next_comm, nxt = SWITCH.search(rest).groups()
            if cpu in current:
                runs[cpu].append((current[cpu][1], t, current[cpu][0]))
            current[cpu] = ('idle' if nxt == '0' else task_label(next_comm), t)
            if int(prev) == writer:
                switched_out.append((t, state[0], cpu))
            if int(nxt) == writer:
                seen.append(t)
        elif name == 'sched:sched_waking' and f'pid={writer} ' in rest:
            wakings.append((t, int(re.search(r'target_cpu=(\d+)', rest).group(1))))
        elif name == 'sched:sched_stat_runtime' and tid == writer:
            credited.append((t, int(re.search(r'runtime=(\d+)', rest).group(1))))
    end = events[-1][0]
    for cpu, (task, since) in current.items():
        runs[cpu].append((since, end, task))
    seen.sort()

    offs = []  # (switched out, state, woken, cpu it waited on, back on CPU)
    for t, state, cpu in switched_out:
        i = bisect.bisect_right(seen, t)
        back = seen[i] if i < len(seen) else end
        woken, target = t, cpu
        if state != 'R':
            woken, target = next(((w, c) for w, c in wakings if t < w < back), (t, cpu))
        offs.append((t, state, woken, target, back))

    causes = collections.defaultdict(list)
    for at, took in puts:
        s, e = start + at, start + at + took
        share = collections.Counter()
        behind = collections.Counter()
        off = 0.0
        for t, state, woken, target, back in offs:
            if back < s or t > e:
                continue
            share['asleep'] += overlap(t, woken, s, e)
            for a, b, task in runs[target]:
                x = overlap(max(a, woken), min(b, back), s, e)
                if x > 0 and task == 'idle':
                    share['vcpu'] += x
                elif x > 0 and not task.startswith('put_latency'):
                    share['queued'] += x
                    behind[task] += x
            off += overlap(t, back, s, e)
        on = took - off
        before = [c for c in credited if c[0] <= s]
        after = [c for c in credited if c[0] >= e]
        uncredited = 0.0
        if before and after and on > 0:
            a, b = before[-1][0], after[0][0]
            ran = sum(ns for t, ns in credited if a < t <= b) / 1e9
            off_ab = sum(overlap(t, back, a, b) for t, _, _, _, back in offs)
            uncredited = max(0.0, min(on, (b - a) - off_ab - ran))
        share['vcpu'] += uncredited
        share['running'] += max(0.0, on - uncredited)
        cause = max(share, key=share.get)
        if cause == 'queued':
            cause = f'queued behind {behind.most_common(1)[0][0]}'
        causes[cause].append(took)
        print(f'{at * 1e3:10.3f} ms {took * 1e3:7.3f} ms  {cause:32s} ' +
              ' '.join(f'{k} {v * 1e3:.2f}' for k, v in share.items() if v > 5e-6))
    print('by cause:')
    for cause, took in sorted(causes.items(), key=lambda c: -len(c[1])):
        print(f'  {cause:32s} {len(took):4d} puts, {min(took) * 1e3:.2f}-{max(took) * 1e3:.2f} ms')


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: slow_put_causes.py PUT_LATENCY_TRACE_OUTPUT PERF_SCRIPT_OUTPUT')
    main(sys.argv[1], sys.argv[2])
