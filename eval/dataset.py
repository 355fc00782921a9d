#!/usr/bin/env python3
"""The evaluation questions: loading, normalising and checking them.

Each line of `eval/questions/*.jsonl` is one question, written the way a user asks it:

    {"id": "git-a-001", "question": "...", "document": "git-rebase.html", "evidence": "..."}

`evidence` is a short phrase copied from the document's reference text (see corpus.py); a search
hit is the evidence passage when its text contains the phrase, compared after `normalize`. A
question the corpus cannot answer has `"document": null` and `"evidence": null`.

    python3 eval/dataset.py check [FILE...]   # every file when none is named
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE / "questions"

_PUNCT = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
        "\u2014": "-", "\u2212": "-", "\u00ad": None, "\u00a0": " ",
    }
)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9]+")


def normalize(text: str) -> str:
    """Case, Unicode compatibility forms (ligature characters), quotes, dashes and whitespace
    folded, so that a phrase matches however a format spelled it."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT).lower()
    return _SPACE.sub(" ", text).strip()


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def load(paths: list[Path] | None = None) -> list[dict]:
    paths = paths or sorted(QUESTIONS.glob("*.jsonl"))
    questions = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                question = json.loads(line)
            except json.JSONDecodeError as error:
                raise SystemExit(f"{path}:{number}: {error}") from error
            question["_where"] = f"{path.name}:{number}"
            questions.append(question)
    return questions


def problems(questions: list[dict], texts: Path, documents: set[str]) -> list[str]:
    """What is wrong with the questions: unknown documents, evidence not in the reference text,
    questions that copy their evidence, duplicate ids."""
    found: list[str] = []
    seen: set[str] = set()
    cache: dict[str, str] = {}
    for q in questions:
        where = f"{q['_where']} ({q.get('id')})"
        if set(q) - {"_where"} != {"id", "question", "document", "evidence"}:
            found.append(f"{where}: keys must be id, question, document, evidence")
            continue
        if q["id"] in seen:
            found.append(f"{where}: duplicate id")
        seen.add(q["id"])
        if not isinstance(q["question"], str) or len(q["question"].split()) < 3:
            found.append(f"{where}: the question is too short")
            continue
        if q["document"] is None:
            if q["evidence"] is not None:
                found.append(f"{where}: an unanswerable question has no evidence")
            continue
        if q["document"] not in documents:
            found.append(f"{where}: unknown document {q['document']!r}")
            continue
        evidence = q["evidence"] or ""
        # A table's evidence is one cell: rows are not stored as the file spells them.
        shortest = 2 if q["document"].endswith(".csv") else 4
        if not shortest <= len(evidence.split()) <= 25:
            found.append(f"{where}: evidence must be {shortest} to 25 words")
        if q["document"] not in cache:
            cache[q["document"]] = normalize((texts / f"{q['document']}.txt").read_text(encoding="utf-8"))
        if normalize(evidence) not in cache[q["document"]]:
            found.append(f"{where}: evidence not in the reference text of {q['document']}")
        ev = words(evidence)
        qw = words(q["question"])
        grams = {tuple(ev[i : i + 4]) for i in range(len(ev) - 3)}
        if any(tuple(qw[i : i + 4]) in grams for i in range(len(qw) - 3)):
            found.append(f"{where}: the question copies four words in a row from its evidence")
    return found


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] != "check":
        raise SystemExit(__doc__)
    sys.path.insert(0, str(HERE))
    import corpus  # noqa: PLC0415

    manifest = json.loads((corpus.ROOT / "manifest.json").read_text(encoding="utf-8"))
    paths = [Path(p) for p in sys.argv[2:]] or None
    questions = load(paths)
    found = problems(questions, corpus.ROOT / "text", {d["name"] for d in manifest})
    for problem in found:
        print(problem)
    answerable = sum(1 for q in questions if q.get("document"))
    print(f"{len(questions)} questions ({answerable} answerable, {len(questions) - answerable} not), {len(found)} problems")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
