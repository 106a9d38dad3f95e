"""How well ``glassbox.guard.injection.assess`` separates prompt injections from ordinary text, on a labelled set.

    python benchmarks/injection_accuracy.py [--data benchmarks/data/prompt_injection.jsonl] [--dev-misses] [--external]

The set, ``benchmarks/data/prompt_injection.jsonl``, has one JSON object per line::

    {"text": ..., "label": 1 | 0, "split": "dev" | "held_out", "kind": "user" | "tool_result", "source": ...}

``label`` 1 is an attempt to override or subvert the model's instructions, or to exfiltrate data; 0 is ordinary
text, with many hard negatives (benign text with the trigger words "ignore", "instructions", "system", "previous";
questions about prompt injection; tool results that are plain web pages, JSON, e-mails, logs and code). The examples
were written for this project, none copied from elsewhere, modelled on published attack categories, named in each
line's ``source``:

* Perez & Ribeiro 2022, "Ignore Previous Prompt: Attack Techniques For Language Models": goal hijacking and prompt
  leaking;
* Greshake et al. 2023, "Not what you've signed up for: Compromising Real-World LLM-Integrated Applications with
  Indirect Prompt Injection": instructions inside retrieved pages, e-mails and tool results, data exfiltration;
* OWASP Top 10 for LLM Applications 2025, LLM01 Prompt Injection: direct and indirect injection, payload splitting,
  hidden instructions in submitted documents, obfuscated, encoded and multilingual attacks;
* the "DAN" ("Do Anything Now") family of persona jailbreaks shared in 2023;
* the reports of data exfiltration through Markdown images rendered by chat front ends (Rehberger, 2023) and of
  "ASCII smuggling" in Unicode tag characters (Rehberger, 2024);
* chat-template delimiter spoofing (fake ``<|im_start|>system``, ``[INST]``, ``System:`` turns).

Positives include obfuscated forms (letters spaced out, zero-width characters, mixed case, leetspeak, full-width
letters, base64, tag characters, polite phrasing, an injection at the end of a long benign page) and a few
deliberately out of reach of a word-based heuristic (Spanish and German, paraphrases, multi-step setups).

The ``held_out`` split (about a third) was written in one go before any rule existed and was not looked at while
the rules were tuned on ``dev``; its figures are the honest estimate. For each split this prints the counts, the
precision, recall and F1 of "positive" meaning level >= HIGH (and, second row, >= MEDIUM), the confusion counts,
and then every held-out miss at HIGH (false negatives and false positives) with its score, level, findings and its
first 80 characters. ``--dev-misses`` lists the dev misses too.

``--external`` also scores a labelled set shipped by a package, when one is importable: ``bastioncorpus`` (MIT, no
dependencies; its rows are read at run time with ``bastioncorpus.load_corpus()``, nothing is copied). It is not a
dependency of this project; install it in a scratch environment to use it. Its rows never served to tune the rules,
so its figures are a second out-of-sample estimate (it includes non-English rows, out of scope for this heuristic;
they are reported apart).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:
    from glassbox.guard import injection
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(ROOT / "instrumentation" / "src"))
    from glassbox.guard import injection

DATA = ROOT / "benchmarks" / "data" / "prompt_injection.jsonl"
RANK = {level: rank for rank, level in enumerate(injection.LEVELS)}


@dataclass(frozen=True)
class Scored:
    text: str
    label: int
    kind: str
    source: str
    assessment: injection.Assessment

    def flagged(self, level: str) -> bool:
        return RANK[self.assessment.level] >= RANK[level]


def confusion(rows: Iterable[Scored], level: str) -> tuple[int, int, int, int]:
    """(true positives, false positives, false negatives, true negatives) at ``level`` or above."""
    tp = fp = fn = tn = 0
    for row in rows:
        flagged = row.flagged(level)
        if row.label and flagged:
            tp += 1
        elif flagged:
            fp += 1
        elif row.label:
            fn += 1
        else:
            tn += 1
    return tp, fp, fn, tn


def ratios(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def report(name: str, rows: list[Scored]) -> None:
    positives = sum(row.label for row in rows)
    kinds = collections.Counter((row.kind, row.label) for row in rows)
    by_kind = ", ".join(
        f"{kind} {kinds[(kind, 1)]}+/{kinds[(kind, 0)]}-" for kind in sorted({kind for kind, _ in kinds})
    )
    print(f"\n## {name}: {len(rows)} examples, {positives} positive, {len(rows) - positives} negative ({by_kind})")
    print("| positive when | precision | recall | F1 | TP | FP | FN | TN |")
    print("|---|---|---|---|---|---|---|---|")
    for level in (injection.LEVEL_HIGH, injection.LEVEL_MEDIUM):
        tp, fp, fn, tn = confusion(rows, level)
        precision, recall, f1 = ratios(tp, fp, fn)
        print(f"| level >= {level} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {tp} | {fp} | {fn} | {tn} |")
    levels = collections.Counter((row.label, row.assessment.level) for row in rows)
    for label, title in ((1, "positives"), (0, "negatives")):
        spread = ", ".join(f"{level} {levels[(label, level)]}" for level in injection.LEVELS)
        print(f"levels of the {title}: {spread}")


def misses(name: str, rows: list[Scored]) -> None:
    """Every row on the wrong side of HIGH: false negatives, then false positives."""
    wrong = [row for row in rows if row.flagged(injection.LEVEL_HIGH) != bool(row.label)]
    print(f"\n### {name} misses at level >= high: {len(wrong)}")
    for row in sorted(wrong, key=lambda row: (-row.label, row.assessment.score)):
        kind = "FN" if row.label else "FP"
        findings = ",".join(row.assessment.findings) or "-"
        print(
            f"{kind} {row.assessment.score:3d} {row.assessment.level:8s} {row.kind:11s} {findings:40s} "
            f"{row.text[:80]!r}"
        )


def load(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def external() -> None:
    try:
        import bastioncorpus
    except ImportError:
        print("\n## external: bastioncorpus is not installed (pip install bastioncorpus in a scratch venv); skipped")
        return
    rows = bastioncorpus.load_corpus()
    version = getattr(bastioncorpus, "__version__", "?")
    scored = [
        Scored(
            row.stripped(),
            int(row.is_malicious),
            "tool_result" if row.channel != "user_input" else "user",
            row.category,
            injection.assess(row.stripped()),
        )
        for row in rows
    ]
    english = [row for row, source in zip(scored, rows, strict=True) if source.lang == "en"]
    other = [row for row, source in zip(scored, rows, strict=True) if source.lang != "en"]
    report(f"external: bastioncorpus {version}, English rows", english)
    report(f"external: bastioncorpus {version}, other languages (out of scope)", other)
    categories = collections.Counter(
        (row.source, row.flagged(injection.LEVEL_HIGH) == bool(row.label)) for row in english
    )
    print("right / wrong at level >= high by category (English): " + ", ".join(
        f"{category} {categories[(category, True)]}/{categories[(category, False)]}"
        for category in sorted({category for category, _ in categories})
    ))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--dev-misses", action="store_true", help="also list the dev split's misses")
    parser.add_argument("--external", action="store_true", help="also score bastioncorpus, if importable")
    args = parser.parse_args()
    splits: dict[str, list[Scored]] = {"dev": [], "held_out": []}
    for row in load(args.data):
        text = str(row["text"])
        splits[str(row["split"])].append(
            Scored(text, int(str(row["label"])), str(row["kind"]), str(row["source"]), injection.assess(text))
        )
    print(f"# prompt-injection scoring on {args.data.name}: {sum(map(len, splits.values()))} examples")
    for name, rows in splits.items():
        report(name, rows)
    if args.dev_misses:
        misses("dev", splits["dev"])
    misses("held_out", splits["held_out"])
    if args.external:
        external()
    return 0


if __name__ == "__main__":
    sys.exit(main())
