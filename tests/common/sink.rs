//! Postfix's `smtp-sink` as the relay of a test: on a loopback port,
//! dumping each mail it takes into a folder (`-d`), killed and reaped by
//! its PID when dropped (also when the test panics).

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed and reaped on drop.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `smtp-sink` on `port`, dumping into `dir`, with extra `args`; once it
/// greets.
pub fn sink(port: u16, dir: &Path, args: &[&str]) -> Process {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("dump folder");
    // smtp-sink drops to `nobody` (when run as root), who must reach and
    // write the dump folder.
    let set = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .expect("permissions set")
    };
    if let Some(parent) = dir.parent() {
        set(parent, 0o711);
    }
    set(dir, 0o777);
    // Debian installs it in /usr/sbin, often not on a user's PATH.
    let mut command = Command::new("/usr/sbin/smtp-sink");
    if is_root() {
        command.args(["-u", "nobody"]);
    }
    let child = command
        .args(args)
        .arg("-d")
        .arg(dir.join("%M."))
        .arg(format!("127.0.0.1:{port}"))
        .arg("64")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smtp-sink runs (Debian package postfix; scripts/test installs it)");
    let process = Process(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while greets(port, "220").is_none() {
        assert!(Instant::now() < deadline, "smtp-sink does not greet");
        std::thread::sleep(Duration::from_millis(50));
    }
    process
}

/// The mails `smtp-sink` dumped into `dir` so far, as text.
pub fn dumped(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .collect()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Whether `port` answers with a line starting with `prefix`.
fn greets(port: u16, prefix: &str) -> Option<()> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    line.starts_with(prefix).then_some(())
}
