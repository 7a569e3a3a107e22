"""Table of the OCA OCPP 2.0.1 CSMS cases and the tests named after them (docs/conformance-v201.md).

Reads the case ids from the design note and the test function names under tests/: a name such as
``test_tc_e_07_e_08_e_15_stop_options`` or ``test_tc_c_02_06_07_...`` covers every id it lists.
Only files that start a real ``ocppd serve`` count (tests/station is ocppd's own station side).
Usage: python scripts/oca_v201_coverage.py CASES.md [REASONS.tsv]  (prints the markdown table;
REASONS.tsv: "TC_X_nn<TAB>why there is no test" per line)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def case_ids(cases_md: Path) -> list[tuple[str, str]]:
    text = cases_md.read_text()
    section = text.split("## OCPP 2.0.1", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| (TC_[A-P]_\d+)_CSMS \| ([^|]+) \|", section, re.M)


def covered_by(name: str) -> list[str]:
    ids: list[str] = []
    block, span = None, False
    for token in name.removeprefix("test_tc_").split("_"):
        if re.fullmatch(r"[a-p]", token):
            block = token.upper()
        elif re.fullmatch(r"\d{2,3}", token) and block:
            if span and ids:  # "g_03_to_g_08": every number in between
                first = int(ids[-1].rsplit("_", 1)[1])
                ids += [f"TC_{block}_{n:02d}" for n in range(first + 1, int(token))]
            ids.append(f"TC_{block}_{token}")
            span = False
        elif token in ("tc", "and"):
            continue
        elif token == "to":
            span = True
        elif token == "fr" and ids:  # "k_15_fr_08" names the requirement K15.FR.08, not the case TC_K_15
            ids.pop()
            break
        else:
            break
    return ids


def tests_by_case() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        text = path.read_text()
        # only tests against a real ocppd serve count; tests/station is ocppd's own station side
        if path.parent.name == "station" or not re.search(r"\b(run_csms|CsmsProcess)\b", text):
            continue
        for name in re.findall(r"^(?:async )?def (test_tc_[a-p]_\w+)\(", text, re.M):
            for case in covered_by(name):
                found.setdefault(case, []).append(f"{path.relative_to(ROOT)}::{name}")
    return found


def main() -> None:
    reasons: dict[str, str] = {}
    if len(sys.argv) > 2:
        for line in Path(sys.argv[2]).read_text().splitlines():
            if "\t" in line:
                case, why = line.split("\t", 1)
                reasons[case] = why
    found = tests_by_case()
    rows = case_ids(Path(sys.argv[1]))
    print(f"{sum(c in found for c, _ in rows)} of {len(rows)} cases have a test.\n")
    print("| id | title | test (file::function) or why there is none |")
    print("|---|---|---|")
    for case, title in rows:
        cell = "<br>".join(f"`{t}`" for t in found.get(case, [])) or f"none: {reasons.get(case, 'not written yet')}"
        print(f"| {case}_CSMS | {title.strip()} | {cell} |")


if __name__ == "__main__":
    main()
