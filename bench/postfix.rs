//! Postfix's load tools and the processes the benchmarks start. Included
//! by bench/smtp.rs and bench/outbox.rs with `#[path]`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Where `smtp-source` and `smtp-sink` are (Debian package `postfix`).
pub struct Tools {
    pub source: PathBuf,
    pub sink: PathBuf,
}

pub fn postfix_tools() -> Option<Tools> {
    let find = |name: &str| {
        ["/usr/sbin", "/usr/bin", "/usr/local/sbin"]
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|p| p.is_file())
    };
    Some(Tools {
        source: find("smtp-source")?,
        sink: find("smtp-sink")?,
    })
}

/// A child process killed (and reaped) when dropped, also on a panic.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The user smtp-sink runs as (`-u`): this process's, else `nobody`.
pub fn sink_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "nobody".into())
}
