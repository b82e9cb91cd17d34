//! Peak memory and disk of a running job, sampled every ~10 ms on a thread of its own: the
//! summed VmRSS of a process and all its descendants (found through the ppid in
//! `/proc/*/stat`), and the summed size of the files under a directory.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const PERIOD: Duration = Duration::from_millis(10);

/// The highest values seen, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peaks {
    /// VmRSS of the process and its descendants, summed at one instant.
    pub rss: u64,
    /// Sizes of the files under the directory, summed at one instant.
    pub disk: u64,
}

/// Samples until [`Sampler::finish`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Peaks>,
}

impl Sampler {
    /// Starts sampling the process tree under `root` and the files under `dir`.
    pub fn start(root: u32, dir: PathBuf) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peaks = Peaks::default();
            loop {
                peaks.rss = peaks.rss.max(tree_rss(root));
                peaks.disk = peaks.disk.max(dir_size(&dir));
                if flag.load(Ordering::Relaxed) {
                    return peaks;
                }
                std::thread::sleep(PERIOD);
            }
        });
        Sampler { stop, thread }
    }

    /// Stops sampling (after one last sample) and returns the peaks.
    pub fn finish(self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler thread")
    }
}

/// VmRSS of `root` and every process descending from it, in bytes.
fn tree_rss(root: u32) -> u64 {
    let children = children_by_parent();
    let mut pending = vec![root];
    let mut total = 0;
    while let Some(pid) = pending.pop() {
        total += vm_rss(pid);
        if let Some(kids) = children.get(&pid) {
            pending.extend(kids);
        }
    }
    total
}

/// Every live process's pid under its parent's.
fn children_by_parent() -> HashMap<u32, Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return children;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // A process may end between the listing and the read: it is simply not counted.
        if let Some(ppid) = fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| parent_pid(&stat))
        {
            children.entry(ppid).or_default().push(pid);
        }
    }
    children
}

/// The ppid in a `/proc/<pid>/stat` line: the second field after the command name, which
/// is in parentheses and may itself hold spaces and parentheses.
fn parent_pid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// VmRSS of one process in bytes; 0 once it has ended (or for a zombie).
fn vm_rss(pid: u32) -> u64 {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Summed size of the regular files under `dir` (links not followed; files that vanish
/// while it walks are not counted).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_size(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
