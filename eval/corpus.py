#!/usr/bin/env python3
"""Builds docent's evaluation corpus from packages any machine of this kind can fetch.

Documents come from Debian packages (git's HTML manual pages and how-tos, LaTeX's and R's manuals,
gnuplot's manual, iso-codes) and from the sdist of Black on PyPI (its Markdown documentation).
Some are converted the way users make such files: DOCX by pandoc, PDF by LibreOffice (an office
suite) and by Chromium's print to PDF (a browser), CSV from iso-codes' JSON. Nothing is committed:
the corpus is rebuilt into DOCENT_EVAL_DIR (default ~/.cache/docent/eval) and reused when present.

Beside each document the script writes a reference text (`text/<name>.txt`): `pdftotext` for PDFs
(poppler, the fidelity reference), pandoc's plain text for HTML and DOCX, the file itself for
Markdown and CSV. Questions' evidence phrases are checked against it.

    python3 eval/corpus.py            # build (idempotent)
    python3 eval/corpus.py --list     # print the manifest
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(os.environ.get("DOCENT_EVAL_DIR", Path.home() / ".cache/docent/eval"))
DEBS = ["git-doc", "texlive-latex-base-doc", "r-doc-pdf", "gnuplot-doc", "iso-codes"]
BLACK = "black==24.10.0"
# Tools the build needs, by Debian package.
TOOLS = {
    "pandoc": "pandoc",
    "soffice": "libreoffice-writer-nogui",
    "chromium": "chromium",
    "pdftotext": "poppler-utils",
}

GIT_HTML = """git-add git-am git-bisect git-blame git-branch git-bundle git-cherry-pick git-clean
git-clone git-commit git-config git-describe git-diff git-fetch git-format-patch git-gc git-grep
git-init git-log git-merge git-mv git-notes git-pull git-push git-range-diff git-rebase git-reflog
git-remote git-reset git-restore git-revert git-rm git-send-email git-shortlog git-show
git-sparse-checkout git-stash git-status git-submodule git-switch git-tag git-worktree gitignore
gitattributes githooks""".split()
# Printed to PDF by the browser.
GIT_PRINTED = "gittutorial giteveryday gitworkflows gitfaq gitglossary".split()
# How-tos converted to DOCX by pandoc, and (the second list) on to PDF by LibreOffice.
HOWTO_DOCX = """revert-a-faulty-merge rebase-from-internal-branch separating-topic-branches
using-merge-subtree setup-git-server-over-http recover-corrupted-blob-object""".split()
HOWTO_OFFICE = """keep-canonical-history-correct use-git-daemon update-hook-example
revert-branch-rebase using-signed-tag-in-pull-request""".split()
# Made by LaTeX (pdfTeX), as shipped.
LATEX_PDF = {
    "latex-usrguide.pdf": "usr/share/doc/texlive-doc/latex/base/usrguide.pdf",
    "latex-clsguide.pdf": "usr/share/doc/texlive-doc/latex/base/clsguide.pdf",
    "latex-fntguide.pdf": "usr/share/doc/texlive-doc/latex/base/fntguide.pdf",
    "latex-cfgguide.pdf": "usr/share/doc/texlive-doc/latex/base/cfgguide.pdf",
    "latex-amsldoc.pdf": "usr/share/doc/texlive-doc/latex/amsmath/amsldoc.pdf",
    "latex-fancyhdr.pdf": "usr/share/doc/texlive-doc/latex/fancyhdr/fancyhdr.pdf",
    "latex-natnotes.pdf": "usr/share/doc/texlive-doc/latex/natbib/natnotes.pdf",
    "R-intro.pdf": "usr/share/R/doc/manual/R-intro.pdf",
    "R-admin.pdf": "usr/share/R/doc/manual/R-admin.pdf",
    "R-data.pdf": "usr/share/R/doc/manual/R-data.pdf",
    "gnuplot.pdf": "usr/share/doc/gnuplot/gnuplot.pdf",
}
BLACK_MD = """faq getting_started the_black_code_style/current_style the_black_code_style/future_style
usage_and_configuration/the_basics usage_and_configuration/file_collection_and_discovery
usage_and_configuration/black_as_a_server usage_and_configuration/black_docker_image
integrations/editors integrations/github_actions integrations/source_version_control
guides/introducing_black_to_your_project guides/using_black_with_other_tools contributing/the_basics
contributing/release_process contributing/gauging_changes contributing/issue_triage""".split()


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, **kwargs)


def ensure_tools() -> None:
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    print(f"corpus: installing {' '.join(missing)} from Debian's packages", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def fetch_packages() -> Path:
    pkgs = ROOT / "packages"
    marker = pkgs / ".done"
    if marker.exists():
        return pkgs
    debs = ROOT / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    print("corpus: fetching Debian packages", file=sys.stderr)
    run("apt-get", "download", *DEBS, cwd=debs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pkgs.mkdir(parents=True, exist_ok=True)
    for deb in sorted(debs.glob("*.deb")):
        run("dpkg-deb", "-x", str(deb), str(pkgs))
    print("corpus: fetching the Black sdist from PyPI", file=sys.stderr)
    run(
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary=:all:",
        "--disable-pip-version-check", BLACK, "-d", str(ROOT / "sdist"),
    )
    sdist = next((ROOT / "sdist").glob("black-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        tar.extractall(pkgs / "black", filter="data")
    marker.touch()
    return pkgs


def chromium_pdf(html: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        run(
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--no-pdf-header-footer",
            f"--print-to-pdf={out}", html.as_uri(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
        )


def office_pdf(docx: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        run(
            "soffice", f"-env:UserInstallation=file://{work}/profile", "--headless",
            "--convert-to", "pdf", "--outdir", work, str(docx),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300,
        )
        shutil.move(Path(work) / (docx.stem + ".pdf"), out)


def iso_csv(source: Path, key: str, columns: list[tuple[str, str]], out: Path) -> None:
    rows = json.loads(source.read_text(encoding="utf-8"))[key]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([header for header, _ in columns])
    for row in rows:
        writer.writerow([row.get(field, "") for _, field in columns])
    out.write_text(buffer.getvalue(), encoding="utf-8")


def build() -> list[dict]:
    ensure_tools()
    pkgs = fetch_packages()
    docs = ROOT / "corpus"
    docs.mkdir(parents=True, exist_ok=True)
    git = pkgs / "usr/share/doc/git-doc"
    manifest: list[dict] = []

    def add(name: str, fmt: str, producer: str, make) -> None:
        out = docs / name
        if not out.exists():
            print(f"corpus: {name}", file=sys.stderr)
            tmp = out.with_name(out.name + ".part")
            make(tmp)
            tmp.rename(out)
        manifest.append({"name": name, "format": fmt, "producer": producer})

    for page in GIT_HTML:
        add(f"{page}.html", "html", "asciidoc", lambda out, p=page: shutil.copy(git / f"{p}.html", out))
    for page in GIT_PRINTED:
        add(f"{page}.pdf", "pdf", "chromium", lambda out, p=page: chromium_pdf(git / f"{p}.html", out))
    for howto in HOWTO_DOCX:
        add(
            f"howto-{howto}.docx", "docx", "pandoc",
            lambda out, h=howto: run("pandoc", "-f", "html", "-t", "docx", "-o", str(out), str(git / "howto" / f"{h}.html")),
        )

    def via_office(out: Path, howto: str) -> None:
        with tempfile.TemporaryDirectory() as work:
            docx = Path(work) / f"howto-{howto}.docx"
            run("pandoc", "-f", "html", "-t", "docx", "-o", str(docx), str(git / "howto" / f"{howto}.html"))
            office_pdf(docx, out)

    for howto in HOWTO_OFFICE:
        add(f"howto-{howto}.pdf", "pdf", "libreoffice", lambda out, h=howto: via_office(out, h))
    for name, path in LATEX_PDF.items():
        add(name, "pdf", "pdftex", lambda out, p=path: shutil.copy(pkgs / p, out))
    black = next((pkgs / "black").glob("black-*")) / "docs"
    for page in BLACK_MD:
        add(
            "black-" + page.replace("/", "-") + ".md", "markdown", "hand-written",
            lambda out, p=page: shutil.copy(black / f"{p}.md", out),
        )
    iso = pkgs / "usr/share/iso-codes/json"
    add(
        "iso-3166-countries.csv", "csv", "iso-codes",
        lambda out: iso_csv(
            iso / "iso_3166-1.json", "3166-1",
            [("alpha_2", "alpha_2"), ("alpha_3", "alpha_3"), ("numeric", "numeric"),
             ("name", "name"), ("official_name", "official_name"), ("common_name", "common_name")],
            out,
        ),
    )
    add(
        "iso-4217-currencies.csv", "csv", "iso-codes",
        lambda out: iso_csv(
            iso / "iso_4217.json", "4217",
            [("alpha_3", "alpha_3"), ("numeric", "numeric"), ("name", "name")], out,
        ),
    )
    add(
        "iso-15924-scripts.csv", "csv", "iso-codes",
        lambda out: iso_csv(
            iso / "iso_15924.json", "15924",
            [("alpha_4", "alpha_4"), ("numeric", "numeric"), ("name", "name")], out,
        ),
    )
    write_references(docs, manifest)
    (ROOT / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def write_references(docs: Path, manifest: list[dict]) -> None:
    texts = ROOT / "text"
    texts.mkdir(exist_ok=True)
    for doc in manifest:
        out = texts / (doc["name"] + ".txt")
        if out.exists():
            continue
        source = docs / doc["name"]
        if doc["format"] == "pdf":
            run("pdftotext", "-enc", "UTF-8", str(source), str(out))
        elif doc["format"] in ("html", "docx"):
            fmt = "html" if doc["format"] == "html" else "docx"
            run("pandoc", "-f", fmt, "-t", "plain", "--wrap=none", "-o", str(out), str(source))
        else:
            shutil.copy(source, out)


def main() -> None:
    manifest = build()
    if "--list" in sys.argv:
        for doc in manifest:
            print(f"{doc['format']:9} {doc['producer']:13} {doc['name']}")
    by_format: dict[str, int] = {}
    for doc in manifest:
        by_format[doc["format"]] = by_format.get(doc["format"], 0) + 1
    print(f"corpus: {len(manifest)} documents in {ROOT / 'corpus'} ({by_format})", file=sys.stderr)


if __name__ == "__main__":
    main()
