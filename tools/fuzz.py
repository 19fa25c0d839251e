"""Fuzz every public fastconv function: N cases from SEED, in child processes.

    python tools/fuzz.py N SEED [--batch B] [--jobs J] [--function NAME] [--save FILE]
    python tools/fuzz.py --replay SEED INDEX
    python tools/fuzz.py --load FILE

Case ``INDEX`` of run ``SEED`` is drawn by the generators of
``tests/_fuzz_cases.py`` (the ones ``tests/test_fuzz.py`` runs under
Hypothesis) from ``numpy.random.default_rng([SEED, INDEX])``, so every case
can be replayed alone. The cases run in batches of B, each batch in a child
process: a crash (signal, abort) or a hang (a case running longer than
``--case-timeout`` seconds) ends the child, is counted against the case it
was running, and a new child goes on with the rest of the batch. The tally
at the end counts the cases by what happened (`KINDS`) and prints, for
every distinct failure, how often it happened and the reproducers of its
first cases (the replay command and the drawn call).
"""

import argparse
import collections
import concurrent.futures
import faulthandler
import json
import os
import re
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")
MARK = "@@fuzz "


def _cases_module():
    sys.path.insert(0, TESTS)
    import _fuzz_cases

    return _fuzz_cases


def _draw(fz, seed, index, function):
    import numpy as np

    return fz.draw_case(fz.RandomChooser(np.random.default_rng([seed, index])), function)


def worker(seed, start, stop, function, case_timeout):
    """Run cases start..stop-1; one line per case on stdout, a start line before it."""
    fz = _cases_module()
    out = sys.stdout
    for index in range(start, stop):
        out.write(f"{MARK}start {index}\n")
        out.flush()
        # a hang ends this process with every thread's traceback on stderr
        faulthandler.dump_traceback_later(case_timeout, exit=True)
        try:
            case = _draw(fz, seed, index, function)
            failures = fz.check(case)
            record = dict(index=index, function=case.func, failures=failures)
            if failures:
                record["case"] = case.describe()
        except Exception as exc:  # noqa: BLE001 - a defect of the fuzzer itself
            record = dict(index=index, function="?", case="?",
                          failures=[("fuzzer error", f"{type(exc).__name__}: {exc}")])
        faulthandler.cancel_dump_traceback_later()
        out.write(MARK + json.dumps(record) + "\n")
        out.flush()


def _describe_child_end(proc_rc, stderr):
    if "Timeout (" in stderr:
        return "timeout", "no result within the case timeout"
    if proc_rc < 0:
        import signal

        try:
            name = signal.Signals(-proc_rc).name
        except ValueError:
            name = str(-proc_rc)
        return "crash/signal", f"killed by {name}"
    tail = stderr.strip().splitlines()[-3:]
    return "crash/signal", f"child exited with status {proc_rc}: {' | '.join(tail)}"


def run_batch(seed, start, stop, function, case_timeout):
    """Records of cases start..stop-1, restarting the child after a crash or hang."""
    records = []
    while start < stop:
        cmd = [sys.executable, "-P", os.path.abspath(__file__), "--worker", str(seed),
               str(start), str(stop), "--case-timeout", str(case_timeout)]
        if function:
            cmd += ["--function", function]
        # the per-case timeout ends a hung child itself; this one covers its start-up
        limit = 120 + case_timeout * (stop - start)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
            rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc = -9
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            stderr = "Timeout (whole batch)"
        started = None
        for line in stdout.splitlines():
            if not line.startswith(MARK):
                continue
            body = line[len(MARK):]
            if body.startswith("start "):
                started = int(body.split()[1])
            else:
                record = json.loads(body)
                records.append(record)
                started = None
                start = record["index"] + 1
        if rc == 0 and started is None:
            break
        # the child died running case `started` (or before its first case)
        index = started if started is not None else start
        kind, detail = _describe_child_end(rc, stderr)
        records.append(dict(index=index, function=function or "?", case=None,
                            failures=[(kind, detail)], stderr=stderr[-2000:]))
        start = index + 1
    return records


def _signature(function, kind, detail):
    """Failures alike up to numbers and reprs of values: one group in the tally."""
    text = re.sub(r"0x[0-9a-f]+|-?\d+(\.\d+)?(e[-+]?\d+)?", "#", detail)
    text = re.sub(r"\(documented: .*", "", text)
    text = re.sub(r"'[^']*'|\[[^\]]*\]|\([^)]*\)", "_", text)
    return function, kind, text[:120]


def _describe_crashes(records, seed, function):
    """The drawn call of the cases whose child died (drawn again here, not run)."""
    fz = None
    for record in records:
        if record.get("case") is None:
            fz = fz or _cases_module()
            case = _draw(fz, seed, record["index"], function)
            record["case"], record["function"] = case.describe(), case.func


def tally(records, seed, elapsed, ran=None, examples=3):
    kinds = collections.Counter()
    by_function = collections.Counter()
    groups = collections.defaultdict(list)
    passed = 0
    for record in records:
        by_function[record["function"]] += 1
        if not record["failures"]:
            passed += 1
            continue
        for kind, detail in record["failures"]:
            kinds[kind] += 1
            groups[_signature(record["function"], kind, detail)].append((record, detail))
    ran = len(records) if ran is None else ran
    timing = "" if elapsed is None else (
        f", {ran} of them run now in {elapsed:.0f} s ({ran / max(elapsed, 1e-9):.0f} cases/s)")
    lines = [f"fuzz run: seed {seed}, {len(records)} cases{timing}",
             f"passed: {passed}", f"failed: {len(records) - passed}"]
    lines += [f"  {kind}: {kinds[kind]}" for kind in KINDS[1:]]
    lines.append("cases by function: " + ", ".join(f"{f} {n}" for f, n in
                                                     sorted(by_function.items())))
    for (function, kind, _), members in sorted(groups.items(), key=lambda g: -len(g[1])):
        lines.append("")
        lines.append(f"[{kind}] {function}: {len(members)} case(s)")
        for record, detail in members[:examples]:
            lines.append(f"  replay: python tools/fuzz.py --replay {seed} {record['index']}")
            lines.append(f"    {detail}")
            if record.get("case"):
                lines.append(f"    {record['case']}")
            if record.get("stderr"):
                lines.append("    stderr: " + record["stderr"].strip().replace("\n", "\n    "))
    return "\n".join(lines)


def replay(seed, index, function):
    fz = _cases_module()
    case = _draw(fz, seed, index, function)
    print(case.describe())
    failures = fz.check(case)
    for kind, detail in failures:
        print(f"{kind}: {detail}")
    print("passed" if not failures else f"{len(failures)} failure(s)")
    call = fz.CALL.get(case.func, fz._call_plain)
    try:
        call(case)
    except Exception:  # noqa: BLE001 - shown with its traceback
        traceback.print_exc()
    return 1 if failures else 0


KINDS = ("pass", "wrong result", "wrong exception type", "message not naming the parameter",
         "refused valid input", "accepted invalid input", "warning", "modified input",
         "crash/signal", "timeout", "fuzzer error")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, nargs="?", help="number of cases")
    parser.add_argument("seed", type=int, nargs="?", help="seed of the run")
    parser.add_argument("--batch", type=int, default=1000, help="cases per child process")
    parser.add_argument("--jobs", type=int, default=1, help="child processes at a time")
    parser.add_argument("--case-timeout", type=float, default=20.0,
                        help="seconds after which a case counts as hung")
    parser.add_argument("--function", help="fuzz only this public function")
    parser.add_argument("--replay", nargs=2, type=int, metavar=("SEED", "INDEX"),
                        help="run one case in this process, with tracebacks")
    parser.add_argument("--worker", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help="also write the tally to this file")
    parser.add_argument("--save", help="append every case's record to this file (JSON lines)")
    parser.add_argument("--load", help="print the tally of the records saved in this file")
    parser.add_argument("--resume", action="store_true",
                        help="with --save: run only the batches the file does not hold yet")
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker, args.function, args.case_timeout)
        return 0
    if args.replay:
        return replay(*args.replay, args.function)
    if args.load:
        with open(args.load) as f:
            records = [json.loads(line) for line in f]
        seed = records[0]["seed"] if records else args.seed
        print(tally(sorted(records, key=lambda r: r["index"]), seed, None))
        return 1 if any(r["failures"] for r in records) else 0
    if args.n is None or args.seed is None:
        parser.error("N and SEED are required (SEED also with --load)")
    batches = [(s, min(s + args.batch, args.n)) for s in range(0, args.n, args.batch)]
    records = []
    resumed = 0
    if args.resume and args.save and os.path.exists(args.save):
        with open(args.save) as f:
            saved = [json.loads(line) for line in f]
        done = {r["index"] for r in saved if r.get("seed") == args.seed}
        complete = [(a, b) for a, b in batches if all(i in done for i in range(a, b))]
        records = [r for r in saved if r.get("seed") == args.seed
                   and any(a <= r["index"] < b for a, b in complete)]
        batches = [batch for batch in batches if batch not in complete]
        resumed = len(records)
        with open(args.save, "w") as f:  # only the complete batches stay
            f.writelines(json.dumps(r) + "\n" for r in records)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_batch, args.seed, a, b, args.function, args.case_timeout)
                   for a, b in batches]
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            batch = future.result()
            records += batch
            if args.save:
                _describe_crashes(batch, args.seed, args.function)
                with open(args.save, "a") as f:
                    f.writelines(json.dumps(dict(r, seed=args.seed)) + "\n" for r in batch)
            bad = sum(1 for r in records if r["failures"])
            print(f"batch {done}/{len(batches)}: {len(records)} cases, {bad} failed, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    records.sort(key=lambda r: r["index"])
    _describe_crashes(records, args.seed, args.function)
    report = tally(records, args.seed, time.perf_counter() - t0, len(records) - resumed)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report + "\n")
    return 1 if any(r["failures"] for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
