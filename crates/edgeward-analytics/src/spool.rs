//! The spool: batches waiting for a store that is down, bounded in bytes.
//!
//! Owns keeping undelivered batches in order (oldest first), on disk when a directory is
//! configured (one file per batch, written to a temporary name and renamed, so a crash
//! leaves whole batches or none; found again at start) or in memory otherwise, and refusing a
//! batch that would pass the byte bound. Does not own retrying ([`crate::delivery`]) or
//! counting what it refuses.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::batch::Batch;

/// A batch that did not fit: the spool is full.
#[derive(Debug)]
pub struct SpoolFull(pub Batch);

/// One waiting batch.
struct Entry {
    id: u64,
    created_ms: i64,
    bytes: u64,
    /// In memory: the batch itself; on disk: `None` (read back when its turn comes).
    batch: Option<Batch>,
}

/// Undelivered batches, oldest first.
pub struct Spool {
    dir: Option<PathBuf>,
    max_bytes: u64,
    bytes: u64,
    entries: VecDeque<Entry>,
}

impl Spool {
    /// An in-memory spool of at most `max_bytes` (encoded batch sizes).
    pub fn memory(max_bytes: u64) -> Spool {
        Spool {
            dir: None,
            max_bytes,
            bytes: 0,
            entries: VecDeque::new(),
        }
    }

    /// A spool in `dir` (created if missing) of at most `max_bytes`; batches already there
    /// (from before a restart) are taken up, oldest first.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_suffix(".batch").and_then(|n| n.parse::<u64>().ok()) {
                let meta = entry.metadata()?;
                // The file's time stands for the batch's until the batch is read.
                let written_ms = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(1, |d| i64::try_from(d.as_millis()).unwrap_or(1));
                found.push((id, meta.len(), written_ms));
            } else if name.ends_with(".tmp") {
                // A write a crash interrupted: its batch was never acknowledged as spooled.
                let _ = fs::remove_file(entry.path());
            }
        }
        found.sort_unstable();
        let mut spool = Spool {
            dir: Some(dir.to_path_buf()),
            max_bytes,
            bytes: 0,
            entries: VecDeque::new(),
        };
        for (id, bytes, written_ms) in found {
            spool.bytes += bytes;
            spool.entries.push_back(Entry {
                id,
                created_ms: written_ms,
                bytes,
                batch: None,
            });
        }
        Ok(spool)
    }

    /// Adds `batch` at the back; refuses it when it would pass the bound.
    pub fn push(&mut self, batch: Batch) -> Result<(), SpoolFull> {
        let encoded = batch.encode();
        let bytes = encoded.len() as u64;
        if self.bytes + bytes > self.max_bytes {
            return Err(SpoolFull(batch));
        }
        let (id, created_ms) = (batch.id, batch.created_ms);
        let kept = match &self.dir {
            Some(dir) => {
                if let Err(error) = write_file(dir, id, &encoded) {
                    tracing::error!(%error, "analytics: writing to the spool failed");
                    return Err(SpoolFull(batch));
                }
                None
            }
            None => Some(batch),
        };
        self.bytes += bytes;
        self.entries.push_back(Entry {
            id,
            created_ms,
            bytes,
            batch: kept,
        });
        Ok(())
    }

    /// The oldest batch, without removing it. A spooled file that cannot be read is removed
    /// and reported as `Err` with its size in bytes (its events are lost; the caller counts).
    pub fn front(&mut self) -> Option<Result<Batch, (u64, String)>> {
        let entry = self.entries.front()?;
        if let Some(batch) = &entry.batch {
            return Some(Ok(batch.clone()));
        }
        let dir = self.dir.as_ref().expect("entries without a batch are on disk");
        let path = file(dir, entry.id);
        let read = fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| Batch::decode(&bytes));
        match read {
            Ok(batch) => {
                let entry = self.entries.front_mut().expect("checked above");
                entry.created_ms = batch.created_ms;
                Some(Ok(batch))
            }
            Err(why) => {
                let bytes = entry.bytes;
                self.pop();
                Some(Err((bytes, why)))
            }
        }
    }

    /// Removes the oldest batch (delivered).
    pub fn pop(&mut self) {
        if let Some(entry) = self.entries.pop_front() {
            self.bytes -= entry.bytes;
            if let Some(dir) = &self.dir {
                let _ = fs::remove_file(file(dir, entry.id));
            }
        }
    }

    /// Takes every in-memory batch out (at shutdown; on disk they stay for the next start).
    pub fn drain_memory(&mut self) -> Vec<Batch> {
        if self.dir.is_some() {
            return Vec::new();
        }
        self.bytes = 0;
        self.entries.drain(..).filter_map(|e| e.batch).collect()
    }

    /// Whether the batches survive a restart.
    pub fn is_durable(&self) -> bool {
        self.dir.is_some()
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// When the oldest waiting batch was cut (Unix ms).
    pub fn oldest_ms(&self) -> Option<i64> {
        self.entries.front().map(|e| e.created_ms)
    }
}

fn file(dir: &Path, id: u64) -> PathBuf {
    // Zero-padded so names sort like ids.
    dir.join(format!("{id:020}.batch"))
}

fn write_file(dir: &Path, id: u64, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{id:020}.tmp"));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, file(dir, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn batch(id: u64, events: usize) -> Batch {
        Batch {
            id,
            instance: "e".into(),
            created_ms: 1_000 + id as i64,
            events: vec![Event::default(); events],
            rollups: Vec::new(),
        }
    }

    #[test]
    fn memory_spool_is_fifo_and_bounded() {
        let one = batch(1, 2).encode().len() as u64;
        let mut s = Spool::memory(one * 2 + 1);
        s.push(batch(1, 2)).unwrap();
        s.push(batch(2, 2)).unwrap();
        let SpoolFull(refused) = s.push(batch(3, 2)).unwrap_err();
        assert_eq!(refused.id, 3);
        assert_eq!((s.len(), s.bytes()), (2, one * 2));
        assert_eq!(s.oldest_ms(), Some(1_001));
        assert_eq!(s.front().unwrap().unwrap().id, 1);
        s.pop();
        assert_eq!(s.front().unwrap().unwrap().id, 2);
        s.pop();
        assert!(s.is_empty() && s.bytes() == 0 && s.front().is_none());
    }

    #[test]
    fn disk_spool_survives_a_restart_in_order_and_drops_unreadable_files() {
        let dir = std::env::temp_dir().join(format!("edgeward-spool-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        {
            let mut s = Spool::open(&dir, 1 << 20).unwrap();
            for id in [10, 9, 11] {
                s.push(batch(id, 1)).unwrap();
            }
            assert!(s.is_durable());
        }
        fs::write(dir.join("00000000000000000005.batch"), b"{broken").unwrap();
        fs::write(dir.join("00000000000000000004.tmp"), b"half").unwrap();
        let mut s = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(s.len(), 4);
        assert!(
            s.front().unwrap().is_err(),
            "the broken file comes first and is removed"
        );
        let ids: Vec<u64> = std::iter::from_fn(|| {
            let id = s.front()?.ok()?.id;
            s.pop();
            Some(id)
        })
        .collect();
        assert_eq!(ids, [9, 10, 11]);
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "delivered files are removed"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
