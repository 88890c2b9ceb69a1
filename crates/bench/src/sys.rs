//! What the process costs, read from `/proc`: CPU time of the whole process and of one thread,
//! resident memory, and system calls counted by `perf` (fsyncs). Linux only; a figure that cannot
//! be read is `None` and the report says so, never a made-up value.

use std::path::Path;
use std::time::Duration;

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of `/proc/.../stat`, in seconds.
fn cpu_of(stat_path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(stat_path).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state(0) ppid ... utime is field 14 of the line, index 11 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// CPU seconds used by this process so far (every thread).
pub fn process_cpu() -> Option<f64> {
    cpu_of(Path::new("/proc/self/stat"))
}

/// CPU seconds used by the calling thread so far.
pub fn thread_cpu() -> Option<f64> {
    cpu_of(Path::new("/proc/thread-self/stat"))
}

/// Resident memory of this process (VmRSS), in MiB.
pub fn rss_mib() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The cores this process may use, read once before anything is pinned (a pinned thread sees only
/// its own core, and threads inherit that).
fn core_ids() -> &'static [core_affinity::CoreId] {
    static IDS: std::sync::OnceLock<Vec<core_affinity::CoreId>> = std::sync::OnceLock::new();
    IDS.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default())
}

/// Pins the calling thread to one core, when the machine has it. Returns whether it did.
pub fn pin_to(core: usize) -> bool {
    match core_ids().get(core) {
        Some(id) => core_affinity::set_for_current(*id),
        None => false,
    }
}

/// Cores of the machine (as this process found them at start).
pub fn cores() -> usize {
    core_ids().len().max(1)
}

/// Counts `fsync` + `fdatasync` calls of this process over `window` with `perf stat` on the
/// syscall tracepoints (no ptrace stops, so the count does not slow the process down). Blocking:
/// call it from a thread that may wait. `None` when perf is missing or not permitted.
pub fn count_fsyncs(window: Duration) -> Option<u64> {
    let pid = std::process::id().to_string();
    let output = std::process::Command::new("perf")
        .args([
            "stat",
            "-x,",
            "-e",
            "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync",
            "-p",
            &pid,
            "--",
            "sleep",
            &format!("{:.3}", window.as_secs_f64()),
        ])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stderr);
    let mut total = 0u64;
    let mut seen = 0;
    for line in text.lines() {
        let mut fields = line.split(',');
        let count = fields.next()?;
        if line.contains("sys_enter_fsync") || line.contains("sys_enter_fdatasync") {
            total += count.trim().parse::<u64>().ok()?;
            seen += 1;
        }
    }
    (seen == 2).then_some(total)
}
