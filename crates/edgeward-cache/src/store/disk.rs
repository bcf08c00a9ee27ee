//! The disk store: one file per entry under a directory, an in-memory index rebuilt from the
//! files at start (so entries survive restarts), and LRU eviction keeping the files' total size
//! within a bound.
//!
//! Why our own and not `foyer` or `cacache`: `cacache` is content-addressed with no size bound
//! (eviction would be a second index walk of our own anyway) and `foyer` brings a large
//! dependency tree and its own memory tier; what an edge needs is small — whole objects,
//! written once, read often, evicted by age of use — so one file per key (named by the key's
//! SHA-256), written to a temp file and renamed, is crash-safe and easy to reason about. A
//! freshly written entry is served from memory until its file is on disk. Corrupt or foreign
//! files are skipped at start and removed.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::ObjectStore;
use crate::object::{decode, decode_identity, encode, Entry, Origin};
use crate::purge::Purge;

const EXT: &str = "obj";
/// Bytes read to find an entry's key and purge identity when rebuilding the index.
const IDENTITY_PREFIX: usize = 64 * 1024;

/// Entries in files under one directory, bounded by their total size.
#[derive(Clone)]
pub struct DiskStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("dir", &self.inner.dir)
            .field("max_bytes", &self.inner.max_bytes)
            .finish()
    }
}

struct Inner {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    index: HashMap<String, Item>,
    /// Use order: tick → key (lowest = least recently used).
    lru: BTreeMap<u64, String>,
    tick: u64,
    bytes: u64,
    /// Entries whose file is still being written, with the generation being written.
    pending: HashMap<String, (Entry, u64)>,
}

struct Item {
    size: u64,
    tick: u64,
    generation: u64,
    origin: Origin,
}

impl State {
    fn touch(&mut self, key: &str) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(item) = self.index.get_mut(key) {
            self.lru.remove(&item.tick);
            item.tick = tick;
            self.lru.insert(tick, key.to_string());
        }
    }

    fn forget(&mut self, key: &str) -> bool {
        self.pending.remove(key);
        match self.index.remove(key) {
            Some(item) => {
                self.lru.remove(&item.tick);
                self.bytes -= item.size;
                true
            }
            None => false,
        }
    }
}

/// A file name for `key`.
fn file_name(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut name = String::with_capacity(68);
    for b in digest {
        name.push_str(&format!("{b:02x}"));
    }
    name.push('.');
    name.push_str(EXT);
    name
}

impl DiskStore {
    /// Opens (creating if needed) the store in `dir`, indexing the entries already there and
    /// evicting down to `max_bytes` if the bound shrank.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut found: Vec<(u64, String, Origin, u64)> = Vec::new();
        for item in std::fs::read_dir(dir)? {
            let item = item?;
            let path = item.path();
            let name = item.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(EXT) {
                continue;
            }
            let meta = item.metadata()?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as u64);
            match read_identity(&path, meta.len()) {
                Some((key, origin)) if file_name(&key) == name => {
                    found.push((mtime, key, origin, meta.len()))
                }
                _ => {
                    tracing::warn!(file = %path.display(), "removing an unreadable cache file");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        // Oldest first, so use order survives a restart approximately.
        found.sort_by_key(|f| f.0);
        let mut state = State::default();
        for (_, key, origin, size) in found {
            state.tick += 1;
            state.lru.insert(state.tick, key.clone());
            state.bytes += size;
            state.index.insert(
                key,
                Item {
                    size,
                    tick: state.tick,
                    generation: 0,
                    origin,
                },
            );
        }
        let store = DiskStore {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                max_bytes,
                state: Mutex::new(state),
            }),
        };
        let evicted = store.evict(&mut store.lock(), None);
        store.delete_files(evicted);
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Evicts least recently used entries (never `keep`) until within the bound.
    fn evict(&self, state: &mut State, keep: Option<&str>) -> Vec<String> {
        let mut evicted = Vec::new();
        while state.bytes > self.inner.max_bytes {
            let victim = state.lru.values().find(|k| Some(k.as_str()) != keep).cloned();
            let Some(victim) = victim else { break };
            state.forget(&victim);
            evicted.push(victim);
        }
        evicted
    }

    fn delete_files(&self, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        let inner = self.inner.clone();
        run_blocking(move || {
            let state = inner.state.lock().unwrap_or_else(|p| p.into_inner());
            for key in keys {
                // Re-stored since: its new file is (or will be) valid.
                if !state.index.contains_key(&key) {
                    let _ = std::fs::remove_file(inner.dir.join(file_name(&key)));
                }
            }
        });
    }
}

/// Runs `f` on the blocking pool when inside a runtime, else here.
fn run_blocking(f: impl FnOnce() + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(f);
        }
        Err(_) => f(),
    }
}

fn read_identity(path: &Path, len: u64) -> Option<(String, Origin)> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0; (len as usize).min(IDENTITY_PREFIX)];
    file.read_exact(&mut buf).ok()?;
    match decode_identity(Bytes::from(buf)) {
        Some(found) => Some(found),
        None if len as usize > IDENTITY_PREFIX => decode_identity(Bytes::from(std::fs::read(path).ok()?)),
        None => None,
    }
}

impl ObjectStore for DiskStore {
    async fn get(&self, key: &str) -> Option<Entry> {
        let path = {
            let mut state = self.lock();
            if let Some((entry, _)) = state.pending.get(key) {
                let entry = entry.clone();
                state.touch(key);
                return Some(entry);
            }
            state.index.get(key)?;
            state.touch(key);
            self.inner.dir.join(file_name(key))
        };
        let read = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
        let decoded = match read {
            Ok(Ok(bytes)) => decode(Bytes::from(bytes)).filter(|(k, _)| k == key),
            _ => None,
        };
        match decoded {
            Some((_, entry)) => Some(entry),
            None => {
                // Missing or corrupt (e.g. removed by hand): forget it.
                let mut state = self.lock();
                if !state.pending.contains_key(key) {
                    state.forget(key);
                }
                None
            }
        }
    }

    fn put(&self, key: String, entry: Entry) {
        let bytes = encode(&key, &entry);
        let size = bytes.len() as u64;
        if size > self.inner.max_bytes {
            return;
        }
        let (generation, evicted) = {
            let mut state = self.lock();
            state.forget(&key);
            state.tick += 1;
            let (tick, generation) = (state.tick, state.tick);
            state.lru.insert(tick, key.clone());
            state.bytes += size;
            let origin = entry.origin().clone();
            state.index.insert(
                key.clone(),
                Item {
                    size,
                    tick,
                    generation,
                    origin,
                },
            );
            state.pending.insert(key.clone(), (entry, generation));
            let evicted = self.evict(&mut state, Some(&key));
            (generation, evicted)
        };
        self.delete_files(evicted);
        let inner = self.inner.clone();
        run_blocking(move || {
            let name = file_name(&key);
            let tmp = inner.dir.join(format!("{name}.{generation}.tmp"));
            let written = std::fs::write(&tmp, &bytes);
            let mut state = inner.state.lock().unwrap_or_else(|p| p.into_inner());
            let current = state.index.get(&key).is_some_and(|i| i.generation == generation);
            if written.is_ok() && current {
                if let Err(e) = std::fs::rename(&tmp, inner.dir.join(&name)) {
                    tracing::warn!(error = %e, "cannot write a cache file");
                    state.forget(&key);
                }
            } else {
                let _ = std::fs::remove_file(&tmp);
                if current {
                    state.forget(&key);
                }
            }
            if state.pending.get(&key).is_some_and(|(_, g)| *g == generation) {
                state.pending.remove(&key);
            }
        });
    }

    fn remove(&self, key: &str) -> bool {
        let removed = self.lock().forget(key);
        if removed {
            self.delete_files(vec![key.to_string()]);
        }
        removed
    }

    fn purge(&self, purge: &Purge) -> usize {
        let removed: Vec<String> = {
            let mut state = self.lock();
            let keys: Vec<String> = state
                .index
                .iter()
                .filter(|(_, item)| purge.matches(&item.origin))
                .map(|(k, _)| k.clone())
                .collect();
            for k in &keys {
                state.forget(k);
            }
            keys
        };
        let n = removed.len();
        self.delete_files(removed);
        n
    }

    fn size_bytes(&self) -> u64 {
        self.lock().bytes
    }

    fn entries(&self) -> usize {
        self.lock().index.len()
    }
}

impl DiskStore {
    /// Waits until every pending file write has finished (tests and shutdown).
    pub async fn flush(&self) {
        for _ in 0..1000 {
            if self.lock().pending.is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Bytes of the object files on disk now (for checking the bound).
    pub fn bytes_on_disk(&self) -> std::io::Result<u64> {
        let mut total = 0;
        for item in std::fs::read_dir(&self.inner.dir)? {
            let item = item?;
            if item.file_name().to_string_lossy().ends_with(EXT) {
                total += item.metadata()?.len();
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::tests::sample;

    fn object(url: &str, body_len: usize) -> Entry {
        let mut o = sample();
        o.body = Bytes::from(vec![b'y'; body_len]);
        o.origin.url = url.to_string();
        o.origin.host = url.split('/').next().unwrap().to_string();
        Entry::Object(Arc::new(o))
    }

    #[tokio::test]
    async fn survives_reopen_and_stays_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 50_000).unwrap();
        for i in 0..40 {
            store.put(format!("k{i}"), object(&format!("example.com/{i}"), 2_000));
        }
        assert!(
            store.get("k39").await.is_some(),
            "readable before its file is written"
        );
        store.flush().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(store.size_bytes() <= 50_000);
        assert!(
            store.bytes_on_disk().unwrap() <= 50_000,
            "{}",
            store.bytes_on_disk().unwrap()
        );
        assert!(store.get("k0").await.is_none(), "least recently used evicted");
        let kept = store.entries();
        assert!(kept >= 20, "{kept}");
        drop(store);

        let reopened = DiskStore::open(dir.path(), 50_000).unwrap();
        assert_eq!(reopened.entries(), kept);
        let Some(Entry::Object(o)) = reopened.get("k39").await else {
            panic!("k39 lost on reopen")
        };
        assert_eq!(o.body.len(), 2_000);
        assert_eq!(o.origin.url, "example.com/39");
        // A smaller bound at the next start evicts down to it.
        drop(reopened);
        let smaller = DiskStore::open(dir.path(), 10_000).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(smaller.size_bytes() <= 10_000);
        assert!(smaller.bytes_on_disk().unwrap() <= 10_000);
        // Use order survives only approximately (file times), so: some kept, all readable.
        assert!(smaller.entries() >= 3, "{}", smaller.entries());
        for i in 0..40 {
            if let Some(Entry::Object(o)) = smaller.get(&format!("k{i}")).await {
                assert_eq!(o.body.len(), 2_000);
            }
        }
    }

    #[tokio::test]
    async fn purge_and_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 1_000_000).unwrap();
        store.put("a".into(), object("example.com/a", 10));
        store.put("b".into(), object("other.com/b", 10));
        store.flush().await;
        assert_eq!(store.purge(&Purge::Url("https://example.com/a".into())), 1);
        assert!(store.get("a").await.is_none());
        // A corrupted file is dropped when read.
        std::fs::write(dir.path().join(file_name("b")), b"garbage").unwrap();
        assert!(store.get("b").await.is_none());
        assert_eq!(store.entries(), 0);
        std::fs::write(dir.path().join("stray.obj"), b"garbage").unwrap();
        let reopened = DiskStore::open(dir.path(), 1_000_000).unwrap();
        assert_eq!(reopened.entries(), 0);
        assert!(!dir.path().join("stray.obj").exists());
    }
}
