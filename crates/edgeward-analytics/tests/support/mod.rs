//! Real database servers for the store tests, each started on a free loopback port in a
//! temporary directory and stopped when dropped: PostgreSQL (`initdb` + `pg_ctl` from
//! Debian's `postgresql`, as the `postgres` user when the tests run as root) and ClickHouse
//! (`clickhouse-server` with a generated config). Without the binaries a test is skipped
//! loudly, except under CI (env `CI` set and not `0`/`false`), where that is a failure.

#![allow(dead_code)] // each test binary uses part of this

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edgeward_analytics::{
    batch::now_ms, sample, Analytics, AnalyticsHandle, ClickHouseSettings, Options, PostgresSettings,
    StoreSettings,
};

/// One database server at a time: on two cores, three servers starting at once (and a
/// 30-second outage beside them) make start-up time, not the store, what is tested.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a missing server must fail the test.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Skips (or, under CI, fails) when a server binary is missing.
pub fn missing<T>(what: &str) -> Option<T> {
    assert!(!under_ci(), "{what} is not installed, and CI requires it");
    eprintln!("SKIPPED: {what} is not installed (install it or run under CI to make this a failure)");
    None
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeward-{name}-{}-{}", std::process::id(), now_ms()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A PostgreSQL cluster of its own.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

impl Postgres {
    pub fn start() -> Option<Postgres> {
        let bin = PathBuf::from("/usr/lib/postgresql/15/bin");
        if !bin.join("initdb").is_file() {
            return missing("PostgreSQL (Debian package postgresql)");
        }
        let dir = temp_dir("pg");
        let as_postgres = is_root();
        if as_postgres {
            // initdb refuses to run as root; the cluster belongs to the `postgres` user.
            let ok = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&dir)
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let pg = Postgres {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        let data = pg.dir.join("data");
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "edgeward",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.start_again();
        Some(pg)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let path = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                .arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd.args(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts (again) and waits until it accepts connections.
    pub fn start_again(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    /// Stops it at once (connections are cut).
    pub fn stop(&self) {
        let data = self.dir.join("data");
        self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"],
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://edgeward@127.0.0.1:{}/postgres", self.port)
    }

    pub fn settings(&self) -> StoreSettings {
        StoreSettings::Postgres(PostgresSettings {
            url: self.url(),
            timeout: Duration::from_secs(3),
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = Command::new(if self.as_postgres { "setpriv" } else { "true" })
            .args(if self.as_postgres {
                vec!["--reuid=postgres", "--regid=postgres", "--init-groups"]
            } else {
                vec![]
            })
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A ClickHouse server of its own.
pub struct ClickHouse {
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl ClickHouse {
    pub fn start() -> Option<ClickHouse> {
        let Some(bin) = ["/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
        else {
            return missing("ClickHouse (Debian package clickhouse-server)");
        };
        let dir = temp_dir("ch");
        let port = free_port();
        let d = dir.display();
        std::fs::write(
            dir.join("config.xml"),
            format!(
                "<?xml version=\"1.0\"?>\n<yandex>\n\
                 <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog></logger>\n\
                 <http_port>{port}</http_port><listen_host>127.0.0.1</listen_host>\n\
                 <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path>\n\
                 <user_files_path>{d}/user_files/</user_files_path>\n\
                 <format_schema_path>{d}/format_schemas/</format_schema_path>\n\
                 <mark_cache_size>5368709</mark_cache_size>\n\
                 <users_config>users.xml</users_config>\n\
                 <default_profile>default</default_profile><default_database>default</default_database>\n\
                 <mlock_executable>false</mlock_executable>\n</yandex>\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("users.xml"),
            "<?xml version=\"1.0\"?>\n<yandex><profiles><default></default></profiles>\
             <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>\
             <profile>default</profile><quota>default</quota></default></users>\
             <quotas><default></default></quotas></yandex>\n",
        )
        .unwrap();
        let mut ch = ClickHouse {
            dir,
            port,
            child: None,
        };
        ch.bin_start(bin);
        Some(ch)
    }

    fn bin_start(&mut self, bin: &str) {
        let child = Command::new(bin)
            .arg(format!("--config-file={}", self.dir.join("config.xml").display()))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ClickHouse did not start; see {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn start_again(&mut self) {
        let bin = ["/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .unwrap();
        self.bin_start(bin);
    }

    /// Kills it (SIGKILL: as abrupt as a crash) and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn settings(&self) -> StoreSettings {
        StoreSettings::ClickHouse(ClickHouseSettings {
            url: format!("http://127.0.0.1:{}", self.port),
            database: "edgeward".into(),
            user: None,
            timeout: Duration::from_secs(3),
        })
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Delivery options for a test edge.
pub fn options(instance: &str) -> Options {
    Options {
        instance: instance.into(),
        flush_interval: Duration::from_millis(200),
        retry_min: Duration::from_millis(50),
        retry_max: Duration::from_secs(1),
        close_timeout: Duration::from_secs(5),
        // The sample mix is from 2023: keep it.
        retention: Duration::from_secs(100 * 365 * 86_400),
        ..Options::default()
    }
}

/// An edge writing into `settings`.
pub fn edge(settings: &StoreSettings, opts: Options) -> (AnalyticsHandle, std::thread::JoinHandle<()>) {
    let store = edgeward_analytics::open_store(settings).unwrap();
    Analytics::start(store.sink, opts).unwrap()
}

/// Records the sample mix `copies` times, each copy shifted by a millisecond so rollups of
/// different copies are different rows as well as the same.
pub fn record_mix(handle: &AnalyticsHandle, copies: i64) {
    for c in 0..copies {
        for mut e in sample::events(sample::BASE_MS) {
            e.time_ms += c % 3;
            handle.record(e);
        }
    }
}

/// Waits for `f` (polling), failing after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub mod scenarios;
