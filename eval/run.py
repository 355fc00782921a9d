#!/usr/bin/env python3
"""`just eval`: docent's retrieval and answers, judged on the evaluation corpus.

Starts the release `docent-api` on the embedded default with a fresh data directory (settings can
be changed with `--set documents.chunk_tokens=300` and the like), uploads the corpus through the
API as a user would, waits until every document is ready, then asks every question of
`eval/questions/` three ways — keyword (BM25) alone, dense alone and docent's default pipeline —
and once more through a chatbot on the built-in extractive answerer. It prints a table and, with
`--write`, puts it into `docs/quality.md` between the `eval:begin` and `eval:end` markers.

Metrics:
- recall@k by document: a hit of the question's document is among the first k results;
- recall@k by passage: a hit whose text contains the evidence phrase is among the first k;
- MRR@10 by passage;
- abstention: unanswerable questions that get the fallback; answer rate: answerable ones that
  do not; citation accuracy: answered answerable questions whose answer cites (by its `[n]`
  markers) a passage containing the evidence;
- p50 search latency, measured by this client, one request at a time;
- extraction fidelity: the share of `pdftotext`'s words (multiset, its line-end hyphenation
  undone and its running headers and footers dropped, as docent does) in docent's extracted text
  (rebuilt from the chunks' spans), per PDF.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpus  # noqa: E402
import dataset  # noqa: E402

REPO = HERE.parent
MODES = ["keyword", "dense", "hybrid"]
FALLBACK = "EVAL-FALLBACK: nothing in the documents answers this."
MARKER = re.compile(r"\[(\d+)\]")


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.token = ""

    def call(self, method: str, path: str, body=None, *, raw: bytes | None = None, content_type=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", content_type or "application/json")
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                payload = response.read()
                return response.status, (json.loads(payload) if payload else None)
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                return error.code, json.loads(payload)
            except ValueError:
                return error.code, payload.decode(errors="replace")

    def ok(self, method: str, path: str, body=None, **kwargs):
        status, payload = self.call(method, path, body, **kwargs)
        if status >= 300:
            raise SystemExit(f"eval: {method} {path} answered {status}: {payload}")
        return payload

    def upload(self, org: str, path: Path) -> dict:
        boundary = uuid.uuid4().hex
        parts = [
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{path.name}\r\n".encode(),
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n".encode(),
            path.read_bytes(),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
        return self.ok(
            "POST", f"/v1/orgs/{org}/documents", raw=b"".join(parts),
            content_type=f"multipart/form-data; boundary={boundary}",
        )


class Server:
    """The release binary on a fresh data directory, stopped on exit."""

    def __init__(self, binary: str, settings: dict[str, str]) -> None:
        self.data = tempfile.TemporaryDirectory(prefix="docent-eval-")
        env = dict(os.environ)
        env.update(
            DOCENT_ADDR="127.0.0.1:0",
            DOCENT_DATA_DIR=self.data.name,
            DOCENT_LOG__FORMAT="json",
            DOCENT_LOG__FILTER="warn,docent_api=info",
        )
        for key, value in settings.items():
            env["DOCENT_" + key.upper().replace(".", "__")] = value
        self.child = subprocess.Popen(
            [binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        found = threading.Event()
        self.addr = ""

        def read() -> None:
            for line in self.child.stderr:
                if "docent-api listening" in line and not found.is_set():
                    self.addr = json.loads(line)["fields"]["addr"]
                    found.set()
                elif '"level":"ERROR"' in line:
                    print(f"eval: server: {line.strip()}", file=sys.stderr)

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(180):
            self.stop()
            raise SystemExit("eval: docent-api did not start")

    def stop(self) -> None:
        self.child.terminate()
        try:
            self.child.wait(30)
        except subprocess.TimeoutExpired:
            self.child.kill()
        self.data.cleanup()


def rank_of(hits: list[dict], match) -> int | None:
    for i, hit in enumerate(hits, 1):
        if match(hit):
            return i
    return None


def document_text(api: Api, org: str, document: str) -> tuple[str, dict[int, str], int]:
    """The document's extracted text, rebuilt from its chunks' spans, its chunks by ordinal, and
    how many of them carry a section (heading path)."""
    chunks: dict[int, str] = {}
    sectioned = 0
    chars: list[str] = []
    cursor = None
    while True:
        query = "?limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = api.ok("GET", f"/v1/orgs/{org}/documents/{document}/chunks{query}")
        for chunk in page["items"]:
            chunks[chunk["ordinal"]] = chunk["text"]
            sectioned += bool(chunk.get("section"))
            start, end = chunk["char_start"], chunk["char_end"]
            if len(chars) < end:
                chars.extend(" " * (end - len(chars)))
            chars[start:end] = list(chunk["text"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return "".join(chars), chunks, sectioned


LINE_END_HYPHEN = re.compile(r"(\w)-\n(\w)")


LIGATURE = re.compile(r"f[fil]")
DIGITS = re.compile(r"[0-9]+")


def without_running_lines(reference: str) -> str:
    """`pdftotext`'s text (pages separated by form feeds) without the lines repeated at the top
    or bottom of pages — running headers, footers, page numbers — which docent drops: a line
    among the first or last two of a page whose text, digits and white space aside, is at the
    edge of at least three pages and a tenth of them."""
    pages = [[line.strip() for line in page.splitlines() if line.strip()] for page in reference.split("\f")]

    def key(line: str) -> str:
        return "".join(DIGITS.sub("#", line).lower().split())

    def edges(lines: list[str]) -> set[int]:
        return {i for i in range(len(lines)) if i < 2 or i + 2 >= len(lines)}

    counts = collections.Counter()
    for lines in pages:
        counts.update({key(lines[i]) for i in edges(lines)})
    threshold = max(3, len(pages) // 10)
    running = {k for k, n in counts.items() if n >= threshold}
    return "\n\f".join(
        "\n".join(line for i, line in enumerate(lines) if not (i in edges(lines) and key(line) in running))
        for lines in pages
    )


def word_share(reference: str, extracted: str) -> tuple[float, int, float]:
    """The share of the reference's words (with multiplicity) that the extracted text holds; the
    number of its words spelled with a ligature pair (ff, fi, fl) and the share of those kept. A
    word the reference breaks at a line end ("exam-" "ple") counts as the whole word, since
    extraction is to undo that hyphenation."""
    ref = collections.Counter(dataset.words(LINE_END_HYPHEN.sub(r"\1\2", reference)))
    got = collections.Counter(dataset.words(extracted))

    def share(words: dict[str, int]) -> tuple[int, float]:
        total = sum(words.values())
        kept = sum(min(n, got[w]) for w, n in words.items())
        return total, kept / total if total else 1.0

    _, everything = share(ref)
    count, ligatures = share({w: n for w, n in ref.items() if LIGATURE.search(w)})
    return everything, count, ligatures


def evaluate(args) -> dict:
    manifest = corpus.build()
    questions = dataset.load()
    found = dataset.problems(questions, corpus.ROOT / "text", {d["name"] for d in manifest})
    if found:
        raise SystemExit("eval: the questions have problems:\n" + "\n".join(found))
    settings = dict(s.split("=", 1) for s in args.set)
    server = Server(args.binary, settings)
    try:
        return run(Api(f"http://{server.addr}"), manifest, questions, settings, args)
    finally:
        server.stop()


def run(api: Api, manifest, questions, settings, args) -> dict:
    signed = api.ok(
        "POST", "/v1/auth/signup",
        {"email": "eval@example.com", "password": "correct horse battery", "name": "Eval"},
    )
    api.token = signed["session"]["token"]
    org = api.ok("POST", "/v1/orgs", {"name": "Eval"})["id"]
    started = time.monotonic()
    ids: dict[str, str] = {}
    for doc in manifest:
        accepted = api.upload(org, corpus.ROOT / "corpus" / doc["name"])
        ids[doc["name"]] = accepted["id"]
    names = {v: k for k, v in ids.items()}
    print(f"eval: uploaded {len(ids)} documents", file=sys.stderr)
    deadline = time.monotonic() + args.ingest_timeout
    while True:
        statuses = {}
        cursor = None
        while True:
            page = api.ok("GET", f"/v1/orgs/{org}/documents?limit=200" + (f"&cursor={cursor}" if cursor else ""))
            for d in page["items"]:
                statuses[d["id"]] = d
            cursor = page.get("next_cursor")
            if not cursor:
                break
        pending = [d for d in statuses.values() if d["status"] not in ("ready", "failed")]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"eval: {len(pending)} documents not ready after {args.ingest_timeout} s")
        time.sleep(2)
    ingest_secs = time.monotonic() - started
    failed = {names[d["id"]]: d.get("error") for d in statuses.values() if d["status"] == "failed"}
    chunk_total = sum(d.get("chunk_count") or 0 for d in statuses.values())
    print(f"eval: ingested in {ingest_secs:.0f} s ({chunk_total} chunks, {len(failed)} failed)", file=sys.stderr)

    texts: dict[str, str] = {}
    chunks: dict[str, dict[int, str]] = {}
    # Chunks with a section path, and all chunks, by format.
    sections: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    formats = {d["name"]: d["format"] for d in manifest}
    for name, document in ids.items():
        if name in failed:
            texts[name], chunks[name] = "", {}
        else:
            texts[name], chunks[name], sectioned = document_text(api, org, document)
            sections[formats[name]][0] += sectioned
            sections[formats[name]][1] += len(chunks[name])
    fidelity = []
    for doc in manifest:
        if doc["format"] == "pdf":
            reference = without_running_lines(
                (corpus.ROOT / "text" / f"{doc['name']}.txt").read_text(encoding="utf-8")
            )
            share, ligature_words, ligatures = word_share(reference, texts[doc["name"]])
            fidelity.append(
                {
                    "name": doc["name"],
                    "producer": doc["producer"],
                    "words": len(dataset.words(reference)),
                    "share": share,
                    "ligature_words": ligature_words,
                    "ligatures": ligatures,
                }
            )
    normalized = {name: dataset.normalize(text) for name, text in texts.items()}

    answerable = [q for q in questions if q["document"]]
    unanswerable = [q for q in questions if not q["document"]]
    unextracted = [q["id"] for q in answerable if dataset.normalize(q["evidence"]) not in normalized[q["document"]]]
    extractable = len(answerable) - len(unextracted)

    results: dict[str, dict] = {}
    for mode in MODES:
        latencies = []
        ranks = []
        per_question: dict[str, list] = {}
        top_scores = []
        for q in questions:
            body = {"query": q["question"], "top_k": 10, "mode": mode}
            t0 = time.perf_counter()
            hits = api.ok("POST", f"/v1/orgs/{org}/search", body)["results"]
            latencies.append(time.perf_counter() - t0)
            per_question[q["id"]] = [{"text": h["text"], "score": h["score"], "title": h["title"]} for h in hits]
            # What a chatbot (top_k 5) compares with its min_score: the best of its passages.
            top_scores.append((q, max((h["score"] for h in hits[:5]), default=-1.0)))
            if not q["document"]:
                continue
            doc_id = ids[q["document"]]
            evidence = dataset.normalize(q["evidence"])
            ranks.append(
                (
                    q,
                    rank_of(hits, lambda h: h["document_id"] == doc_id),
                    rank_of(hits, lambda h: h["document_id"] == doc_id and evidence in dataset.normalize(h["text"])),
                )
            )
        row = {"p50_ms": statistics.median(latencies) * 1000}
        for k in (1, 5, 10):
            row[f"doc@{k}"] = sum(1 for _, d, _ in ranks if d and d <= k) / len(ranks)
            row[f"passage@{k}"] = sum(1 for _, _, p in ranks if p and p <= k) / len(ranks)
        row["mrr"] = sum(1 / p for _, _, p in ranks if p) / len(ranks)
        by_format = collections.defaultdict(list)
        formats = {d["name"]: d["format"] for d in manifest}
        for q, _, p in ranks:
            by_format[formats[q["document"]]].append(bool(p and p <= 5))
        row["passage@5_by_format"] = {f: sum(v) / len(v) for f, v in sorted(by_format.items())}
        row["misses"] = [q["id"] for q, _, p in ranks if not (p and p <= 5)]
        if args.hits:
            row["hits"] = per_question
        sweep = []
        nulls = [score for q, score in top_scores if not q["document"]]
        real = [score for q, score in top_scores if q["document"]]
        for step in range(0, 13):
            threshold = round(0.2 + 0.05 * step, 2)
            sweep.append(
                {
                    "min_score": threshold,
                    "abstention": sum(1 for x in nulls if x < threshold) / max(len(nulls), 1),
                    "answer_rate": sum(1 for x in real if x >= threshold) / max(len(real), 1),
                }
            )
        row["min_score_sweep"] = sweep
        results[mode] = row
        print(f"eval: {mode}: passage@5 {row['passage@5']:.3f} doc@5 {row['doc@5']:.3f}", file=sys.stderr)

    fusion = fusion_sweep(api, org, answerable, ids)
    answers = answer_all(api, org, answerable, unanswerable, chunks, ids, names, args)
    return {
        "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "revision": subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip(),
        "settings": settings,
        "documents": len(manifest),
        "formats": dict(collections.Counter(d["format"] for d in manifest)),
        "chunks": chunk_total,
        "failed": failed,
        "ingest_secs": ingest_secs,
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "extractable": extractable,
        "unextracted": unextracted,
        "modes": results,
        "answers": answers,
        "fusion": fusion,
        "fidelity": fidelity,
        "sections": {f: round(n / total, 3) if total else 0.0 for f, (n, total) in sorted(sections.items())},
    }


def fusion_sweep(api, org, answerable, ids) -> list[dict]:
    """Passage recall@5 of reciprocal-rank fusion with the dense ranking weighted `w` and the
    keyword ranking `1 - w`, computed here from both rankings' first 20 (what the index fuses for
    five hits), to choose the weight the index then uses."""
    rankings = []
    for q in answerable:
        sides = []
        for mode in ("dense", "keyword"):
            hits = api.ok("POST", f"/v1/orgs/{org}/search", {"query": q["question"], "top_k": 20, "mode": mode})["results"]
            sides.append(hits)
        rankings.append((q, sides))
    sweep = []
    for step in range(0, 11):
        weight = round(step / 10, 1)
        found = 0
        for q, (dense, keyword) in rankings:
            fused: dict[tuple, list] = {}
            for w, side in ((weight, dense), (1 - weight, keyword)):
                for rank, hit in enumerate(side):
                    entry = fused.setdefault((hit["document_id"], hit["ordinal"]), [0.0, hit])
                    entry[0] += w / (60 + rank + 1)
            top = sorted(fused.values(), key=lambda e: -e[0])[:5]
            evidence = dataset.normalize(q["evidence"])
            doc_id = ids[q["document"]]
            found += any(h["document_id"] == doc_id and evidence in dataset.normalize(h["text"]) for _, h in top)
        sweep.append({"dense_weight": weight, "passage@5": found / len(rankings)})
    return sweep


def answer_all(api, org, answerable, unanswerable, chunks, ids, names, args) -> dict:
    provider = api.ok("POST", f"/v1/orgs/{org}/providers", {"name": "Offline", "kind": "extractive"})
    retrieval = {"min_score": args.min_score} if args.min_score is not None else {}
    bot = api.ok(
        "POST", f"/v1/orgs/{org}/chatbots",
        {"name": "Eval", "provider_id": provider["id"], "fallback_answer": FALLBACK, "retrieval": retrieval},
    )
    answered = cited = abstained = 0
    base = f"/v1/orgs/{org}/chatbots/{bot['id']}/conversations"
    for q in answerable + unanswerable:
        conversation = api.ok("POST", base, {})["conversation"]["id"]
        message = api.ok("POST", f"{base}/{conversation}/messages", {"content": q["question"]})["message"]
        fell_back = message["content"].strip() == FALLBACK
        if not q["document"]:
            abstained += fell_back
            continue
        if fell_back:
            continue
        answered += 1
        used = {int(n) for n in MARKER.findall(message["content"])}
        evidence = dataset.normalize(q["evidence"])
        for citation in message["citations"]:
            if used and citation["n"] not in used:
                continue
            name = names.get(citation["document_id"])
            text = chunks.get(name, {}).get(citation["ordinal"], "")
            if name == q["document"] and evidence in dataset.normalize(text):
                cited += 1
                break
    return {
        "min_score": bot["retrieval"]["min_score"],
        "abstention": abstained / len(unanswerable) if unanswerable else 1.0,
        "answer_rate": answered / len(answerable),
        "citation_accuracy": cited / answered if answered else 0.0,
    }


def table(result: dict) -> str:
    lines = [
        f"Last run: {result['when']}, revision `{result['revision']}`, {os.cpu_count()} cores "
        f"({platform.machine()}), release build, settings {result['settings'] or 'default'}.",
        "",
        f"Corpus: {result['documents']} documents {result['formats']}, {result['chunks']} chunks, "
        f"ingested in {result['ingest_secs']:.0f} s; {len(result['failed'])} failed {result['failed'] or ''}. "
        f"Questions: {result['answerable']} answerable ({result['extractable']} with their evidence "
        f"in docent's extracted text), {result['unanswerable']} unanswerable.",
        "",
        "| retrieval | passage@1 | passage@5 | passage@10 | MRR@10 | doc@1 | doc@5 | doc@10 | p50 search |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, row in result["modes"].items():
        label = {"keyword": "BM25 alone", "dense": "dense alone", "hybrid": "hybrid (RRF)"}[mode]
        lines.append(
            f"| {label} | {row['passage@1']:.3f} | {row['passage@5']:.3f} | {row['passage@10']:.3f} | "
            f"{row['mrr']:.3f} | {row['doc@1']:.3f} | {row['doc@5']:.3f} | {row['doc@10']:.3f} | "
            f"{row['p50_ms']:.1f} ms |"
        )
    formats = sorted({f for row in result["modes"].values() for f in row["passage@5_by_format"]})
    lines += ["", "Passage recall@5 by format:", "", "| retrieval | " + " | ".join(formats) + " |",
              "|---|" + "---|" * len(formats)]
    for mode, row in result["modes"].items():
        lines.append(f"| {mode} | " + " | ".join(f"{row['passage@5_by_format'].get(f, 0):.3f}" for f in formats) + " |")
    lines += [
        "",
        "The fallback against `min_score` (the best dense score among a chatbot's five hybrid passages):",
        "",
        *sweep_table(
            result["modes"]["hybrid"]["min_score_sweep"],
            [("min_score", "min_score", ".2f"), ("abstention", "abstention", ".2f"), ("answer rate", "answer_rate", ".2f")],
        ),
        "",
        "Passage recall@5 of the fusion by the dense ranking's weight (0: keyword alone, 1: dense alone;",
        "computed by the harness from both rankings' first 20):",
        "",
        *sweep_table(result["fusion"], [("dense weight", "dense_weight", ".1f"), ("passage@5", "passage@5", ".3f")]),
    ]
    a = result["answers"]
    lines += [
        "",
        f"Answers (the built-in extractive answerer, `min_score` {a['min_score']:.2f}): abstention "
        f"{a['abstention']:.3f} (unanswerable questions given the fallback), answer rate "
        f"{a['answer_rate']:.3f} (answerable questions not given it), citation accuracy "
        f"{a['citation_accuracy']:.3f}.",
        "",
        "Chunks carrying a section (heading path) by format: "
        + ", ".join(f"{f} {share:.0%}" for f, share in result.get("sections", {}).items())
        + ".",
        "",
        "PDF extraction fidelity (share of `pdftotext`'s words in docent's text; of those spelled with",
        "ff, fi or fl, which LaTeX sets as ligatures):",
        "",
        "| PDF | producer | words | kept | ff/fi/fl words | kept |",
        "|---|---|---|---|---|---|",
    ]
    for f in result["fidelity"]:
        lines.append(
            f"| {f['name']} | {f['producer']} | {f['words']} | {f['share'] * 100:.1f} % | "
            f"{f['ligature_words']} | {f['ligatures'] * 100:.1f} % |"
        )
    return "\n".join(lines)


def sweep_table(rows: list[dict], fields: list[tuple[str, str, str]]) -> list[str]:
    """A sweep as a Markdown table with one column per setting: the first field heads the
    columns, each other field is a row (label, key in `rows`, format)."""
    lines = []
    for i, (label, key, fmt) in enumerate(fields):
        lines.append(f"| {label} | " + " | ".join(format(row[key], fmt) for row in rows) + " |")
        if i == 0:
            lines.append("|---|" + "---|" * len(rows))
    return lines


def write_docs(text: str) -> None:
    path = REPO / "docs/quality.md"
    content = path.read_text(encoding="utf-8")
    begin, end = "<!-- eval:begin -->", "<!-- eval:end -->"
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{text}\n{end}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/docent/target"))
    parser.add_argument("--binary", default=os.environ.get("DOCENT_EVAL_BIN", f"{target}/release/docent-api"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting, e.g. documents.chunk_tokens=300")
    parser.add_argument("--min-score", type=float, default=None, help="the chatbot's min_score (default: docent's)")
    parser.add_argument("--ingest-timeout", type=int, default=3600)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--hits", action="store_true", help="with --json: every question's results too")
    parser.add_argument("--write", action="store_true", help="put the table into docs/quality.md")
    args = parser.parse_args()
    result = evaluate(args)
    text = table(result)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.write:
        write_docs(text)


if __name__ == "__main__":
    main()
