//! The `wijkhub` binary as a child process: a fresh temporary working directory, an
//! environment cleared of the hub's own settings, captured output, and bounded waits.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::TestDb;

/// Longest a command may run before [`Cli::run`] kills it and fails the test.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the binary at `program` in its own temporary working directory.
pub struct Cli {
    program: PathBuf,
    dir: TempDir,
    env: Vec<(String, String)>,
}

impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cli")
            .field("program", &self.program)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// What a finished command did.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// The non-empty lines the command wrote to stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect()
    }
}

impl Cli {
    pub fn new(program: impl Into<PathBuf>) -> Cli {
        let dir = tempfile::Builder::new()
            .prefix("wijkhub-cli-")
            .tempdir()
            .unwrap_or_else(|error| panic!("cannot create a temporary directory: {error}"));
        Cli {
            program: program.into(),
            dir,
            env: Vec::new(),
        }
    }

    /// The child's working directory (where `./data` goes).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The names in the working directory, sorted: what the child created there.
    pub fn dir_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", self.dir.path().display()))
            .map(|entry| {
                entry
                    .unwrap_or_else(|error| panic!("cannot list the working directory: {error}"))
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// Sets an environment variable for every command run from here.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Cli {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Points the child at `db` through `DATABASE_URL`.
    pub fn database(&mut self, db: &TestDb) -> &mut Cli {
        self.env("DATABASE_URL", db.url())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Only what the test sets reaches the child: not the developer's DATABASE_URL, log
        // filter or WIJKHUB_* settings (WIJKHUB_TEST_DATABASE_URL included).
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("WIJKHUB_") || key == "DATABASE_URL" || key == "RUST_LOG" {
                command.env_remove(key.as_ref());
            }
        }
        command.env("NO_COLOR", "1");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs to completion (killed and failed after a minute).
    pub fn run(&self, args: &[&str]) -> Output {
        self.spawn(args).wait(RUN_TIMEOUT)
    }

    /// Starts the command and returns at once.
    pub fn spawn(&self, args: &[&str]) -> RunningCli {
        let mut child = self
            .command(args)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", self.program.display()));
        let stdout = Lines::collect(child.stdout.take());
        let stderr = Lines::collect(child.stderr.take());
        RunningCli {
            child: Some(child),
            stdout,
            stderr,
            started: Instant::now(),
            args: args.join(" "),
        }
    }
}

/// A child that is (or was) running. Dropping it kills the child.
pub struct RunningCli {
    child: Option<Child>,
    stdout: Lines,
    stderr: Lines,
    started: Instant,
    args: String,
}

impl std::fmt::Debug for RunningCli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningCli")
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

impl RunningCli {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits for a line on stdout matching `wanted`, failing (with all output so far) when the
    /// stream ends or `timeout` passes first.
    pub fn wait_for_stdout(&self, wanted: impl Fn(&str) -> bool, timeout: Duration) -> String {
        self.wait_for(&self.stdout, "stdout", wanted, timeout)
    }

    /// As [`RunningCli::wait_for_stdout`], on stderr (the log).
    pub fn wait_for_stderr(&self, wanted: impl Fn(&str) -> bool, timeout: Duration) -> String {
        self.wait_for(&self.stderr, "stderr", wanted, timeout)
    }

    fn wait_for(
        &self,
        lines: &Lines,
        name: &str,
        wanted: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> String {
        match lines.wait_for(wanted, timeout) {
            Ok(line) => line,
            Err(why) => panic!(
                "`wijkhub {}`: no such line on {name} ({why})\n--- stdout\n{}\n--- stderr\n{}",
                self.args,
                self.stdout.text(),
                self.stderr.text()
            ),
        }
    }

    /// The address from the `wijkhub listening on http://ADDR` line.
    pub fn listening_addr(&self, timeout: Duration) -> SocketAddr {
        const PREFIX: &str = "wijkhub listening on http://";
        let line = self.wait_for_stdout(|line| line.starts_with(PREFIX), timeout);
        line[PREFIX.len()..]
            .trim()
            .parse()
            .unwrap_or_else(|error| panic!("not an address in {line:?}: {error}"))
    }

    /// Sends SIGTERM, as an orchestrator stopping the hub does (`kill -TERM PID`).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap_or_else(|error| panic!("cannot run kill: {error}"));
        assert!(
            status.success(),
            "kill -TERM {} failed: {status}",
            self.pid()
        );
    }

    /// Waits for the child to exit, killing it and failing the test after `timeout`.
    pub fn wait(mut self, timeout: Duration) -> Output {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("the child was already waited for"));
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "`wijkhub {}` did not exit within {}s\n--- stdout\n{}\n--- stderr\n{}",
                        self.args,
                        timeout.as_secs(),
                        self.stdout.text(),
                        self.stderr.text()
                    );
                }
                Err(error) => panic!("cannot wait for `wijkhub {}`: {error}", self.args),
            }
        };
        let elapsed = self.started.elapsed();
        // The pipes close when the child exits; wait (bounded) until both readers saw the end.
        let stdout = self.stdout.finish(Duration::from_secs(10));
        let stderr = self.stderr.finish(Duration::from_secs(10));
        Output {
            status,
            stdout,
            stderr,
            elapsed,
        }
    }
}

impl Drop for RunningCli {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The lines of one output stream, gathered by a reader thread.
#[derive(Clone)]
struct Lines(Arc<(Mutex<LinesState>, Condvar)>);

#[derive(Default)]
struct LinesState {
    lines: Vec<String>,
    closed: bool,
}

impl Lines {
    fn collect(stream: Option<impl Read + Send + 'static>) -> Lines {
        let lines = Lines(Arc::new((
            Mutex::new(LinesState::default()),
            Condvar::new(),
        )));
        let writer = lines.clone();
        std::thread::spawn(move || {
            if let Some(stream) = stream {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    writer.update(|state| state.lines.push(line));
                }
            }
            writer.update(|state| state.closed = true);
        });
        lines
    }

    fn update(&self, change: impl FnOnce(&mut LinesState)) {
        let (state, changed) = &*self.0;
        let mut state = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut state);
        changed.notify_all();
    }

    fn text(&self) -> String {
        let (state, _) = &*self.0;
        let state = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.lines.join("\n")
    }

    fn wait_for(&self, wanted: impl Fn(&str) -> bool, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let (state, changed) = &*self.0;
        let mut state = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(line) = state.lines.iter().find(|line| wanted(line)) {
                return Ok(line.clone());
            }
            if state.closed {
                return Err("the stream ended".into());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("waited {}s", timeout.as_secs()));
            }
            state = changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Everything read, once the stream has closed (or `timeout` passed).
    fn finish(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let (state, changed) = &*self.0;
        let mut state = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while !state.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        state.lines.join("\n")
    }
}
