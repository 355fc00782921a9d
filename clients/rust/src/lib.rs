//! docent's HTTP API as a Rust client, generated at build time by
//! [progenitor](https://github.com/oxidecomputer/progenitor) from `openapi/openapi.json` (builder
//! style: `client.org_create().body(...).send().await`). Nothing generated is committed; see
//! `docs/clients.md` and `examples/smoke.rs`.
#![allow(
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

include!(concat!(env!("OUT_DIR"), "/codegen.rs"));
