//! A throwaway Dovecot IMAP server for tests, and a tiny raw IMAP client to
//! fill and inspect its mailboxes.
//!
//! [`Dovecot::start`] writes a config into a fresh temporary folder (its own
//! `base_dir` and `state_dir`, so instances never share sockets), picks a free
//! loopback port and runs `dovecot -F` (the foreground master) as a child
//! process. The master is stopped by its PID when the [`Dovecot`] is dropped,
//! also when the test panics. Mail is kept in Maildirs inside the folder, so
//! [`Dovecot::restart`] keeps it.
//!
//! Nothing is installed here: `scripts/test` installs Debian's
//! `dovecot-imapd`. Without it, [`Dovecot::start`] fails the test (it never
//! skips).
//!
//! As root (a container, CI), the mail users get the uid and gid of the
//! `dovecot` system user, because Dovecot refuses to run mail processes as
//! root. As another user, Dovecot runs entirely as that user.
//!
//! Include it with `#[path = "imap/dovecot.rs"] mod dovecot;`. The helpers
//! panic on any failure, with Dovecot's log in the message.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long Dovecot may take to greet on its port.
const STARTUP: Duration = Duration::from_secs(20);
/// How long a graceful stop (SIGTERM) may take before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);
/// How long the IMAP client waits for a reply.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a start is tried again on another port when the chosen one was
/// taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

static INSTANCES: AtomicUsize = AtomicUsize::new(0);

/// A running Dovecot on `127.0.0.1:port()`, stopped and reaped on drop.
/// Started with [`Dovecot::start_tls`], it also offers STARTTLS on
/// `port()` and implicit TLS on `tls_port()`.
pub struct Dovecot {
    /// The master process; `None` while stopped. A mutex so that
    /// [`Dovecot::recreate_folder`] can restart it behind `&self`.
    master: Mutex<Option<Child>>,
    port: u16,
    /// The certificate, key and IMAPS port of [`Dovecot::start_tls`].
    tls: Option<Tls>,
    binary: PathBuf,
    /// `instance_name`: also the prefix of its processes' titles
    /// (`dovecot-<instance>/imap`) and a part of its greeting.
    instance: String,
    dir: tempfile::TempDir,
}

impl Dovecot {
    /// Starts a Dovecot whose users are `users` (name, password), each with
    /// an empty INBOX.
    pub fn start(users: &[(&str, &str)]) -> Dovecot {
        Dovecot::start_with(users, None)
    }

    /// [`Dovecot::start`] with TLS: `ssl = yes` with the PEM certificate
    /// chain `cert` and private key `key` (read by Dovecot at start), so
    /// `port()` offers STARTTLS, and an `imaps` listener (TLS from the first
    /// byte) on `tls_port()`. Plain login stays allowed on `port()`: the
    /// helpers keep working.
    pub fn start_tls(users: &[(&str, &str)], cert: &Path, key: &Path) -> Dovecot {
        let absolute =
            |p: &Path| fs::canonicalize(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        Dovecot::start_with(
            users,
            Some(Tls {
                cert: absolute(cert),
                key: absolute(key),
                port: 0,
            }),
        )
    }

    fn start_with(users: &[(&str, &str)], tls: Option<Tls>) -> Dovecot {
        let binary = dovecot_binary();
        let dir = tempfile::Builder::new()
            .prefix("parley-dovecot-")
            .tempdir()
            .expect("a temporary folder");
        // The mail processes run as the mail user, not as us: they must be
        // able to walk into the folder.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .expect("chmod 755 the temporary folder");
        let owner = Owner::find(dir.path());
        let mail = dir.path().join("mail");
        fs::create_dir(&mail).expect("mail folder");
        fs::set_permissions(&mail, fs::Permissions::from_mode(0o755)).expect("chmod mail");
        let mut table = String::new();
        for (user, password) in users {
            assert!(
                !user.is_empty()
                    && user
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "user name {user:?}: use letters, digits, '.', '_', '-'"
            );
            assert!(
                !password.contains([':', '\r', '\n']),
                "password {password:?}: no ':' nor line breaks"
            );
            let home = mail.join(user);
            fs::create_dir(&home).expect("a home folder");
            if owner.chown {
                std::os::unix::fs::chown(&home, Some(owner.uid), Some(owner.gid))
                    .expect("chown the home folder to the dovecot user");
            }
            table.push_str(&format!(
                "{user}:{{PLAIN}}{password}:{}:{}::{}\n",
                owner.uid,
                owner.gid,
                home.display()
            ));
        }
        fs::write(dir.path().join("users"), table).expect("users file");
        fs::create_dir(dir.path().join("run")).expect("run folder");
        fs::set_permissions(dir.path().join("run"), fs::Permissions::from_mode(0o755))
            .expect("chmod run");
        let instance = format!(
            "parley-{}-{}",
            std::process::id(),
            INSTANCES.fetch_add(1, Ordering::Relaxed)
        );
        let mut dovecot = Dovecot {
            master: Mutex::new(None),
            port: 0,
            tls,
            binary,
            instance,
            dir,
        };
        let mut failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            dovecot.port = free_port();
            if let Some(tls) = &mut dovecot.tls {
                tls.port = free_port();
                while tls.port == dovecot.port {
                    tls.port = free_port();
                }
            }
            dovecot.write_config(&owner);
            match dovecot.launch() {
                Ok(()) => return dovecot,
                Err(Failure {
                    port_taken: true,
                    report,
                }) => failure = report,
                Err(Failure { report, .. }) => panic!("{report}"),
            }
        }
        panic!("no free port after {PORT_ATTEMPTS} attempts; the last:\n{failure}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The IMAPS port (TLS from the first byte) of [`Dovecot::start_tls`].
    /// Panics when started without TLS.
    pub fn tls_port(&self) -> u16 {
        self.tls
            .as_ref()
            .expect("tls_port: start the Dovecot with start_tls")
            .port
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The temporary folder: `dovecot.conf`, `users`, `dovecot.log`,
    /// `mail/<user>/Maildir`, `run/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What Dovecot wrote so far: its stderr, then its log file.
    pub fn log(&self) -> String {
        let read = |name: &str| {
            fs::read_to_string(self.dir().join(name))
                .unwrap_or_else(|e| format!("(no {name}: {e})"))
        };
        format!(
            "--- dovecot stderr ---\n{}--- {} ---\n{}",
            read("dovecot.stderr"),
            self.dir().join("dovecot.log").display(),
            read("dovecot.log")
        )
    }

    /// Whether the master process runs (started and not stopped).
    pub fn running(&self) -> bool {
        self.master().is_some()
    }

    /// Stops Dovecot: SIGTERM to the master (it ends its children and
    /// closes open IMAP connections with `* BYE`), SIGKILL if it is not gone
    /// after 10 s; waits for it and its children. The mail stays.
    pub fn stop(&mut self) {
        self.shut_down();
    }

    /// [`Dovecot::stop`], then starts it again on the same port with the same
    /// folder, config and mail ("Dovecot restarted mid-batch"). Also starts
    /// a stopped one.
    pub fn restart(&mut self) {
        self.shut_down();
        self.relaunch();
    }

    /// Stores `raw` (as given: Dovecot takes CRLF and bare LF) in `folder`
    /// of `user` by IMAP APPEND, creating `folder` first when it is missing
    /// and is not INBOX. Returns the new message's UID (UIDPLUS).
    pub fn append(&self, user: &str, password: &str, folder: &str, raw: &[u8]) -> u32 {
        self.append_with_flags(user, password, folder, &[], raw)
    }

    /// [`Dovecot::append`] with flags set on the new message, such as
    /// `\Seen` or `\Flagged`.
    pub fn append_with_flags(
        &self,
        user: &str,
        password: &str,
        folder: &str,
        flags: &[&str],
        raw: &[u8],
    ) -> u32 {
        self.with(user, password, |s| {
            if !is_inbox(folder) {
                s.create_if_missing(folder)?;
            }
            s.append(folder, flags, raw)
        })
    }

    /// The UIDs in `folder`, ascending (UID SEARCH ALL, read-only).
    pub fn uids(&self, user: &str, password: &str, folder: &str) -> Vec<u32> {
        self.with(user, password, |s| s.uids(folder))
    }

    /// The flags of message `uid` in `folder` (UID FETCH FLAGS, read-only),
    /// without `\Recent` (which depends on the session). Fails when there is
    /// no message `uid`.
    pub fn flags(&self, user: &str, password: &str, folder: &str, uid: u32) -> Vec<String> {
        self.with(user, password, |s| s.flags(folder, uid))
    }

    /// The UIDVALIDITY of `folder` (STATUS).
    pub fn uidvalidity(&self, user: &str, password: &str, folder: &str) -> u32 {
        self.with(user, password, |s| s.status(folder, "UIDVALIDITY"))
    }

    /// The UID the next message in `folder` will get (STATUS UIDNEXT).
    pub fn uidnext(&self, user: &str, password: &str, folder: &str) -> u32 {
        self.with(user, password, |s| s.status(folder, "UIDNEXT"))
    }

    /// The names of all folders of `user` (LIST "" "*"), sorted.
    pub fn folders(&self, user: &str, password: &str) -> Vec<String> {
        self.with(user, password, |s| s.folders())
    }

    /// Replaces `folder` (which must exist) by a new, empty one: afterwards it exists, holds no
    /// message, has a new UIDVALIDITY (checked here) and gives UIDs from 1
    /// again. Re-append messages to play "the mailbox was restored or
    /// migrated".
    ///
    /// Any folder but INBOX: IMAP DELETE then CREATE while Dovecot runs (an
    /// IMAP client that has it selected is told it is gone). INBOX cannot be
    /// deleted over IMAP, so Dovecot is stopped, INBOX's messages, UID list
    /// and indexes are removed from the Maildir, and Dovecot starts again on
    /// the same port: open connections are closed, other folders and other
    /// users keep everything.
    pub fn recreate_folder(&self, user: &str, password: &str, folder: &str) {
        let before = self.uidvalidity(user, password, folder);
        if is_inbox(folder) {
            self.shut_down();
            self.reset_inbox(user);
            self.relaunch();
        } else {
            self.with(user, password, |s| {
                s.run(&format!("DELETE {}", quote(folder)))?;
                s.run(&format!("CREATE {}", quote(folder)))
            });
        }
        let after = self.uidvalidity(user, password, folder);
        assert_ne!(
            before, after,
            "{folder} of {user} was recreated but kept UIDVALIDITY {before}"
        );
        assert_eq!(
            self.uidnext(user, password, folder),
            1,
            "{folder} of {user} was recreated but does not give UIDs from 1"
        );
    }

    /// An IMAP session of `user`, logged in, for commands the helpers above
    /// do not cover.
    pub fn session(&self, user: &str, password: &str) -> Session {
        let mut session = Session::connect(self.port)
            .and_then(|mut s| s.login(user, password).map(|()| s))
            .unwrap_or_else(|e| panic!("IMAP login of {user}: {e}\n{}", self.log()));
        session.context = format!("Dovecot on port {}", self.port);
        session
    }

    /// Logs in as `user`, runs `work`, logs out; panics with the log on error.
    fn with<T>(
        &self,
        user: &str,
        password: &str,
        work: impl FnOnce(&mut Session) -> Result<T, String>,
    ) -> T {
        let result = Session::connect(self.port).and_then(|mut s| {
            s.login(user, password)?;
            let value = work(&mut s)?;
            s.logout();
            Ok(value)
        });
        result
            .unwrap_or_else(|e| panic!("IMAP as {user} on port {}: {e}\n{}", self.port, self.log()))
    }

    fn master(&self) -> MutexGuard<'_, Option<Child>> {
        self.master
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn conf(&self) -> PathBuf {
        self.dir().join("dovecot.conf")
    }

    fn write_config(&self, owner: &Owner) {
        let dir = self.dir().display();
        let port = self.port;
        let instance = &self.instance;
        // Not root: every process runs as us, and nothing can chroot.
        let (not_root, login_chroot) = if owner.chown {
            (String::new(), "")
        } else {
            let (user, group) = (&owner.user, &owner.group);
            (
                format!(
                    "default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
service anvil {{
  chroot =
}}
service auth-worker {{
  user = {user}
}}
"
                ),
                "  chroot =\n",
            )
        };
        let (ssl, imaps) = match &self.tls {
            None => ("ssl = no".to_string(), "    port = 0".to_string()),
            Some(tls) => (
                format!(
                    "ssl = yes\nssl_cert = <{}\nssl_key = <{}",
                    tls.cert.display(),
                    tls.key.display()
                ),
                format!(
                    "    address = 127.0.0.1\n    port = {}\n    ssl = yes",
                    tls.port
                ),
            ),
        };
        let conf = format!(
            "# Written by tests/imap/dovecot.rs.
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/run
instance_name = {instance}
login_greeting = Dovecot {instance} ready.
login_trusted_networks = 127.0.0.0/8
disable_plaintext_auth = no
{ssl}
auth_mechanisms = plain login
auth_verbose = yes
mail_location = maildir:~/Maildir
first_valid_uid = 1
log_path = {dir}/dovecot.log
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/users
}}
userdb {{
  driver = passwd-file
  args = {dir}/users
}}
service imap-login {{
{login_chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
{imaps}
  }}
}}
{not_root}"
        );
        fs::write(self.conf(), conf).expect("dovecot.conf");
    }

    /// Starts the master and waits until it greets on the port. On failure
    /// the master is stopped.
    fn launch(&self) -> Result<(), Failure> {
        let stderr_path = self.dir().join("dovecot.stderr");
        let mut stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .expect("dovecot.stderr");
        let mark = stderr.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = writeln!(stderr, "--- dovecot -F on port {}", self.port);
        let child = Command::new(&self.binary)
            .arg("-F")
            .arg("-c")
            .arg(self.conf())
            .stdin(Stdio::null())
            .stdout(stderr.try_clone().expect("dovecot.stderr cloned"))
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", self.binary.display()));
        *self.master() = Some(child);
        let deadline = Instant::now() + STARTUP;
        loop {
            let exited = self
                .master()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                *self.master() = None;
                let mut this_run = String::new();
                if let Ok(mut f) = File::open(&stderr_path) {
                    use std::io::{Seek, SeekFrom};
                    let _ = f.seek(SeekFrom::Start(mark));
                    let _ = f.read_to_string(&mut this_run);
                }
                return Err(Failure {
                    port_taken: this_run.contains("Address already in use"),
                    report: format!(
                        "dovecot exited ({status}) before it greeted on port {}: {this_run}\n{}",
                        self.port,
                        self.log()
                    ),
                });
            }
            // Only our greeting counts: another server may have taken the
            // port meanwhile.
            if let Ok(greeting) = greet(self.port)
                && greeting.starts_with("* OK")
                && greeting.contains(&self.instance)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.shut_down();
                return Err(Failure {
                    port_taken: false,
                    report: format!(
                        "dovecot does not greet on port {} after {STARTUP:?}\n{}",
                        self.port,
                        self.log()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Starts again on the same port, waiting a while should a process of
    /// the previous run still hold it.
    fn relaunch(&self) {
        let deadline = Instant::now() + STARTUP;
        loop {
            match self.launch() {
                Ok(()) => return,
                Err(Failure {
                    port_taken: true, ..
                }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(Failure { report, .. }) => panic!("restart on port {}: {report}", self.port),
            }
        }
    }

    /// SIGTERM to the master and to its children at once, SIGKILL to what
    /// is left after [`GRACE`]; reaps the master and waits until its
    /// children are gone. Never panics (runs in `drop`).
    ///
    /// The children are signalled too because, with only the master gone,
    /// an `imap` process with a client takes about 9 s to say `* BYE` and
    /// leave; on SIGTERM it says `* BYE Server shutting down.` at once.
    fn shut_down(&self) {
        let Some(mut master) = self.master().take() else {
            return;
        };
        let mut pids = vec![master.id()];
        pids.extend(self.children());
        let terminated = signal("-TERM", &pids);
        let deadline = Instant::now() + if terminated { GRACE } else { Duration::ZERO };
        loop {
            match master.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    let _ = master.kill();
                    let _ = master.wait();
                    break;
                }
            }
        }
        // Children that started meanwhile end when they see the master gone.
        // Wait for all of them, so that the port is free and no process
        // outlives the test.
        let deadline = Instant::now() + GRACE;
        loop {
            let left = self.children();
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                signal("-KILL", &left);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The PIDs of the master (while running) and of its live children.
    pub fn processes(&self) -> Vec<u32> {
        let master = self.master().as_ref().map(Child::id);
        master.into_iter().chain(self.children()).collect()
    }

    fn children(&self) -> Vec<u32> {
        instance_processes(&self.instance)
    }

    /// Dovecot's `instance_name`: unique per [`Dovecot`], part of its
    /// greeting and of its processes' titles.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// With Dovecot stopped: empties INBOX of `user` and removes its UID list
    /// and indexes, so that it gets a new UIDVALIDITY and UIDs from 1.
    fn reset_inbox(&self, user: &str) {
        let maildir = self.dir().join("mail").join(user).join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            if let Ok(entries) = fs::read_dir(maildir.join(sub)) {
                for entry in entries.flatten() {
                    fs::remove_file(entry.path()).expect("a message removed");
                }
            }
        }
        let Ok(entries) = fs::read_dir(&maildir) else {
            return; // Never used: nothing to reset.
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Not `dovecot-uidvalidity*`: the counter that makes the next
            // UIDVALIDITY a new one.
            if name.starts_with("dovecot-uidlist")
                || name.starts_with("dovecot.index")
                || name.starts_with("dovecot.list.index")
            {
                fs::remove_file(entry.path()).expect("an index file removed");
            }
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The TLS setup of [`Dovecot::start_tls`].
struct Tls {
    cert: PathBuf,
    key: PathBuf,
    /// The IMAPS listener's port.
    port: u16,
}

/// Why a start failed.
struct Failure {
    /// The port was taken (by another process, or by a child of the
    /// previous run still going).
    port_taken: bool,
    /// What happened, with Dovecot's log.
    report: String,
}

/// Who the mail processes run as.
struct Owner {
    uid: u32,
    gid: u32,
    /// Running as root: homes are chowned to `uid`/`gid` (the `dovecot`
    /// user). Otherwise `uid`/`gid` are ours and Dovecot runs as us.
    chown: bool,
    user: String,
    group: String,
}

impl Owner {
    /// `dir` was just created by us: its owner is our effective uid.
    fn find(dir: &Path) -> Owner {
        let meta = fs::metadata(dir).expect("the temporary folder's metadata");
        let passwd = fs::read_to_string("/etc/passwd").expect("/etc/passwd readable");
        let entry = |pred: &dyn Fn(&[&str]) -> bool| {
            passwd
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 4 && pred(f))
        };
        if meta.uid() == 0 {
            let f = entry(&|f| f[0] == "dovecot").expect(
                "no `dovecot` user in /etc/passwd: install dovecot-imapd (run scripts/test)",
            );
            Owner {
                uid: f[2].parse().expect("dovecot's uid"),
                gid: f[3].parse().expect("dovecot's gid"),
                chown: true,
                user: f[0].to_string(),
                group: String::new(),
            }
        } else {
            let (uid, gid) = (meta.uid(), meta.gid());
            let user = entry(&|f| f[2] == uid.to_string()).unwrap_or_else(|| {
                panic!("uid {uid} has no name in /etc/passwd: Dovecot needs one")
            })[0]
                .to_string();
            let group = fs::read_to_string("/etc/group")
                .unwrap_or_default()
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[2] == gid.to_string())
                .map(|f| f[0].to_string())
                .unwrap_or_else(|| {
                    panic!("gid {gid} has no name in /etc/group: Dovecot needs one")
                });
            Owner {
                uid,
                gid,
                chown: false,
                user,
                group,
            }
        }
    }
}

/// `dovecot` on PATH, else `/usr/sbin/dovecot` (not on a normal user's
/// PATH on Debian). Fails the test when there is none.
fn dovecot_binary() -> PathBuf {
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("dovecot"))
                .collect()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/dovecot")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "dovecot is not installed: these tests need a real Dovecot. Run scripts/test \
                 (it installs the Debian package dovecot-imapd, as CI does), or \
                 `apt-get install dovecot-imapd`."
            )
        })
}

/// `kill SIGNAL PID…`; whether it succeeded for all.
fn signal(signal: &str, pids: &[u32]) -> bool {
    Command::new("kill")
        .arg(signal)
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Live child processes of the Dovecot `instance` (titles
/// `dovecot-<instance>/…`); zombies have no command line and do not count.
pub fn instance_processes(instance: &str) -> Vec<u32> {
    let prefix = format!("dovecot-{instance}/");
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.starts_with(prefix.as_bytes()))
        })
        .collect()
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("a bound address").port()
}

/// The greeting line on `port`, if something answers.
fn greet(port: u16) -> Result<String, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(line)
}

fn is_inbox(folder: &str) -> bool {
    folder.eq_ignore_ascii_case("INBOX")
}

/// `s` as an IMAP quoted string. Folder names must be ASCII (no modified
/// UTF-7 here).
pub fn quote(s: &str) -> String {
    assert!(
        s.is_ascii() && !s.contains(['\r', '\n', '\0']),
        "{s:?}: only ASCII without line breaks can be quoted"
    );
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One untagged response line, literals joined in.
#[derive(Debug, Clone)]
pub struct Line {
    /// The line without CRLF; each literal `{n}` replaced by the literal's
    /// text (lossy UTF-8) as a quoted string, so that [`parse`] reads it.
    pub text: String,
    /// The literals' bytes, in order.
    pub literals: Vec<Vec<u8>>,
}

/// What a command got: the untagged lines, and the tagged line after the tag
/// (`OK …`).
#[derive(Debug, Clone)]
pub struct Done {
    pub untagged: Vec<Line>,
    pub tagged: String,
}

/// A raw IMAP client over a blocking [`TcpStream`]: one command at a time,
/// line by line.
pub struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
    /// Said in errors.
    context: String,
}

impl Session {
    /// Connects to `127.0.0.1:port` and reads the `* OK` greeting.
    pub fn connect(port: u16) -> Result<Session, String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut session = Session {
            reader: BufReader::new(stream),
            writer,
            next_tag: 1,
            context: format!("{addr}"),
        };
        let greeting = session.line()?;
        if !greeting.text.starts_with("* OK") {
            return Err(format!("greeting: {}", greeting.text));
        }
        Ok(session)
    }

    pub fn login(&mut self, user: &str, password: &str) -> Result<(), String> {
        self.run(&format!("LOGIN {} {}", quote(user), quote(password)))
            .map(|_| ())
    }

    /// Sends LOGOUT; errors do not matter any more.
    pub fn logout(mut self) {
        let _ = self.run("LOGOUT");
    }

    /// Runs `command` (without tag and CRLF); `Err` unless the tagged reply
    /// is OK. The error carries the tagged line (e.g. `NO [ALREADYEXISTS] …`).
    pub fn run(&mut self, command: &str) -> Result<Done, String> {
        let tag = self.send(command.as_bytes())?;
        self.finish(&tag, command)
    }

    /// `CREATE folder`, when it does not exist yet.
    pub fn create_if_missing(&mut self, folder: &str) -> Result<(), String> {
        match self.run(&format!("CREATE {}", quote(folder))) {
            Ok(_) => Ok(()),
            Err(e) if e.contains("[ALREADYEXISTS]") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// APPEND with a synchronizing literal: sends `{n}`, waits for the `+`
    /// continuation, sends the bytes. Returns the UID from `[APPENDUID v uid]`.
    pub fn append(&mut self, folder: &str, flags: &[&str], raw: &[u8]) -> Result<u32, String> {
        let command = format!(
            "APPEND {} ({}) {{{}}}",
            quote(folder),
            flags.join(" "),
            raw.len()
        );
        let tag = self.send(command.as_bytes())?;
        loop {
            let line = self.line()?;
            if line.text.starts_with('+') {
                break;
            }
            if let Some(rest) = line.text.strip_prefix(&format!("{tag} ")) {
                return Err(format!("{command}: {rest}"));
            }
        }
        self.write(raw)?;
        self.write(b"\r\n")?;
        let done = self.finish(&tag, &command)?;
        let code = done
            .tagged
            .split_once("[APPENDUID ")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(code, _)| code.to_string())
            .ok_or_else(|| format!("{command}: no APPENDUID in {:?}", done.tagged))?;
        code.split_whitespace()
            .nth(1)
            .and_then(|uid| uid.parse().ok())
            .ok_or_else(|| format!("{command}: bad APPENDUID in {:?}", done.tagged))
    }

    /// UID SEARCH ALL in `folder` (EXAMINE: read-only), ascending.
    pub fn uids(&mut self, folder: &str) -> Result<Vec<u32>, String> {
        self.run(&format!("EXAMINE {}", quote(folder)))?;
        let done = self.run("UID SEARCH ALL")?;
        let mut uids = Vec::new();
        for line in &done.untagged {
            if let [Item::Atom(star), Item::Atom(search), rest @ ..] = parse(&line.text).as_slice()
                && star == "*"
                && search.eq_ignore_ascii_case("SEARCH")
            {
                for item in rest {
                    uids.push(
                        item.atom()
                            .and_then(|a| a.parse().ok())
                            .ok_or_else(|| format!("SEARCH: {}", line.text))?,
                    );
                }
            }
        }
        uids.sort_unstable();
        Ok(uids)
    }

    /// The flags of `uid` in `folder` (EXAMINE, UID FETCH FLAGS), without
    /// `\Recent`.
    pub fn flags(&mut self, folder: &str, uid: u32) -> Result<Vec<String>, String> {
        self.run(&format!("EXAMINE {}", quote(folder)))?;
        let done = self.run(&format!("UID FETCH {uid} FLAGS"))?;
        for line in &done.untagged {
            let items = parse(&line.text);
            let [
                Item::Atom(star),
                _,
                Item::Atom(fetch),
                Item::List(attributes),
            ] = items.as_slice()
            else {
                continue;
            };
            if star != "*" || !fetch.eq_ignore_ascii_case("FETCH") {
                continue;
            }
            let this_uid = attribute(attributes, "UID").and_then(Item::atom);
            if this_uid != Some(&uid.to_string()) {
                continue;
            }
            if let Some(Item::List(flags)) = attribute(attributes, "FLAGS") {
                return Ok(flags
                    .iter()
                    .filter_map(Item::atom)
                    .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                    .map(str::to_string)
                    .collect());
            }
        }
        Err(format!("no message with UID {uid} in {folder}"))
    }

    /// `STATUS folder (item)` for a numeric item such as UIDVALIDITY.
    pub fn status(&mut self, folder: &str, item: &str) -> Result<u32, String> {
        let done = self.run(&format!("STATUS {} ({item})", quote(folder)))?;
        for line in &done.untagged {
            if let [Item::Atom(star), Item::Atom(status), _, Item::List(values)] =
                parse(&line.text).as_slice()
                && star == "*"
                && status.eq_ignore_ascii_case("STATUS")
                && let Some(value) = attribute(values, item).and_then(Item::atom)
            {
                return value
                    .parse()
                    .map_err(|_| format!("STATUS {item}: {}", line.text));
            }
        }
        Err(format!("STATUS {folder} ({item}): no answer"))
    }

    /// `LIST "" "*"`: all folder names, sorted.
    pub fn folders(&mut self) -> Result<Vec<String>, String> {
        let done = self.run("LIST \"\" \"*\"")?;
        let mut names = Vec::new();
        for line in &done.untagged {
            if let [Item::Atom(star), Item::Atom(list), Item::List(_), _, name] =
                parse(&line.text).as_slice()
                && star == "*"
                && list.eq_ignore_ascii_case("LIST")
            {
                names.push(match name {
                    Item::Atom(s) | Item::Str(s) => s.clone(),
                    Item::List(_) => return Err(format!("LIST: {}", line.text)),
                });
            }
        }
        names.sort();
        Ok(names)
    }

    /// Sends `<tag> <command>\r\n`; returns the tag.
    fn send(&mut self, command: &[u8]) -> Result<String, String> {
        let tag = format!("t{}", self.next_tag);
        self.next_tag += 1;
        let mut bytes = Vec::with_capacity(command.len() + tag.len() + 3);
        bytes.extend_from_slice(tag.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(command);
        bytes.extend_from_slice(b"\r\n");
        self.write(&bytes)?;
        Ok(tag)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.writer
            .write_all(bytes)
            .and_then(|()| self.writer.flush())
            .map_err(|e| format!("{}: write: {e}", self.context))
    }

    /// Reads up to the line tagged `tag`.
    fn finish(&mut self, tag: &str, command: &str) -> Result<Done, String> {
        let mut untagged = Vec::new();
        loop {
            let line = self.line()?;
            if let Some(rest) = line
                .text
                .strip_prefix(tag)
                .and_then(|r| r.strip_prefix(' '))
            {
                let rest = rest.to_string();
                if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case("OK") {
                    return Ok(Done {
                        untagged,
                        tagged: rest,
                    });
                }
                return Err(format!("{command}: {rest}"));
            }
            if line.text.starts_with('+') {
                return Err(format!("{command}: unexpected continuation {}", line.text));
            }
            untagged.push(line);
        }
    }

    /// One response line; a line ending in a literal `{n}` goes on after the
    /// literal's bytes.
    fn line(&mut self) -> Result<Line, String> {
        let mut text = String::new();
        let mut literals = Vec::new();
        loop {
            let mut raw = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut raw)
                .map_err(|e| format!("{}: read: {e}", self.context))?;
            if n == 0 || !raw.ends_with(b"\n") {
                return Err(format!(
                    "{}: connection closed{}",
                    self.context,
                    if text.is_empty() && raw.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " after {:?}",
                            format!("{text}{}", String::from_utf8_lossy(&raw))
                        )
                    }
                ));
            }
            raw.pop();
            if raw.ends_with(b"\r") {
                raw.pop();
            }
            let part = String::from_utf8_lossy(&raw).into_owned();
            let Some(size) = literal_size(&part) else {
                text.push_str(&part);
                return Ok(Line { text, literals });
            };
            let mut literal = vec![0; size];
            self.reader
                .read_exact(&mut literal)
                .map_err(|e| format!("{}: reading a literal of {size} bytes: {e}", self.context))?;
            text.push_str(&part[..part.rfind('{').expect("a literal")]);
            text.push_str(&quote_lossy(&literal));
            literals.push(literal);
        }
    }
}

/// `n` when `line` ends with a literal announcement `{n}`.
fn literal_size(line: &str) -> Option<usize> {
    let open = line.rfind('{')?;
    line[open + 1..].strip_suffix('}')?.parse().ok()
}

fn quote_lossy(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A piece of a response line: an atom (also numbers, NIL, `\Seen`,
/// `BODY[]`), a quoted string, or a parenthesized list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Atom(String),
    Str(String),
    List(Vec<Item>),
}

impl Item {
    pub fn atom(&self) -> Option<&str> {
        match self {
            Item::Atom(a) => Some(a),
            _ => None,
        }
    }
}

/// Splits a response line into [`Item`]s. Brackets are not special: in
/// `OK [UIDNEXT 5]` they stick to the atoms.
pub fn parse(text: &str) -> Vec<Item> {
    fn items(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, nested: bool) -> Vec<Item> {
        let mut out = Vec::new();
        while let Some(&c) = chars.peek() {
            match c {
                ' ' => {
                    chars.next();
                }
                '(' => {
                    chars.next();
                    out.push(Item::List(items(chars, true)));
                }
                ')' => {
                    chars.next();
                    if nested {
                        return out;
                    }
                }
                '"' => {
                    chars.next();
                    let mut s = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => s.extend(chars.next()),
                            '"' => break,
                            c => s.push(c),
                        }
                    }
                    out.push(Item::Str(s));
                }
                _ => {
                    let mut atom = String::new();
                    while let Some(&c) = chars.peek() {
                        if matches!(c, ' ' | '(' | ')' | '"') {
                            break;
                        }
                        atom.push(c);
                        chars.next();
                    }
                    out.push(Item::Atom(atom));
                }
            }
        }
        out
    }
    items(&mut text.chars().peekable(), false)
}

/// The value after `name` in a list of pairs such as `(UID 3 FLAGS (\Seen))`.
fn attribute<'a>(pairs: &'a [Item], name: &str) -> Option<&'a Item> {
    pairs
        .chunks(2)
        .find(|pair| pair[0].atom().is_some_and(|a| a.eq_ignore_ascii_case(name)))
        .and_then(|pair| pair.get(1))
}
