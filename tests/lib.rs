//! Test support for the end-to-end binary lives in `e2e/`; this library is intentionally empty.
