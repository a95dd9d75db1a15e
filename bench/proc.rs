//! What /proc says about a process, for the benchmarks' CPU and memory
//! columns, and the descriptor limit. Included by bench/smtp.rs,
//! bench/imap.rs, bench/outbox.rs, bench/events.rs and bench/api.rs with
//! `#[path]`.
//! `pid` is a number or `self`.

use std::fs::File;
use std::io::Read;

/// A field of /proc/`pid`/status as written (`VmRSS`, `Threads`, ...).
pub fn status_field(pid: &str, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// A field of /proc/`pid`/status in MB (the kernel writes kB).
pub fn status_mb(pid: &str, field: &str) -> Option<f64> {
    let value = status_field(pid, field)?;
    let kb: f64 = value.split_whitespace().next()?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds (user + system) of /proc/`pid`, or of its reaped children.
pub fn cpu_seconds(pid: &str, children: bool) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name: state is the first (field 3).
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (a, b) = if children { (13, 14) } else { (11, 12) };
    let ticks: f64 = [a, b]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The CPU's model name from /proc/cpuinfo.
pub fn cpu_model() -> String {
    let mut cpuinfo = String::new();
    let _ = File::open("/proc/cpuinfo").and_then(|mut f| f.read_to_string(&mut cpuinfo));
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Raises this process's soft descriptor limit to `want` when it is lower
/// (idle-session tests hold hundreds or thousands of sockets); `prlimit` does it
/// from outside, as std has no setrlimit.
pub fn raise_nofile(want: usize) {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(usize::MAX);
    if soft >= want {
        return;
    }
    let ok = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={want}:"))
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("note: open files limited to {soft}; could not raise it to {want} (prlimit)");
    }
}
