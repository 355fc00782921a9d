//! Running a parser where it cannot hurt its caller: on its own thread, with panics caught and a
//! time budget. A parser that overruns its budget is abandoned (its thread finishes or dies on its
//! own; the caller moves on), so one hostile file cannot hang the worker.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

use super::{ExtractError, Extracted, Limits, extract};

/// The stack of an extraction thread: generous, since parsers may recurse.
const STACK_BYTES: usize = 16 * 1024 * 1024;

/// [`extract`] on a separate thread with panic isolation and `limits.time_budget`.
pub fn extract_isolated(
    bytes: Vec<u8>,
    name: Option<String>,
    limits: Limits,
) -> Result<Extracted, ExtractError> {
    let budget = limits.time_budget;
    run_isolated(budget, move || extract(&bytes, name.as_deref(), &limits))
}

/// Runs `job` on its own thread; a panic becomes `Damaged`, overrunning `budget` becomes
/// `Timeout`.
pub(crate) fn run_isolated<F>(budget: Duration, job: F) -> Result<Extracted, ExtractError>
where
    F: FnOnce() -> Result<Extracted, ExtractError> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("docent-extract".to_owned())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(job));
            // The receiver may have given up waiting; nothing to do then.
            let _ = sender.send(outcome);
        });
    if let Err(error) = spawned {
        return Err(ExtractError::Damaged(format!(
            "cannot start the parser: {error}"
        )));
    }
    match receiver.recv_timeout(budget) {
        Ok(Ok(result)) => result,
        Ok(Err(_panic)) => Err(ExtractError::Damaged(
            "the parser crashed on this file".to_owned(),
        )),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ExtractError::Timeout(budget)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ExtractError::Damaged(
            "the parser stopped without an answer".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::panic)]
    fn a_panicking_parser_becomes_an_error() {
        let result = run_isolated(Duration::from_secs(5), || panic!("hostile input"));
        assert_eq!(result.unwrap_err().code(), "extract_error");
    }

    #[test]
    fn a_hanging_parser_is_abandoned_after_its_budget() {
        let started = std::time::Instant::now();
        let result = run_isolated(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(3));
            Err(ExtractError::EmptyText)
        });
        assert_eq!(result.unwrap_err().code(), "extract_timeout");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
