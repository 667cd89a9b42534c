//! Starting the real `tms-local` binary for a test, as a person starts it:
//! a fresh SQLite file, a free loopback port read from its "listening" log
//! line, and the process stopped (and its files removed) when the test
//! ends.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub struct Server {
    child: Child,
    pub addr: String,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `tms-local` on the embedded engine with these extra variables.
pub fn start(name: &str, env: &[(&str, String)]) -> Server {
    let dir = std::env::temp_dir().join(format!("tms-{name}-{}", std::process::id()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tms-local"));
    cmd.env("TMS_BIND", "127.0.0.1:0")
        .env("TMS_SQLITE_PATH", dir.join("tms.sqlite"))
        .env("RUST_LOG", "info")
        .env_remove("TMS_ENGINE")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start tms-local");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("tms-local exited before listening")
            .expect("read log line");
        let v: Value = serde_json::from_str(&line).expect("log lines are JSON");
        if v["fields"]["message"] == "TMS listening" {
            break v["fields"]["address"]
                .as_str()
                .expect("address")
                .to_string();
        }
    };
    // Keep draining the logs so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr, dir }
}
