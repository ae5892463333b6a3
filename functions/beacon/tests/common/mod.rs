//! Starting the real binary for end-to-end tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where a test's server keeps its state.
pub enum Backend {
    Embedded(tempfile::TempDir),
    /// A table of its own on the moto server (the folder holds the published page).
    DynamoDb {
        table: String,
        dir: tempfile::TempDir,
    },
}

impl Backend {
    pub fn embedded() -> Self {
        Self::Embedded(tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")))
    }

    pub fn dynamodb(name: &str) -> Self {
        Self::DynamoDb {
            table: format!("{name}-{}-{}", std::process::id(), ulid::Ulid::new()),
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
        }
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_beacon"));
        command.env_remove("BEACON_STORE").env("RUST_LOG", "warn");
        match self {
            Self::Embedded(dir) => {
                command.arg("--data-dir").arg(dir.path());
            }
            Self::DynamoDb { table, dir } => {
                let url = beacon_tests::moto_url();
                command
                    .arg("--data-dir")
                    .arg(dir.path())
                    .args(["--store", "dynamodb", "--dynamodb-create-table", "--dynamodb-table", table])
                    .args(["--dynamodb-endpoint", &url])
                    .env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test")
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_EC2_METADATA_DISABLED", "true");
            }
        }
        command
    }

    /// `beacon token create`: the token is the last line of stdout.
    pub fn create_token(&self, name: &str, role: &str) -> String {
        let output = self
            .command()
            .args(["token", "create", "--name", name, "--role", role])
            .output()
            .unwrap_or_else(|e| panic!("token create: {e}"));
        assert!(output.status.success(), "token create failed: {}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout.lines().last().unwrap_or_default().trim().to_owned()
    }
}

pub struct Running {
    pub child: Child,
    pub base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(backend: &Backend, extra: &[&str]) -> Running {
    let mut child = backend
        .command()
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start beacon: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap_or_else(|e| panic!("read stdout: {e}"));
    let base = line
        .trim()
        .strip_prefix("beacon listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    Running { child, base }
}

/// SIGTERM, then wait: the runner shuts down gracefully and releases the store.
pub fn terminate(mut running: Running) {
    let pid = running.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    for _ in 0..100 {
        if let Ok(Some(_)) = running.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("beacon did not stop on SIGTERM");
}
