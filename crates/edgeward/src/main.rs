//! The `edgeward` command: parses the command line, sets up logging and the
//! runtime, and hands over to the libraries. No request logic lives here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use edgeward_proxy::demo;
use edgeward_proxy::Bound;

// A per-request proxy allocates many small, short-lived buffers: mimalloc's
// thread-local free lists serve them with less CPU than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "edgeward", version, about = "An HTTP edge reverse proxy")]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve with the configuration file CONFIG (SIGHUP reloads it, SIGTERM stops gracefully).
    Run {
        /// The TOML configuration file.
        config: PathBuf,
    },
    /// Validate CONFIG and exit: 0 when valid, 1 with the file, line and fault otherwise.
    Check {
        /// The TOML configuration file.
        config: PathBuf,
    },
    /// Start a built-in demo origin and the proxy in front of it, on loopback.
    Demo {
        /// Where the proxy listens (default 127.0.0.1:8080, or a free port if that is taken).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Run { config } => match edgeward_config::load(&config) {
            Ok(loaded) => serve(loaded.workers, async move {
                let bound = Bound::bind(loaded, Some(config)).await?;
                announce(&bound);
                bound.serve().await;
                Ok(())
            }),
            Err(e) => {
                eprintln!("edgeward: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Demo { listen } => {
            serve(0, async move {
                let origin = demo::spawn_origin(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
                let bound = match listen {
                    Some(addr) => Bound::bind(edgeward_config::demo(addr, origin), None).await?,
                    None => {
                        let preferred = SocketAddr::from(([127, 0, 0, 1], 8080));
                        match Bound::bind(edgeward_config::demo(preferred, origin), None).await {
                            Ok(bound) => bound,
                            Err(_) => {
                                let any = SocketAddr::from(([127, 0, 0, 1], 0));
                                Bound::bind(edgeward_config::demo(any, origin), None).await?
                            }
                        }
                    }
                };
                let addr = bound.local_addrs()[0];
                println!("http://{addr}/");
                println!("edgeward demo: the proxy serves http://{addr}/ in front of a demo origin at http://{origin}/");
                println!("Try:");
                for (path, what) in demo::TOUR {
                    println!("  http://{addr}{path}  — {what}");
                }
                if let Some(admin) = bound.admin_addr() {
                    println!("  http://{admin}/  — the analytics dashboard (admin listener; /metrics, /api/totals)");
                }
                println!("Stop with Ctrl-C.");
                bound.serve().await;
                Ok(())
            })
        }
    }
}

fn check(path: &Path) -> ExitCode {
    match edgeward_config::load(path) {
        Ok(config) => {
            println!(
                "{}: ok ({} zone{}, listening on {})",
                path.display(),
                config.zones.len(),
                if config.zones.len() == 1 { "" } else { "s" },
                config
                    .listen
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("edgeward: {e}");
            ExitCode::FAILURE
        }
    }
}

fn announce(bound: &Bound) {
    for addr in bound.local_addrs() {
        println!("edgeward listening on http://{addr}/");
    }
    for addr in bound.local_tls_addrs() {
        println!("edgeward listening on https://{addr}/");
    }
    if let Some(admin) = bound.admin_addr() {
        println!("edgeward admin on http://{admin}/ (dashboard, /api/…, /metrics)");
    }
}

/// Runs `main` on a runtime with `workers` threads (0: one per core; 1: a
/// single-threaded runtime, which is what a pinned one-core deployment wants).
fn serve(workers: usize, main: impl std::future::Future<Output = std::io::Result<()>>) -> ExitCode {
    let runtime = if workers == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if workers > 1 {
            builder.worker_threads(workers);
        }
        builder.enable_all().build()
    };
    let result = match runtime {
        Ok(rt) => rt.block_on(main),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgeward: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("EDGEWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}
