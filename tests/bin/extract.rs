//! The extraction sandbox's child for the end-to-end tests and benchmarks: they run the API inside
//! the test process, whose own binary is the test harness, so the sandbox runs this one (set as
//! `documents.extractor_program`). It is what `docent-api` and `docent-worker` do for their hidden
//! sandbox argument.

fn main() -> std::process::ExitCode {
    docent_app::sandbox::child_main()
}
