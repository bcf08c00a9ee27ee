//! The tunnel after a protocol switch (WebSocket over HTTP/1.1 `Upgrade`): bytes copied
//! both ways between the client and the origin's upgraded connection, unchanged, until
//! either side closes or nothing moves for the idle timeout.
//!
//! Owns the copy loop, its idle timeout and the byte counts the log records. Deciding
//! whether to switch is the pipeline's; the 101 head is written by the session first.

use std::io;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Copy buffer per direction.
const CHUNK: usize = 16 * 1024;

/// What went through a tunnel.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tunnelled {
    /// Bytes from the client to the origin.
    pub bytes_in: u64,
    /// Bytes from the origin to the client.
    pub bytes_out: u64,
    /// How long the tunnel was open.
    pub duration: Duration,
}

/// Copies between the client (`rd`, `wr`, with `early` bytes it already sent after the
/// request head) and the origin's side of the switched connection.
pub async fn run<R, W>(
    rd: &mut R,
    wr: &mut W,
    early: &[u8],
    origin: hyper::upgrade::OnUpgrade,
    idle: Duration,
) -> Tunnelled
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let opened = Instant::now();
    let mut done = Tunnelled::default();
    let upgraded = match tokio::time::timeout(idle, origin).await {
        Ok(Ok(upgraded)) => upgraded,
        _ => return done,
    };
    let mut origin = TokioIo::new(upgraded);
    if !early.is_empty() {
        if origin.write_all(early).await.is_err() {
            return done;
        }
        done.bytes_in += early.len() as u64;
    }
    let (mut up, mut down) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let (mut client_open, mut origin_open) = (true, true);
    while client_open || origin_open {
        let step = tokio::time::timeout(idle, async {
            tokio::select! {
                n = rd.read(&mut up), if client_open => Direction::Up(n),
                n = origin.read(&mut down), if origin_open => Direction::Down(n),
            }
        })
        .await;
        let Ok(step) = step else {
            tracing::debug!("tunnel idle timeout");
            break;
        };
        match step {
            Direction::Up(Ok(0)) | Direction::Up(Err(_)) => {
                client_open = false;
                // Half-close: the origin sees the client's end, and may still answer.
                let _ = origin.shutdown().await;
            }
            Direction::Up(Ok(n)) => {
                if copy(&mut origin, &up[..n], idle).await.is_err() {
                    break;
                }
                done.bytes_in += n as u64;
            }
            Direction::Down(Ok(0)) | Direction::Down(Err(_)) => {
                origin_open = false;
                let _ = wr.shutdown().await;
            }
            Direction::Down(Ok(n)) => {
                if copy(wr, &down[..n], idle).await.is_err() {
                    break;
                }
                done.bytes_out += n as u64;
            }
        }
    }
    let _ = wr.shutdown().await;
    done.duration = opened.elapsed();
    done
}

enum Direction {
    Up(io::Result<usize>),
    Down(io::Result<usize>),
}

/// Writes `bytes` on; a side that stops reading for `idle` ends the tunnel.
async fn copy<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8], idle: Duration) -> io::Result<()> {
    let write = async {
        w.write_all(bytes).await?;
        w.flush().await
    };
    tokio::time::timeout(idle, write).await.unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "tunnel peer stopped reading",
        ))
    })
}
