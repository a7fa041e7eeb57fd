#!/usr/bin/env python3
"""Runs every libFuzzer target of a -Dfuzzing=enabled build for a bounded time.

Each target fuzzes a scratch copy of its seed corpus (tests/fuzz/corpus/<name>),
so the repository's corpus never grows by itself; crash artifacts stay in
<build>/fuzz-runs/<name>/artifacts with the command that reproduces them.
Prints a table (target, executions, corpus size, crashes) and exits 1 when
any target crashed (or failed to run).

  python3 tests/fuzz/run_fuzzers.py --build-dir build-fuzz --seconds 180
"""

import argparse
import concurrent.futures
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

SOURCE_DIR = pathlib.Path(__file__).resolve().parent
# Sanitizer reports end the run with the input that caused them.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}
ARTIFACT_KINDS = ("crash-", "leak-", "timeout-", "oom-", "slow-unit-")


def target_names():
    return sorted(p.name[: -len("_fuzzer.cc")] for p in SOURCE_DIR.glob("*_fuzzer.cc"))


def run_target(name, build_dir, seconds):
    binary = build_dir / "tests" / "fuzz" / f"{name}_fuzzer"
    run_dir = build_dir / "fuzz-runs" / name
    corpus = run_dir / "corpus"
    artifacts = run_dir / "artifacts"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(SOURCE_DIR / "corpus" / name, corpus)
    artifacts.mkdir()
    command = [
        str(binary),
        f"-max_total_time={seconds}",
        "-print_final_stats=1",
        "-timeout=25",
        f"-artifact_prefix={artifacts}/",
        str(corpus),
    ]
    log = run_dir / "fuzz.log"
    with open(log, "w") as output:
        # Its own process group: a hung run (e.g. LeakSanitizer after an
        # out-of-memory report) is killed with all its children.
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, **SANITIZER_ENV},
                                   start_new_session=True)
        try:
            returncode = process.wait(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            returncode = process.wait()
            output.write("\nrun_fuzzers.py: killed, still running 120s after its time\n")
    text = log.read_text(errors="replace")
    executions = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
    found = sorted(p for p in artifacts.iterdir() if p.name.startswith(ARTIFACT_KINDS))
    return {
        "name": name,
        "binary": binary,
        "log": log,
        "returncode": returncode,
        "executions": int(executions.group(1)) if executions else 0,
        "corpus": sum(1 for p in corpus.iterdir() if p.is_file()),
        "artifacts": found,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=pathlib.Path, required=True)
    parser.add_argument("--seconds", type=int, default=180, help="per target")
    parser.add_argument("--jobs", type=int, default=1, help="targets run at once")
    parser.add_argument("targets", nargs="*", help="default: all")
    args = parser.parse_args()

    names = args.targets or target_names()
    build_dir = args.build_dir.resolve()
    missing = [n for n in names if not (build_dir / "tests" / "fuzz" / f"{n}_fuzzer").is_file()]
    if missing:
        sys.exit(f"not built in {build_dir}: {', '.join(missing)} "
                 "(configure with -Dfuzzing=enabled; ninja fuzzers)")

    print(f"fuzzing {len(names)} targets for {args.seconds}s each, {args.jobs} at a time",
          flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda n: run_target(n, build_dir, args.seconds), names))

    row = "{:<20} {:>12} {:>8} {:>8}  {}"
    print(row.format("target", "executions", "corpus", "crashes", "status"))
    failed = False
    for r in results:
        ok = r["returncode"] == 0 and not r["artifacts"]
        failed = failed or not ok
        status = "ok" if ok else f"FAILED (exit {r['returncode']}, log {r['log']})"
        print(row.format(r["name"], r["executions"], r["corpus"], len(r["artifacts"]), status))
    for r in results:
        for artifact in r["artifacts"]:
            print(f"\n{r['name']}: {artifact.name}\n  reproduce: {r['binary']} {artifact}\n"
                  f"  then see tests/fuzz/README.md (a corpus file and a unit test)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
