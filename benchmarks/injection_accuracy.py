"""How well ``glassbox.guard.guardrail.scorer.assess`` separates prompt injections from ordinary text, on labelled sets.

    python benchmarks/injection_accuracy.py [--data FILE] [--dev-misses] [--tuning] [--external] [--corpora DIR]

The project's set, ``benchmarks/data/prompt_injection.jsonl``, has one JSON object per line::

    {"text": ..., "label": 1 | 0, "split": "dev" | "held_out", "kind": "user" | "tool_result", "source": ...}

``label`` 1 is an attempt to override or subvert the model's instructions, or to exfiltrate data; 0 is ordinary
text, with many hard negatives (benign text with the trigger words, in English and in the other languages the rules
read; questions about prompt injection; tool results that are plain web pages, JSON, e-mails, logs and code). The
examples were written for this project, none copied from elsewhere, modelled on published attack categories named
in each line's ``source`` (Perez & Ribeiro 2022; Greshake et al. 2023; OWASP Top 10 for LLM Applications 2025,
LLM01; the "DAN" persona jailbreaks; Markdown-image exfiltration and "ASCII smuggling", Rehberger 2023 and 2024;
chat-template delimiter spoofing; role-play and fake-authority shapes; attacks in Spanish, Portuguese, French,
Italian, German, Russian, Chinese and Japanese). Each text is scored with the ``source`` its ``kind`` says (a tool
result also meets the rules for content that directs the model's answer).

The ``held_out`` split was never used to tune the rules: its first 113 rows were written before any rule existed,
the 55 multilingual, indirect, role-play and fake-authority rows after them were written before the rules for those
shapes. For each split this prints precision, recall and F1 of "positive" meaning level >= HIGH (and >= MEDIUM),
recall by category (``source``), and every held-out miss at HIGH. ``--dev-misses`` lists the dev misses too.

Sets published by other authors are read at run time from packages installed for the purpose (not dependencies of
this project; ``pip install --no-deps --target DIR NAME==VERSION`` and ``--corpora DIR``), nothing copied:

* ``--tuning``: the sets the rules were tuned on, beside the dev split: ``spikee`` 0.9.2 (its jailbreak templates
  filled with its instructions), ``hermes-jailbench`` 0.2.2, ``nullsec-promptinject`` 0.1.0,
  ``jailbreak-corpus-mini-py`` 0.1.0, ``raginject`` 0.12.0 (its document-borne patterns), and as negatives the
  translated messages of the gettext catalogues under ``/usr/share/locale`` (es, de, fr, pt_BR, it, zh_CN, ja, ru).
* ``--external``: sets kept apart and never used to tune the rules, for the final figures: ``bastioncorpus`` 0.6.0
  (attacks and benign rows, English, German, French, Spanish, Italian), ``agent-injection-bench`` 0.1.0 (attacks by
  channel; its control cases and the users' legitimate tasks as negatives), and the benign questions of ``spikee``'s
  ``seeds-investment-advice-fp`` set (negatives only). Their misses are listed for the record: a rule written from
  them would make them tuning sets, and new external figures would need another set.
"""

from __future__ import annotations

import argparse
import collections
import gettext
import importlib.util
import inspect
import json
import random
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:
    from glassbox.guard.guardrail import scorer
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(ROOT / "instrumentation" / "src"))
    from glassbox.guard.guardrail import scorer

DATA = ROOT / "benchmarks" / "data" / "prompt_injection.jsonl"
RANK = {level: rank for rank, level in enumerate(scorer.LEVELS)}


@dataclass(frozen=True)
class Scored:
    text: str
    label: int
    kind: str
    source: str
    assessment: scorer.Assessment

    def flagged(self, level: str) -> bool:
        return RANK[self.assessment.level] >= RANK[level]


# A scorer without the ``source`` argument (an earlier version of the package, for a before/after comparison)
# scores every text as a user's.
_TAKES_SOURCE = "source" in inspect.signature(scorer.assess).parameters


def score(text: str, label: int, kind: str, source: str) -> Scored:
    kind = "tool_result" if kind == "tool_result" else "user"
    assessment = scorer.assess(text, kind) if _TAKES_SOURCE else scorer.assess(text)
    return Scored(text, label, kind, source, assessment)


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


def report(name: str, rows: list[Scored], categories: bool = False) -> None:
    positives = sum(row.label for row in rows)
    kinds = collections.Counter((row.kind, row.label) for row in rows)
    by_kind = ", ".join(
        f"{kind} {kinds[(kind, 1)]}+/{kinds[(kind, 0)]}-" for kind in sorted({kind for kind, _ in kinds})
    )
    print(f"\n## {name}: {len(rows)} examples, {positives} positive, {len(rows) - positives} negative ({by_kind})")
    print("| positive when | precision | recall | F1 | TP | FP | FN | TN |")
    print("|---|---|---|---|---|---|---|---|")
    for level in (scorer.LEVEL_HIGH, scorer.LEVEL_MEDIUM):
        tp, fp, fn, tn = confusion(rows, level)
        precision, recall, f1 = ratios(tp, fp, fn)
        print(f"| level >= {level} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {tp} | {fp} | {fn} | {tn} |")
    if categories and positives:
        found = collections.Counter((row.source, row.flagged(scorer.LEVEL_HIGH)) for row in rows if row.label)
        names = sorted({source for source, _ in found})
        print("recall at high by category: " + "; ".join(
            f"{name} {found[(name, True)]}/{found[(name, True)] + found[(name, False)]}" for name in names
        ))  # fmt: skip


def misses(name: str, rows: list[Scored]) -> None:
    """Every row on the wrong side of HIGH: false negatives, then false positives."""
    wrong = [row for row in rows if row.flagged(scorer.LEVEL_HIGH) != bool(row.label)]
    print(f"\n### {name} misses at level >= high: {len(wrong)}")
    for row in sorted(wrong, key=lambda row: (-row.label, row.source, row.assessment.score)):
        kind = "FN" if row.label else "FP"
        findings = ",".join(row.assessment.findings) or "-"
        print(
            f"{kind} {row.assessment.score:3d} {row.assessment.level:8s} {row.kind:11s} {row.source[:28]:28s} "
            f"{findings[:40]:40s} {row.text[:80]!r}"
        )


def load(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _package_dir(name: str) -> Path | None:
    """Where a package is installed, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _jsonl(path: Path) -> list[dict[str, object]]:
    return load(path) if path.exists() and path.stat().st_size else []


# --------------------------------------------------------------------------- the tuning sets
def spikee_attacks() -> list[Scored]:
    """Each jailbreak template of spikee's seed sets filled with two of the set's instructions, and its standalone
    attacks (the false-positive sets, ``-fp``, are kept for the external figures)."""
    root = _package_dir("spikee")
    if root is None:
        return []
    rows = []
    for seeds in sorted((root / "data" / "workspace" / "datasets").iterdir()):
        if seeds.name.endswith("-fp") or seeds.name.startswith("zzz_") or not seeds.is_dir():
            continue
        templates, instructions = _jsonl(seeds / "jailbreaks.jsonl"), _jsonl(seeds / "instructions.jsonl")
        for number, template in enumerate(templates if instructions else []):
            for offset in (0, 1):
                instruction = instructions[(2 * number + offset) % len(instructions)]
                text = str(template["text"]).replace("<INSTRUCTION>", str(instruction["instruction"]))
                rows.append(score(text, 1, "user", f"spikee {template.get('jailbreak_type')}"))
        for standalone in _jsonl(seeds / "standalone_user_inputs.jsonl"):
            rows.append(score(str(standalone["text"]), 1, "user", "spikee standalone"))
    return rows


def hermes_attacks() -> list[Scored]:
    if importlib.util.find_spec("hermes_jailbench") is None:
        return []
    from hermes_jailbench import attacks

    rows = []
    for value in vars(attacks).values():
        if isinstance(value, list) and value and isinstance(value[0], attacks.Attack):
            rows += [score(a.render("explain how to pick a lock"), 1, "user", a.category.value) for a in value]
    return rows


def nullsec_attacks() -> list[Scored]:
    if importlib.util.find_spec("nullsec_promptinject") is None:
        return []
    from nullsec_promptinject.payloads import PAYLOADS

    return [score(p.text, 1, "user", f"{p.category} {p.language}") for p in PAYLOADS]


def mini_corpus_attacks() -> list[Scored]:
    root = _package_dir("jailbreak_corpus_mini")
    if root is None:
        return []
    rows = json.loads((root / "corpus.json").read_text(encoding="utf-8"))
    return [score(str(row["prompt"]), 1, "user", str(row["category"])) for row in rows]


def raginject_attacks() -> list[Scored]:
    root = _package_dir("raginject")
    if root is None:
        return []
    import yaml

    rows = []
    for path in sorted((root / "attacks" / "patterns").glob("*.yaml")):
        for pattern in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            if isinstance(pattern, dict) and pattern.get("injected_content"):
                rows.append(score(str(pattern["injected_content"]), 1, "tool_result", str(pattern.get("category"))))
    return rows


LOCALES = ("es", "de", "fr", "pt_BR", "it", "zh_CN", "ja", "ru")


def locale_negatives(per_language: int = 600) -> list[Scored]:
    """Translated messages of 40 characters or more from this machine's gettext catalogues, as tool results."""
    rows = []
    for language in LOCALES:
        texts = []
        for catalogue in sorted(Path("/usr/share/locale", language, "LC_MESSAGES").glob("*.mo")):
            try:
                with catalogue.open("rb") as opened:
                    messages = gettext.GNUTranslations(opened)._catalog  # type: ignore[attr-defined]
            except (OSError, ValueError, UnicodeDecodeError):
                continue
            texts += [text for text in messages.values() if isinstance(text, str) and len(text) >= 40]
        random.Random(7).shuffle(texts)
        rows += [score(text, 0, "tool_result", f"gettext {language}") for text in texts[:per_language]]
    return rows


TUNING: dict[str, Callable[[], list[Scored]]] = {
    "spikee 0.9.2": spikee_attacks,
    "hermes-jailbench 0.2.2": hermes_attacks,
    "nullsec-promptinject 0.1.0": nullsec_attacks,
    "jailbreak-corpus-mini-py 0.1.0": mini_corpus_attacks,
    "raginject 0.12.0": raginject_attacks,
    "gettext catalogues (negatives)": locale_negatives,
}


# --------------------------------------------------------------------------- the external sets, never tuned on
def bastion_rows() -> list[Scored]:
    if importlib.util.find_spec("bastioncorpus") is None:
        return []
    import bastioncorpus

    rows = []
    for row in bastioncorpus.load_corpus():
        kind = "user" if row.channel == "user_input" else "tool_result"
        rows.append(score(row.stripped(), int(row.is_malicious), kind, f"{row.lang} {row.category}"))
    return rows


AGENT_BENCH_USER_CHANNELS = frozenset({"user_message", "multi_turn"})


def agent_bench_rows() -> list[Scored]:
    if importlib.util.find_spec("aib") is None:
        return []
    from aib import dataset

    root = _package_dir("aib")
    assert root is not None
    rows = []
    for attack in dataset.load(root / "data" / "attacks.jsonl"):
        kind = "user" if attack.channel in AGENT_BENCH_USER_CHANNELS else "tool_result"
        label = 0 if attack.is_control else 1
        rows.append(score(attack.injected, label, kind, f"{attack.family} ({attack.channel})"))
        rows.append(score(attack.task, 0, "user", "the user's task"))
    return rows


def spikee_benign_rows() -> list[Scored]:
    root = _package_dir("spikee")
    if root is None:
        return []
    path = root / "data" / "workspace" / "datasets" / "seeds-investment-advice-fp" / "standalone_user_inputs.jsonl"
    return [score(str(row["text"]), 0, "user", "spikee investment-advice-fp") for row in _jsonl(path)]


def external() -> None:
    bastion, bench, benign = bastion_rows(), agent_bench_rows(), spikee_benign_rows()
    if not (bastion or bench or benign):
        print("\n## external: none of bastioncorpus, agent-injection-bench, spikee is importable (see --corpora)")
        return
    if bastion:
        english = [row for row in bastion if row.source.startswith("en ")]
        report("external: bastioncorpus 0.6.0, English rows", english, categories=True)
        report("external: bastioncorpus 0.6.0, German, French, Spanish, Italian rows",
               [row for row in bastion if not row.source.startswith("en ")], categories=True)  # fmt: skip
        report("external: bastioncorpus 0.6.0, all rows", bastion)
    if bench:
        report("external: agent-injection-bench 0.1.0 (attacks; controls and tasks as negatives)", bench, True)
    if benign:
        report("external: spikee 0.9.2 seeds-investment-advice-fp (negatives only)", benign)
    report("external: all three together", bastion + bench + benign)
    misses("external", bastion + bench + benign)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--dev-misses", action="store_true", help="also list the dev split's misses")
    parser.add_argument("--tuning", action="store_true", help="also score the published sets the rules were tuned on")
    parser.add_argument("--external", action="store_true", help="also score the external sets kept for the report")
    parser.add_argument("--corpora", type=Path, help="a directory where the published sets are installed")
    args = parser.parse_args()
    if args.corpora:
        sys.path.append(str(args.corpora))
    splits: dict[str, list[Scored]] = {"dev": [], "held_out": []}
    for row in load(args.data):
        splits[str(row["split"])].append(score(str(row["text"]), int(str(row["label"])), str(row["kind"]),
                                               str(row["source"])))  # fmt: skip
    print(f"# prompt-injection scoring on {args.data.name}: {sum(map(len, splits.values()))} examples")
    for name, rows in splits.items():
        report(name, rows, categories=True)
    if args.dev_misses:
        misses("dev", splits["dev"])
    misses("held_out", splits["held_out"])
    if args.tuning:
        for name, load_set in TUNING.items():
            rows = load_set()
            if rows:
                report(f"tuning: {name}", rows)
            else:
                print(f"\n## tuning: {name} is not available here; skipped")
    if args.external:
        external()
    return 0


if __name__ == "__main__":
    sys.exit(main())
