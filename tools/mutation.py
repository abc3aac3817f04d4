"""`make mutation`: mutation testing of the rule modules with mutmut, a score per module and every survivor.

mutmut copies the app into ``mutants/``, mutates the functions of the modules in ``[tool.mutmut] only_mutate``
(pyproject.toml) and, for each mutant, runs only the tests of the focused set
(``pytest_add_cli_args_test_selection``: the quick ``tests/test_rules_*.py`` files) that call the mutated function.
This script picks the functions that hold the rules (MODULES below), runs mutmut, then prints per module:
mutants, killed (a test failed or the mutant hung), survived, equivalent (listed in docs/mutation.md, with the
reason), unchecked (no test calls it, or the run was interrupted) and the score = killed / (mutants - equivalent -
unchecked); then the diff of every survivor. It exits non-zero when a
module scores under ``--min-score`` (90 %) or a mutant is left unchecked.

    python -m tools.mutation              # everything (~15 min on 2 cores)
    python -m tools.mutation --quick      # only the pure-unit modules (models, recipient parser)
    python -m tools.mutation --module models/meeting.py
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = Path(sys.executable).with_name("mutmut")
EQUIVALENT_NOTE = ROOT / "docs" / "mutation.md"


@dataclass
class Module:
    label: str
    path: str
    #: mutmut mutant-name patterns (``module.x_function__mutmut_N``; methods: ``module.xǁClassǁmethod__mutmut_N``)
    patterns: list[str]
    quick: bool = True
    results: dict[str, str] = field(default_factory=dict)


def _functions(module: str, names: list[str]) -> list[str]:
    return [f"{module}.x_{name}__mutmut_*" for name in names]


MODULES = [
    Module("models/negativation.py", "models/negativation.py", ["models.negativation.*"]),
    Module("models/meeting.py", "models/meeting.py", ["models.meeting.*"]),
    Module("models/timeutil.py", "models/timeutil.py", ["models.timeutil.*"]),
    Module("models/debt.py: payment and negotiation transitions", "models/debt.py",
           ["models.debt.xǁDebtǁtransition__mutmut_*", "models.debt.xǁDebtǁmark_paid__mutmut_*",
            "models.debt.xǁDebtǁclear_payment__mutmut_*", "models.debt.xǁNegotiationǁtransition__mutmut_*"]),
    Module("integrations/mail/recipients.py", "integrations/mail/recipients.py",
           ["integrations.mail.recipients.*"]),
    Module("integrations/mail/text.py: printable", "integrations/mail/text.py",
           _functions("integrations.mail.text", ["printable"])),
    Module("services/negativation.py: eligibility, exclusion", "services/negativation.py",
           _functions("services.negativation", ["make_client", "include_debts", "_claim", "_sentence",
                                                "_apply_inclusion", "preview_inclusion", "records_of",
                                                "claim_exclusion", "request_exclusion", "exclude_manually",
                                                "on_debt_settled", "_settle_record", "records_to_sync"]),
           quick=False),
]

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", 37: "killed",
          None: "not checked"}


def status_of(exit_code: int | None) -> str:
    return STATUS.get(exit_code, "suspicious")


def equivalents() -> dict[str, list[str]]:
    """Read docs/mutation.md's table: function prefix → the mutated lines argued equivalent there."""
    found: dict[str, list[str]] = {}
    if not EQUIVALENT_NOTE.exists():
        return found
    row = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*`(.+?)`\s*\|")
    for line in EQUIVALENT_NOTE.read_text(encoding="utf-8").splitlines():
        match = row.match(line)
        if match:
            found.setdefault(match.group(1), []).append(_normalise(match.group(2)))
    return found


def _normalise(code: str) -> str:
    return re.sub(r"\s+", " ", code.replace("\\|", "|")).strip()


def diff_of(name: str, path: str) -> str:
    try:  # mutmut's own diff (what `mutmut show` prints), in-process: one call per survivor
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        return get_diff_for_mutant(name, path=path)
    except Exception:  # fall back to the public command
        shown = subprocess.run([str(MUTMUT), "show", name], cwd=ROOT, capture_output=True, text=True)
        return shown.stdout


def mutated_lines(diff: str) -> list[str]:
    return [_normalise(line[1:]) for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


def function_of(name: str) -> str:
    return name.rsplit("__mutmut_", 1)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the modules whose tests are pure units")
    parser.add_argument("--module", action="append", help="a module path (repeatable), e.g. models/meeting.py")
    parser.add_argument("--min-score", type=float, default=90.0)
    parser.add_argument("--keep", action="store_true", help="reuse mutants/ (default: start clean)")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutants (default 2)")
    parser.add_argument("--report", action="store_true", help="only report what mutants/ holds (e.g. after Ctrl-C)")
    args = parser.parse_args(argv)
    import os

    os.chdir(ROOT)  # mutmut reads pyproject.toml and mutants/ from the working directory

    modules = [m for m in MODULES if (not args.quick or m.quick) and (not args.module or m.path in args.module)]
    if not modules:
        parser.error("no module selected")
    started = time.monotonic()
    if not args.report:
        if not args.keep:
            shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        patterns = [p for m in modules for p in m.patterns]
        log = ROOT / "mutants-run.log"
        print(f"mutmut: {len(modules)} module(s), log in {log.name} ...", flush=True)
        with log.open("w", encoding="utf-8") as out:
            run = subprocess.run([str(MUTMUT), "run", "--max-children", str(args.max_children), *patterns],
                                 cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        if run.returncode != 0:
            print(log.read_text(encoding="utf-8")[-4000:])
            print(f"mutmut run failed (exit {run.returncode})")
            return run.returncode or 1
    elapsed = time.monotonic() - started

    known_equivalent = equivalents()
    failed = False
    rows, survivors = [], []
    for module in modules:
        meta = json.loads((ROOT / "mutants" / f"{module.path}.meta").read_text(encoding="utf-8"))
        codes = {name: code for name, code in meta["exit_code_by_key"].items()
                 if any(fnmatch.fnmatchcase(name, p) for p in module.patterns)}
        counts = {"killed": 0, "survived": 0, "equivalent": 0, "other": 0}
        for name, code in sorted(codes.items()):
            status = status_of(code)
            if status in ("killed", "timeout"):
                counts["killed"] += 1
                continue
            if status == "not checked":  # an interrupted run: counted, no diff
                counts["other"] += 1
                continue
            diff = diff_of(name, module.path)
            if status == "survived" and set(mutated_lines(diff)) & set(known_equivalent.get(function_of(name), [])):
                counts["equivalent"] += 1
                continue
            counts["survived" if status == "survived" else "other"] += 1
            survivors.append((module.label, name, status, diff))
        relevant = len(codes) - counts["equivalent"] - counts["other"]
        score = 100.0 * counts["killed"] / relevant if relevant else 100.0
        failed |= score < args.min_score or counts["other"] > 0
        rows.append((module.label, len(codes), counts["killed"], counts["survived"], counts["equivalent"],
                     counts["other"], score))

    print()
    print("| module | mutants | killed | survived | equivalent | unchecked | score |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, total, killed, survived, equivalent, other, score in rows:
        print(f"| `{label}` | {total} | {killed} | {survived} | {equivalent} | {other} | {score:.1f} % |")
    print(f"\n{elapsed / 60:.1f} min; score = killed / (mutants - equivalent - unchecked); "
          "equivalents: docs/mutation.md")
    if survivors:
        print(f"\n{len(survivors)} mutant(s) not killed:")
        for label, name, status, diff in survivors:
            print(f"\n--- {name} ({label}): {status}")
            print("\n".join(line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")))
    if failed:
        print(f"\nFAILED: a module scores under {args.min_score:g} % or has unchecked mutants.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
