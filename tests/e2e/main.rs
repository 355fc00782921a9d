//! The end-to-end test binary: every test boots the real API (real services, real database, real
//! mail files) on port 0 and talks HTTP to it. One binary keeps link time down.

// Test helpers fail loudly, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abuse;
mod access;
mod architecture;
mod audit;
mod auth_flow;
mod chat;
mod containment;
mod documents;
mod keys;
mod logs;
mod misuse;
mod ops;
mod providers;
mod purge;
mod support;
mod web;
mod widget;
