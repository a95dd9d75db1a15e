//! What `parley serve` tells its service manager: the sd_notify protocol
//! (`READY=1`, `STATUS=…`, `WATCHDOG=1`, `RELOADING=1`, `STOPPING=1`),
//! datagrams on the Unix socket systemd names in `NOTIFY_SOCKET`
//! (`systemd/parley.service` is `Type=notify` with `WatchdogSec=`).
//!
//! Without `NOTIFY_SOCKET` (not started by systemd) every call does
//! nothing. A datagram that cannot be sent is logged and dropped: telling
//! systemd is never a reason to stop serving mail.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The socket systemd listens on for this process, if any.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    socket: Option<String>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From the environment systemd gives the service: `NOTIFY_SOCKET`,
    /// and `WATCHDOG_USEC` when `WatchdogSec=` is set (ignored when
    /// `WATCHDOG_PID` names another process).
    pub fn from_env() -> Notifier {
        let socket = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty());
        let ours = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&u| u > 0 && ours)
            .map(Duration::from_micros);
        Notifier { socket, watchdog }
    }

    /// The watchdog interval systemd expects pings within, if it watches.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// `READY=1` with a status line: the service has started.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}\n", one_line(status)));
    }

    /// A status line (`systemctl status` shows it).
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}\n", one_line(status)));
    }

    /// `WATCHDOG=1`: the main loop is alive and the store answers.
    pub fn watchdog_ping(&self) {
        self.send("WATCHDOG=1\n");
    }

    /// `RELOADING=1`: the configuration is being read again;
    /// [`Notifier::ready`] ends the reload. (The unit is `Type=notify` with
    /// `ExecReload=`, so systemd does not ask for `MONOTONIC_USEC`, which
    /// only `Type=notify-reload` needs.)
    pub fn reloading(&self) {
        self.send("RELOADING=1\nSTATUS=reloading the configuration\n");
    }

    /// `STOPPING=1`: shutting down.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping\n");
    }

    fn send(&self, message: &str) {
        let Some(path) = &self.socket else { return };
        if let Err(e) = send_to(path, message.as_bytes()) {
            tracing::warn!(socket = %path, error = %e, "cannot notify the service manager");
        }
    }
}

/// Sends one datagram to `path`; a leading `@` names an abstract socket.
fn send_to(path: &str, message: &[u8]) -> io::Result<usize> {
    let socket = UnixDatagram::unbound()?;
    match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            socket.send_to_addr(message, &addr)
        }
        None => socket.send_to(message, path),
    }
}

/// A status is one line: newlines would start new fields.
fn one_line(status: &str) -> String {
    status.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening() -> (tempfile::TempDir, UnixDatagram, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (dir, socket, path.to_string_lossy().into_owned())
    }

    fn received(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn sends_ready_status_and_watchdog() {
        let (_dir, socket, path) = listening();
        let notifier = Notifier {
            socket: Some(path),
            watchdog: None,
        };
        notifier.ready("serving\nsecond line");
        assert_eq!(received(&socket), "READY=1\nSTATUS=serving second line\n");
        notifier.watchdog_ping();
        assert_eq!(received(&socket), "WATCHDOG=1\n");
        notifier.reloading();
        assert!(received(&socket).starts_with("RELOADING=1\n"));
        notifier.stopping();
        assert!(received(&socket).starts_with("STOPPING=1\n"));
    }

    #[test]
    fn abstract_sockets_are_reached() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("parley-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let notifier = Notifier {
            socket: Some(format!("@{name}")),
            watchdog: None,
        };
        notifier.status("hello");
        assert_eq!(received(&socket), "STATUS=hello\n");
    }

    #[test]
    fn without_a_socket_nothing_is_sent_and_nothing_fails() {
        let notifier = Notifier::default();
        notifier.ready("x");
        notifier.watchdog_ping();
        assert_eq!(notifier.watchdog(), None);
    }
}
