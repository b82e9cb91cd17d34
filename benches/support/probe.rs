//! ffprobe for the benches: how long a media file is.

use std::path::Path;
use std::process::Command;

/// Length of a media file in seconds (the container's duration); `None` when ffprobe cannot
/// say.
pub fn duration(path: &Path) -> Option<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
