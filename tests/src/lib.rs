//! Test harness for meet-rs integration tests: builds the daemons, starts them
//! on free loopback ports with generated configs and certificates, waits for
//! readiness, and shows their logs when a test fails.

pub mod focus;
pub mod participant;
pub mod prosody;
pub mod raw;
pub mod scenario;
pub mod tx;
pub mod videobridge;
pub mod web;
pub mod xmpp;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// What the focus and videobridge launchers need of a running XMPP server
/// that serves the test deployment (meet.test anonymous, auth.meet.test
/// with the focus and jvb accounts, conference.meet.test,
/// internal.auth.meet.test, the component focus.meet.test): our
/// [`xmpp::XmppServer`] or Debian's Prosody ([`prosody::Prosody`]).
pub trait XmppDeployment {
    /// Where the daemons' configs and logs go.
    fn dir(&self) -> &Path;
    fn c2s_port(&self) -> u16;
    /// The XEP-0114 component port.
    fn component_port(&self) -> u16;
    /// A PEM file to trust for STARTTLS to auth.meet.test.
    fn ca_file(&self) -> PathBuf;
}

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

static BUILD: Once = Once::new();

/// Path of a workspace binary, building the binaries once per test process
/// (integration tests of this crate cannot use CARGO_BIN_EXE for other packages).
pub fn binary(name: &str) -> PathBuf {
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--bins",
                "-p",
                "xmpp-server",
                "-p",
                "meetctl",
                "-p",
                "videobridge",
                "-p",
                "focus",
                "-p",
                "web",
            ])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the daemons failed");
    });
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    target.join("debug").join(name)
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests
/// that start right after). Never the same port twice in one test process:
/// the kernel may hand a just-released port out again, and two listeners of
/// one daemon on the same port make its config invalid.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local addr").port();
        let mut seen = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.contains(&port) {
            seen.push(port);
            return port;
        }
    }
}

/// A daemon started by a test; killed on drop, its log printed if the test
/// is panicking.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    pub log_path: PathBuf,
}

impl Daemon {
    pub fn spawn(name: &str, mut cmd: Command, log_path: PathBuf) -> Self {
        let log = std::fs::File::create(&log_path).expect("create log");
        let log2 = log.try_clone().expect("clone log");
        cmd.stdout(Stdio::from(log)).stderr(Stdio::from(log2));
        cmd.env(
            "RUST_LOG",
            std::env::var("MEET_TEST_LOG").unwrap_or_else(|_| "info".into()),
        );
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_string(),
            child: Some(child),
            log_path,
        }
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Wait until the log contains `needle` (or panic after `timeout`).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{}: {needle:?} not logged within {timeout:?}\n{}",
            self.name,
            self.log()
        );
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Send SIGTERM and wait for exit; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "===== {} log ({}) =====\n{}",
                self.name,
                self.log_path.display(),
                self.log()
            );
        }
    }
}

/// Wait until a TCP port accepts connections.
pub fn wait_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
