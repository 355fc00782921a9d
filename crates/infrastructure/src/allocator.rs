//! glibc's allocator gives each thread that allocates at the same time as another an arena of its
//! own, up to eight per core, and memory freed in one arena is not reused by another. A docent
//! process has many such threads (the runtime's workers, the blocking pool that embeds and
//! extracts, one thread per SQLite connection, ONNX Runtime's pool), so after an ingestion its
//! resident set stayed well above what it was using. glibc reads its limit, `MALLOC_ARENA_MAX`,
//! only when the process starts, and setting it from inside would take `mallopt` (unsafe code,
//! which this workspace forbids): so the binaries start again, once, with it set.

/// The arenas a docent process's allocator may use unless `MALLOC_ARENA_MAX` says otherwise. Two
/// (one per core on the reference machine) kept the peak while ingesting at 421 MB instead of 537
/// MB and what stayed after it at 325 MB instead of 381 MB, at the same speed (ADR 0009).
pub const ARENAS: &str = "2";

/// The variable glibc reads.
const VARIABLE: &str = "MALLOC_ARENA_MAX";

/// Replaces this process with the same binary, arguments and environment plus
/// `MALLOC_ARENA_MAX=`[`ARENAS`], when the variable is not set and the C library is glibc. Call it
/// first in `main`, before any thread starts. Returns when nothing was to be done, or when the
/// binary cannot be started again (it then runs with glibc's default, and says so).
pub fn bound_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt as _;

        if std::env::var_os(VARIABLE).is_some() {
            return;
        }
        let Ok(binary) = std::env::current_exe() else {
            return;
        };
        let mut arguments = std::env::args_os();
        let mut command = std::process::Command::new(&binary);
        if let Some(name) = arguments.next() {
            command.arg0(name);
        }
        // `exec` returns only if it failed.
        let error = command.args(arguments).env(VARIABLE, ARENAS).exec();
        eprintln!(
            "docent: could not start {} again with {VARIABLE}={ARENAS} ({error}); going on with \
             glibc's default arenas",
            binary.display()
        );
    }
}
