//! The end-to-end harness: the real `edgeward` binary on loopback, a scripted
//! raw-TCP test origin, and a small HTTP/1.1 response reader for exact-byte tests.
#![allow(dead_code)]

pub mod chromium;
pub mod h2client;
pub mod redis;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running `edgeward run CONFIG` process; killed on drop.
pub struct Edgeward {
    child: Child,
    /// The first listening address it printed.
    pub addr: SocketAddr,
    /// The directory holding its config and logs.
    pub dir: tempfile::TempDir,
    stderr_path: PathBuf,
    /// Stdout lines after the first listening address, read by `tls_addr`.
    stdout: Mutex<Receiver<String>>,
    tls_addr: OnceLock<SocketAddr>,
}

impl Edgeward {
    /// Starts edgeward with `config` (TOML text); `{origin}` in it is not replaced here.
    pub fn start(config: &str) -> Edgeward {
        Self::start_with_files(config, &[])
    }

    /// Starts edgeward with `config` and extra files (relative path, content) beside it.
    pub fn start_with_files(config: &str, files: &[(&str, &str)]) -> Edgeward {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let config_path = dir.path().join("edgeward.toml");
        std::fs::write(&config_path, config).unwrap();
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_edgeward"))
            .arg("run")
            .arg(&config_path)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn edgeward");
        let stdout = stdout_lines(child.stdout.take().unwrap());
        let addr = next_announced(&stdout, "edgeward listening on http://").unwrap_or_else(|| {
            panic!(
                "edgeward did not start: {}",
                std::fs::read_to_string(&stderr_path).unwrap()
            )
        });
        Edgeward {
            child,
            addr,
            dir,
            stderr_path,
            stdout: Mutex::new(stdout),
            tls_addr: OnceLock::new(),
        }
    }

    /// The first TLS listening address it printed (after the plain ones).
    pub fn tls_addr(&self) -> SocketAddr {
        *self.tls_addr.get_or_init(|| {
            let stdout = self.stdout.lock().unwrap();
            next_announced(&stdout, "edgeward listening on https://").expect("a TLS listener announced")
        })
    }

    /// The admin listener's address it printed (after the proxy listeners).
    pub fn admin_addr(&self) -> SocketAddr {
        let stdout = self.stdout.lock().unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .expect("an admin listener announced");
            let line = stdout.recv_timeout(left).expect("an admin listener announced");
            if let Some(rest) = line.strip_prefix("edgeward admin on http://") {
                return rest.split('/').next().unwrap().parse().unwrap();
            }
        }
    }

    /// The process id of the edgeward child.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the process now (`VmRSS` in `/proc/<pid>/status`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// The config file path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("edgeward.toml")
    }

    /// Everything edgeward wrote to stderr so far (the logs).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits until the logs contain `needle`.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let logs = self.logs();
            if logs.contains(needle) {
                return logs;
            }
            assert!(
                Instant::now() < deadline,
                "log never showed {needle:?}; logs:\n{logs}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Edgeward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child's stdout, line by line, read on a thread of its own (so the child never blocks on it).
fn stdout_lines(stdout: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // Once nobody reads, keep draining so the child never blocks on a full pipe.
            let _ = tx.send(line);
        }
    });
    rx
}

/// Takes lines until one starts with `prefix`; the address after it.
fn next_announced(lines: &Receiver<String>, prefix: &str) -> Option<SocketAddr> {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let line = lines.recv_timeout(left).ok()?;
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.trim_end_matches('/').parse().ok();
        }
    }
}

/// Reads lines from a child's stdout until one starts with `prefix`; the address after it.
pub fn read_announced_addr(stdout: impl Read + Send + 'static, prefix: &str) -> Option<SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    let prefix = prefix.to_owned();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut sent = false;
        while let Some(Ok(line)) = lines.next() {
            if !sent {
                if let Some(rest) = line.strip_prefix(&prefix) {
                    let addr = rest.trim_end_matches('/').parse::<SocketAddr>().ok();
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        }
    });
    rx.recv_timeout(WAIT).ok().flatten()
}

/// A zone config routing `hosts` to `origin`, with extra TOML lines appended.
pub fn config(origin: SocketAddr, extra: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\nshutdown_timeout = \"5s\"\ndefault_zone = \"test\"\n\n\
         [upstream]\nconnect_timeout = \"2s\"\nresponse_timeout = \"3s\"\n\n\
         [[zones]]\nname = \"test\"\nhosts = [\"example.com\", \"*.example.com\", \"127.0.0.1\"]\n\
         origins = [\"{origin}\"]\n{extra}"
    )
}

/// One request as the test origin received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The raw head (request line and fields, with the final CRLF CRLF).
    pub head: String,
    /// The body (by Content-Length or chunked, decoded).
    pub body: Vec<u8>,
}

impl Received {
    /// The request line.
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }

    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(&self.head, name)
    }
}

/// What the test origin does with a request.
pub enum Action {
    /// Write these exact bytes (a whole response), keep the connection.
    Respond(Vec<u8>),
    /// Write these bytes, then close.
    RespondClose(Vec<u8>),
    /// Never answer; keep the connection open until the peer closes it.
    Hang,
    /// Close the connection without answering.
    Close,
}

type Handler = dyn Fn(&Received) -> Action + Send + Sync;

/// A raw-TCP HTTP/1.1 origin answering by a handler; records what it received.
pub struct TestOrigin {
    /// Its address.
    pub addr: SocketAddr,
    /// Every request received, in order.
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Connections whose peer closed while the origin was hanging on a request.
    pub cancelled: Arc<AtomicUsize>,
}

impl TestOrigin {
    /// Starts an origin answering every request with `handler`.
    pub fn start(handler: impl Fn(&Received) -> Action + Send + Sync + 'static) -> TestOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let cancelled = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (rec, conns, canc) = (received.clone(), connections.clone(), cancelled.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                conns.fetch_add(1, Ordering::SeqCst);
                let (handler, rec, canc) = (handler.clone(), rec.clone(), canc.clone());
                thread::spawn(move || serve_origin_conn(stream, &*handler, &rec, &canc));
            }
        });
        TestOrigin {
            addr,
            received,
            connections,
            cancelled,
        }
    }

    /// An origin answering `status reason` with a small body and extra header lines.
    pub fn fixed(status_line: &str, extra_headers: &str, body: &str) -> TestOrigin {
        let resp = format!(
            "HTTP/1.1 {status_line}\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        TestOrigin::start(move |_| Action::Respond(resp.clone().into_bytes()))
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn serve_origin_conn(
    mut stream: TcpStream,
    handler: &Handler,
    rec: &Mutex<Vec<Received>>,
    canc: &AtomicUsize,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let Some(req) = read_request(&mut reader) else {
            return;
        };
        rec.lock().unwrap().push(req.clone());
        match handler(&req) {
            Action::Respond(bytes) => {
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
            Action::RespondClose(bytes) => {
                let _ = stream.write_all(&bytes);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Action::Close => return,
            Action::Hang => {
                let mut byte = [0u8; 1];
                // Blocks until the proxy closes the connection (the cancellation we test for).
                if matches!(reader.read(&mut byte), Ok(0) | Err(_)) {
                    canc.fetch_add(1, Ordering::SeqCst);
                }
                return;
            }
        }
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<Received> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = Vec::new();
    if let Some(len) = header_in(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    } else if header_in(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if n == 0 {
                loop {
                    let mut t = String::new();
                    reader.read_line(&mut t).ok()?;
                    if t == "\r\n" || t.is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(Received { head, body })
}

fn header_in(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status line's code.
    pub status: u16,
    /// The status line's reason phrase.
    pub reason: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (dechunked).
    pub body: Vec<u8>,
    /// The raw head bytes.
    pub raw_head: String,
}

impl Response {
    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Opens a client connection with read timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `request` on a new connection and reads one response.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Response {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    let head_only = request.starts_with(b"HEAD ");
    read_response(&mut BufReader::new(s), head_only).expect("a response")
}

/// Reads one response from `reader` (no body when `head_only`).
pub fn read_response(reader: &mut impl BufRead, head_only: bool) -> Option<Response> {
    let mut status_line = String::new();
    loop {
        status_line.clear();
        if reader.read_line(&mut status_line).ok()? == 0 {
            return None;
        }
        let mut raw_head = status_line.clone();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            raw_head.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
            let (n, v) = line.trim_end().split_once(':')?;
            headers.push((n.to_owned(), v.trim().to_owned()));
        }
        let mut parts = status_line.trim_end_matches("\r\n").splitn(3, ' ');
        let _version = parts.next()?;
        let status: u16 = parts.next()?.parse().ok()?;
        let reason = parts.next().unwrap_or("").to_owned();
        if (100..200).contains(&status) {
            continue;
        }
        let mut resp = Response {
            status,
            reason,
            headers,
            body: Vec::new(),
            raw_head: raw_head.clone(),
        };
        if head_only || status == 204 || status == 304 {
            return Some(resp);
        }
        if let Some(len) = resp
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            resp.body.resize(len, 0);
            reader.read_exact(&mut resp.body).ok()?;
        } else if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).ok()?;
                let n = usize::from_str_radix(size.trim(), 16).ok()?;
                if n == 0 {
                    let mut end = String::new();
                    reader.read_line(&mut end).ok()?;
                    break;
                }
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk).ok()?;
                resp.body.extend_from_slice(&chunk[..n]);
            }
        } else {
            reader.read_to_end(&mut resp.body).ok()?;
        }
        return Some(resp);
    }
}

/// Whether the server closed `stream` (EOF or reset) within the wait; a timeout
/// means the connection is still open.
pub fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}
