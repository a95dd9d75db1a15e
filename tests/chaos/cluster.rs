//! A PostgreSQL cluster of the chaos suite's own: initdb into a temporary
//! folder, the postmaster started on a free loopback port as a child
//! process, so that the suite can stop it the hard way (SIGQUIT: an
//! immediate shutdown, as a crash leaves it: recovery from the WAL on the
//! next start) and start it again on the same port and data, without
//! touching the server the other tests use. Debian's server binaries
//! (`/usr/lib/postgresql/*/bin`; scripts/test installs the package when
//! they are missing). initdb and postgres refuse to run as root: as root,
//! the cluster runs as the `postgres` system user.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// (uid, gid) the server runs as, when the test runs as root.
    owner: Option<(u32, u32)>,
    postmaster: Option<Child>,
}

/// The newest installed server's binaries.
fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries under /usr/lib/postgresql (Debian package postgresql; scripts/test installs it)")
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn id(flag: &str, user: &str) -> u32 {
    let out = Command::new("id").args([flag, user]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

impl Cluster {
    /// A new cluster (trust authentication, user `postgres`), started.
    pub fn start() -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("parley-chaos-pg")
            .tempdir()
            .unwrap();
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let owner = root.then(|| (id("-u", "postgres"), id("-g", "postgres")));
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut cluster = Cluster {
            bin: bin_dir(),
            dir,
            port: super::common::served::free_port(),
            owner,
            postmaster: None,
        };
        let out = cluster
            .command("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {out:?}");
        cluster.up();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the postmaster and waits until it takes connections.
    pub fn up(&mut self) {
        assert!(self.postmaster.is_none(), "the cluster is up already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.postmaster = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the postmaster as a crash would: SIGQUIT (immediate
    /// shutdown, no checkpoint), waits for it to exit.
    pub fn down(&mut self) {
        if let Some(mut child) = self.postmaster.take() {
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.wait();
        }
    }

    fn answers(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args([
                "-q",
                "-U",
                "postgres",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
            ])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Runs `sql` through psql as `postgres` on `database`.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", database, "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.down();
    }
}
