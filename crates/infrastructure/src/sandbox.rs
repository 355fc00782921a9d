//! The extraction sandbox: documents are extracted and chunked in a child process — the same
//! binary, started with [`CHILD_ARG`] — that limits itself (CPU time, address space, no files
//! written) before it reads a byte of the document, and that the parent kills when its wall-clock
//! deadline passes. The child inherits no environment (so no secrets), reads a job line and the
//! document's bytes from stdin, and writes its result as JSON lines to stdout: first how many
//! chunks there are (or why the document failed), then the chunks, then an end mark. The parent
//! reads the chunks in batches, at the pace it embeds them.
//!
//! A crash, a kill, an out-of-memory or a timeout ends as an [`ExtractError`] with its own code
//! (`extract_error`, `extract_memory`, `extract_timeout`), and nothing keeps running: the child is
//! killed when the parent gives up on it or drops it. That also makes it safe to use C or C++
//! parsers later.

use std::ffi::OsString;
use std::io::{BufRead as _, Read as _, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use docent_documents::chunk::{Chunk, Chunker};
use docent_documents::extract::{
    ExtractError, Limits, MediaType, extract_as, extract_as_with, sniff,
};
use docent_documents::ports::{ByteStream, ChunkSource, ExtractFailure, ExtractRequest, Extractor};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// The first argument that makes a docent binary run as an extraction child.
pub const CHILD_ARG: &str = "__docent-extract";

/// The longest line the parent reads from the child (a chunk is a few kilobytes).
const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
/// The longest job line the child reads.
const MAX_JOB_BYTES: u64 = 64 * 1024;
/// How much of the child's stderr is kept to explain a failure.
const MAX_STDERR_BYTES: u64 = 64 * 1024;
/// How long the child may take to hand over the next batch once its document is chunked (it only
/// serializes by then).
const BATCH_TIMEOUT: Duration = Duration::from_secs(120);
/// The child's exit status when it ran out of memory where it could tell (allocations that fail
/// elsewhere abort it, with the allocator's message on stderr).
const OUT_OF_MEMORY_EXIT: u8 = 77;

/// What the sandbox may spend on one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSettings {
    /// The tokenizer chunks are measured with (`tokenizer.json`).
    pub tokenizer: PathBuf,
    /// The most tokens per chunk.
    pub chunk_tokens: usize,
    /// Tokens a chunk shares with the one before it.
    pub chunk_overlap: usize,
    /// Wall-clock time from start until the document is chunked; CPU time is limited to the same.
    pub deadline: Duration,
    /// The child's address-space limit, in bytes.
    pub memory_bytes: u64,
    /// The most bytes a document may have (the upload limit).
    pub max_input_bytes: u64,
    /// PDFium's shared library, loaded by the child to read PDFs; `None`: the built-in reader.
    pub pdfium: Option<PathBuf>,
}

/// The job line the parent sends.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    file_name: Option<String>,
    /// The document's title, which chunks leave room for.
    #[serde(default)]
    title: Option<String>,
    limits: Limits,
    tokenizer: PathBuf,
    chunk_tokens: usize,
    chunk_overlap: usize,
    cpu_secs: u64,
    memory_bytes: u64,
    max_input_bytes: u64,
    pdfium: Option<PathBuf>,
}

/// One line the child writes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Frame {
    /// The document is chunked: its type and how many chunks follow.
    Chunked { media_type: String, total: u32 },
    /// One chunk.
    Chunk(Chunk),
    /// Every chunk was sent.
    End,
    /// The document failed.
    Failed(ExtractError),
}

/// Runs extraction in child processes of `program`.
#[derive(Debug, Clone)]
pub struct SandboxedExtractor {
    program: PathBuf,
    args: Vec<OsString>,
    settings: SandboxSettings,
}

impl SandboxedExtractor {
    /// Children of `program` started with `args` (which must make it call [`child_main`]; the
    /// docent binaries do for [`CHILD_ARG`]).
    #[must_use]
    pub fn new(program: PathBuf, args: Vec<OsString>, settings: SandboxSettings) -> Self {
        Self {
            program,
            args,
            settings,
        }
    }

    /// Children of the running binary, which takes [`CHILD_ARG`] (`docent-api`, `docent-worker`).
    pub fn of_this_binary(settings: SandboxSettings) -> Result<Self, String> {
        let program = std::env::current_exe()
            .map_err(|e| format!("cannot find the running binary for the sandbox: {e}"))?;
        Ok(Self::new(program, vec![CHILD_ARG.into()], settings))
    }

    fn job(&self, request: ExtractRequest) -> Job {
        Job {
            file_name: request.file_name,
            title: request.title,
            limits: request.limits,
            tokenizer: self.settings.tokenizer.clone(),
            chunk_tokens: self.settings.chunk_tokens,
            chunk_overlap: self.settings.chunk_overlap,
            cpu_secs: self.settings.deadline.as_secs().max(1),
            memory_bytes: self.settings.memory_bytes,
            max_input_bytes: self.settings.max_input_bytes,
            pdfium: self.settings.pdfium.clone(),
        }
    }
}

fn unavailable(what: &str, error: impl std::fmt::Display) -> ExtractFailure {
    ExtractFailure::Unavailable(format!("{what}: {error}"))
}

/// Reads one line of at most [`MAX_LINE_BYTES`]; `None` at the end.
async fn read_line(reader: &mut BufReader<ChildStdout>) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((!line.is_empty()).then_some(line));
        }
        let (taken, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (end + 1, true),
            None => (available.len(), false),
        };
        line.extend_from_slice(&available[..taken]);
        reader.consume(taken);
        if done {
            line.pop();
            return Ok(Some(line));
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(std::io::Error::other("the sandbox wrote an overlong line"));
        }
    }
}

/// A running child and what it said so far.
struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: tokio::task::JoinHandle<String>,
    settings: SandboxSettings,
}

impl Running {
    async fn next_frame(&mut self) -> Result<Option<Frame>, ExtractFailure> {
        let line = read_line(&mut self.stdout)
            .await
            .map_err(|e| ExtractFailure::Document(ExtractError::Damaged(e.to_string())))?;
        line.map(|line| {
            serde_json::from_slice(&line).map_err(|e| {
                ExtractFailure::Document(ExtractError::Damaged(format!(
                    "the sandbox answered something unreadable: {e}"
                )))
            })
        })
        .transpose()
    }

    /// Why the child stopped without finishing: waits for it and reads its exit and stderr.
    async fn died(&mut self) -> ExtractFailure {
        let status = self.child.wait().await;
        let stderr = (&mut self.stderr).await.unwrap_or_default();
        let memory = stderr.contains("memory allocation of")
            || stderr.contains("out of memory")
            || stderr.contains("Cannot allocate memory")
            || status
                .as_ref()
                .is_ok_and(|s| s.code() == Some(i32::from(OUT_OF_MEMORY_EXIT)));
        let error = match status {
            _ if memory => ExtractError::OutOfMemory(self.settings.memory_bytes / (1024 * 1024)),
            // SIGXCPU at the CPU limit (SIGKILL a second later if it were ignored).
            Ok(status) if status.signal() == Some(24) => {
                ExtractError::Timeout(self.settings.deadline)
            }
            // Killed by the kernel's out-of-memory killer (docent kills only after its deadline,
            // which it reports itself).
            Ok(status) if status.signal() == Some(9) => {
                ExtractError::OutOfMemory(self.settings.memory_bytes / (1024 * 1024))
            }
            Ok(status) => {
                tracing::warn!(%status, stderr = %stderr.trim(), "the extraction sandbox stopped without an answer");
                ExtractError::Damaged(format!(
                    "the parser stopped on this file without an answer ({status})"
                ))
            }
            Err(e) => return unavailable("waiting for the sandbox", e),
        };
        ExtractFailure::Document(error)
    }

    /// Kills the child (it overran its deadline) and reaps it.
    async fn kill(&mut self) {
        if let Err(error) = self.child.kill().await {
            tracing::warn!(%error, "could not kill the extraction sandbox");
        }
    }
}

/// The chunks of a document the child chunked.
struct Chunks {
    running: Running,
    media_type: MediaType,
    total: u32,
    received: u32,
    finished: bool,
}

#[async_trait]
impl ChunkSource for Chunks {
    fn media_type(&self) -> MediaType {
        self.media_type
    }

    fn total(&self) -> u32 {
        self.total
    }

    async fn next_batch(&mut self, max: usize) -> Result<Vec<Chunk>, ExtractFailure> {
        let mut batch = Vec::with_capacity(max.min(1024));
        while !self.finished && batch.len() < max.max(1) {
            let frame = match tokio::time::timeout(BATCH_TIMEOUT, self.running.next_frame()).await {
                Ok(frame) => frame?,
                Err(_) => {
                    self.running.kill().await;
                    return Err(ExtractFailure::Unavailable(
                        "the sandbox stopped handing over chunks".to_owned(),
                    ));
                }
            };
            match frame {
                Some(Frame::Chunk(chunk)) if chunk.ordinal == self.received => {
                    self.received += 1;
                    batch.push(chunk);
                }
                Some(Frame::End) if self.received == self.total => {
                    self.finished = true;
                    // Reap the child; it exits right after the end mark.
                    if let Err(error) = self.running.child.wait().await {
                        tracing::warn!(%error, "could not reap the extraction sandbox");
                    }
                }
                None => return Err(self.running.died().await),
                Some(Frame::Chunk(_) | Frame::End | Frame::Chunked { .. } | Frame::Failed(_)) => {
                    self.running.kill().await;
                    return Err(ExtractFailure::Document(ExtractError::Damaged(
                        "the sandbox's chunks came out of order".to_owned(),
                    )));
                }
            }
        }
        Ok(batch)
    }
}

/// Copies `bytes` into the child's stdin after the job line. A blob-store failure is reported;
/// a child that stopped reading is not (its exit tells why).
async fn feed(
    mut stdin: tokio::process::ChildStdin,
    job: Vec<u8>,
    mut bytes: ByteStream,
) -> Result<(), ExtractFailure> {
    if stdin.write_all(&job).await.is_err() {
        return Ok(());
    }
    while let Some(piece) = bytes.next().await {
        let piece = piece.map_err(|e| unavailable("reading the document", e))?;
        if stdin.write_all(&piece).await.is_err() {
            return Ok(());
        }
    }
    // Dropping stdin closes it: the child's end of input.
    let _ = stdin.shutdown().await;
    Ok(())
}

#[async_trait]
impl Extractor for SandboxedExtractor {
    async fn start(
        &self,
        bytes: ByteStream,
        request: ExtractRequest,
    ) -> Result<Box<dyn ChunkSource>, ExtractFailure> {
        let deadline = tokio::time::Instant::now() + self.settings.deadline;
        let mut job = serde_json::to_vec(&self.job(request))
            .map_err(|e| unavailable("writing the sandbox's job", e))?;
        job.push(b'\n');
        let mut child = Command::new(&self.program)
            .args(&self.args)
            // No environment: nothing the child could leak.
            .env_clear()
            .env("TOKENIZERS_PARALLELISM", "false")
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| unavailable("starting the sandbox", e))?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ExtractFailure::Unavailable(
                "the sandbox has no pipes".to_owned(),
            ));
        };
        let stderr = tokio::spawn(async move {
            let mut kept = Vec::new();
            let _ = (&mut stderr)
                .take(MAX_STDERR_BYTES)
                .read_to_end(&mut kept)
                .await;
            // Keep draining so the child never blocks on a full stderr pipe.
            let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
            String::from_utf8_lossy(&kept).into_owned()
        });
        let feeding = tokio::spawn(feed(stdin, job, bytes));
        let mut running = Running {
            child,
            stdout: BufReader::new(stdout),
            stderr,
            settings: self.settings.clone(),
        };
        // The child reads all its input before it says anything, so the feeding is over by the
        // time the first frame arrives (or the deadline passes).
        let first = tokio::time::timeout_at(deadline, running.next_frame()).await;
        let first = match first {
            Ok(first) => first,
            Err(_) => {
                running.kill().await;
                feeding.abort();
                return Err(ExtractError::Timeout(self.settings.deadline).into());
            }
        };
        match feeding.await {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => {
                running.kill().await;
                return Err(failure);
            }
            Err(e) => {
                running.kill().await;
                return Err(unavailable("feeding the sandbox", e));
            }
        }
        match first? {
            Some(Frame::Chunked { media_type, total }) => {
                let media_type = MediaType::from_mime(&media_type).ok_or_else(|| {
                    ExtractFailure::Document(ExtractError::Damaged(format!(
                        "the sandbox named an unknown type {media_type}"
                    )))
                })?;
                Ok(Box::new(Chunks {
                    running,
                    media_type,
                    total,
                    received: 0,
                    finished: false,
                }))
            }
            Some(Frame::Failed(error)) => {
                let _ = running.child.wait().await;
                Err(error.into())
            }
            Some(Frame::Chunk(_) | Frame::End) => {
                running.kill().await;
                Err(ExtractError::Damaged("the sandbox answered out of order".to_owned()).into())
            }
            None => Err(running.died().await),
        }
    }
}

/// Limits the current process: `cpu_secs` of CPU time (SIGXCPU, then SIGKILL a second later),
/// `memory_bytes` of address space, and no file it may write.
fn limit_self(cpu_secs: u64, memory_bytes: u64) -> Result<(), String> {
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_CPU, cpu_secs, cpu_secs.saturating_add(1))
        .map_err(|e| format!("RLIMIT_CPU: {e}"))?;
    setrlimit(Resource::RLIMIT_AS, memory_bytes, memory_bytes)
        .map_err(|e| format!("RLIMIT_AS: {e}"))?;
    setrlimit(Resource::RLIMIT_FSIZE, 0, 0).map_err(|e| format!("RLIMIT_FSIZE: {e}"))?;
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|e| format!("RLIMIT_CORE: {e}"))?;
    Ok(())
}

/// Writes the child's answer for one job.
fn answer(job: &Job, bytes: &[u8], out: &mut impl std::io::Write) -> std::io::Result<()> {
    let chunked = chunk(job, bytes);
    let (media_type, chunks) = match chunked {
        Ok(chunked) => chunked,
        Err(error) => return writeln!(out, "{}", json(&Frame::Failed(error))),
    };
    let header = Frame::Chunked {
        media_type: media_type.mime().to_owned(),
        total: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
    };
    writeln!(out, "{}", json(&header))?;
    for chunk in chunks {
        writeln!(out, "{}", json(&Frame::Chunk(chunk)))?;
    }
    writeln!(out, "{}", json(&Frame::End))?;
    out.flush()
}

/// Extracts the text first (a file that fails there costs no tokenizer), then chunks it.
fn chunk(job: &Job, bytes: &[u8]) -> Result<(MediaType, Vec<Chunk>), ExtractError> {
    let media_type = sniff(bytes, job.file_name.as_deref())?;
    let extracted = match &job.pdfium {
        // Loaded only for PDFs, in this child only: whatever PDFium does ends with it.
        Some(library) if media_type == MediaType::Pdf => {
            let pdfium =
                crate::pdfium::PdfiumEngine::load(library).map_err(ExtractError::Damaged)?;
            extract_as_with(media_type, bytes, &job.limits, &pdfium)?
        }
        _ => extract_as(media_type, bytes, &job.limits)?,
    };
    let tokenizer = std::fs::read(&job.tokenizer).map_err(|e| {
        if e.kind() == std::io::ErrorKind::OutOfMemory {
            return ExtractError::OutOfMemory(job.memory_bytes / (1024 * 1024));
        }
        ExtractError::Damaged(format!(
            "the sandbox cannot read the tokenizer {}: {e}",
            job.tokenizer.display()
        ))
    })?;
    let chunker = Chunker::new(&tokenizer, job.chunk_tokens, job.chunk_overlap)
        .map_err(ExtractError::Damaged)?;
    let chunks = chunker.chunk_titled(&extracted, job.title.as_deref());
    if chunks.is_empty() {
        return Err(ExtractError::EmptyText);
    }
    Ok((extracted.media_type, chunks))
}

fn json(frame: &Frame) -> String {
    // Serializing these plain structs cannot fail.
    serde_json::to_string(frame).unwrap_or_else(|_| r#""end""#.to_owned())
}

/// The child's side: call it first thing in `main` when the first argument is [`CHILD_ARG`].
/// Reads the job and the document from stdin, limits itself, extracts and chunks, and writes the
/// answer to stdout.
#[must_use]
pub fn child_main() -> ExitCode {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    if (&mut input)
        .take(MAX_JOB_BYTES)
        .read_until(b'\n', &mut line)
        .is_err()
    {
        return ExitCode::from(2);
    }
    let Ok(job) = serde_json::from_slice::<Job>(&line) else {
        let _ = writeln!(std::io::stderr(), "docent sandbox: unreadable job");
        return ExitCode::from(2);
    };
    if let Err(error) = limit_self(job.cpu_secs, job.memory_bytes) {
        let _ = writeln!(std::io::stderr(), "docent sandbox: {error}");
        return ExitCode::from(3);
    }
    let mut bytes = Vec::new();
    if let Err(error) = (&mut input)
        .take(job.max_input_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
    {
        return failed_input(&error);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if bytes.len() as u64 > job.max_input_bytes {
        let failed = Frame::Failed(ExtractError::TooLarge(format!(
            "more than {} bytes",
            job.max_input_bytes
        )));
        let _ = writeln!(out, "{}", json(&failed));
        return ExitCode::SUCCESS;
    }
    // A parser that panics fails the document, not the process's answer.
    let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        answer(&job, &bytes, &mut out)
    }));
    match answered {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(_)) => ExitCode::from(4),
        Err(_) => {
            let failed = Frame::Failed(ExtractError::Damaged(
                "the parser crashed on this file".to_owned(),
            ));
            let _ = writeln!(out, "{}", json(&failed));
            let _ = out.flush();
            ExitCode::SUCCESS
        }
    }
}

/// The child's exit for input it could not read: out of memory (it cannot hold the document), or
/// a broken pipe.
fn failed_input(error: &std::io::Error) -> ExitCode {
    if error.kind() == std::io::ErrorKind::OutOfMemory {
        // No allocation here: there is no memory left.
        let _ = std::io::stderr().write_all(b"docent sandbox: out of memory\n");
        return ExitCode::from(OUT_OF_MEMORY_EXIT);
    }
    ExitCode::from(2)
}

/// Runs [`child_main`] when this process was started as an extraction child: the binaries call
/// this first and exit with its code.
#[must_use]
pub fn child_if_requested() -> Option<ExitCode> {
    (std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new(CHILD_ARG)))
        .then(child_main)
}
