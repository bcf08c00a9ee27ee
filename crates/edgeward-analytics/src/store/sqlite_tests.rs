//! The SQLite store: migrations from the unversioned schema, exactly-once batches, the cap.

use super::*;
use crate::query::{Answer, Ask, EventQuery, Filter, Question};
use crate::sample::{self, BASE_MS};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeward-sqlite-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_database_of_the_first_release_is_migrated_and_keeps_its_rows() {
    let dir = temp_dir("migrate");
    let path = dir.join("events.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "INSERT INTO events (time_ms, zone, method, host, path, query, status, source,
                request_id, client_ip, user_agent, referer, bytes_in, bytes_out, duration_us)
             VALUES (1, 'z', 'GET', 'h', '/old', '', 404, 'origin', 'r', 'ip', '', '', 0, 0, 0);
             INSERT INTO rollups VALUES (2, 'z', 200, 'origin', 5, 0, 0, 0);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, SqliteCap::default()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let reader = store.reader().unwrap();
    assert_eq!(reader.count().unwrap(), 6, "1 event + a rollup of 5 survive");
    drop((store, reader));
    // Opening again applies nothing twice.
    let store = SqliteStore::open(&path, SqliteCap::default()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.rows(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = temp_dir("newer");
    let path = dir.join("events.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SqliteStore::open(&path, SqliteCap::default()).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_batch_delivered_twice_is_stored_once() {
    let mut store = SqliteStore::in_memory(SqliteCap::default()).unwrap();
    let reader = store.reader().unwrap();
    let batch = sample::batch("a", 42, BASE_MS);
    assert!(matches!(
        store.write(&batch).unwrap(),
        Written::Stored { details_folded: 0 }
    ));
    assert_eq!(store.write(&batch).unwrap(), Written::AlreadyStored);
    assert_eq!(reader.count().unwrap(), sample::TOTAL);
    // The same id from another edge is another batch.
    store.write(&sample::batch("b", 42, BASE_MS)).unwrap();
    assert_eq!(reader.count().unwrap(), 2 * sample::TOTAL);
}

#[test]
fn file_store_uses_wal_and_readers_see_writes() {
    let dir = temp_dir("wal");
    let mut store = SqliteStore::open(dir.join("events.db"), SqliteCap::default()).unwrap();
    assert_eq!(store.journal_mode().unwrap(), "wal");
    let reader = store.reader().unwrap();
    store.write(&sample::batch("a", 1, BASE_MS)).unwrap();
    assert_eq!(reader.count().unwrap(), sample::TOTAL);
    drop((store, reader));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn past_the_row_cap_details_become_counts_and_answers_stay_exact() {
    let cap = SqliteCap {
        max_rows: 100,
        ..SqliteCap::default()
    };
    let mut store = SqliteStore::in_memory(cap).unwrap();
    let reader = store.reader().unwrap();
    // The first batch fits (41 details and the rollup rows); a second one's details would not.
    let first = store.write(&sample::batch("a", 1, BASE_MS)).unwrap();
    assert_eq!(first, Written::Stored { details_folded: 0 });
    let second = store.write(&sample::batch("a", 2, BASE_MS)).unwrap();
    assert_eq!(second, Written::Stored { details_folded: 41 });
    assert_eq!(
        reader.detail_count().unwrap(),
        41,
        "the second batch's details are counts only"
    );
    let q = Question {
        kind: Ask::StatusCounts,
        filter: Filter::default(),
    };
    let Answer::StatusCounts { counts, .. } = reader.answer(&q).await.unwrap() else {
        panic!()
    };
    let total: u64 = counts.iter().map(|c| c.count).sum();
    assert_eq!(total, 2 * sample::TOTAL, "every request still counted");
    let q = Question {
        kind: Ask::Totals,
        filter: Filter::default(),
    };
    let Answer::Totals(t) = reader.answer(&q).await.unwrap() else {
        panic!()
    };
    assert_eq!(t.by_source[1].count, 18, "rate_limit: 9 per batch, by source");
}

#[test]
fn the_memory_store_cannot_grow_past_its_byte_cap() {
    let cap = SqliteCap {
        max_rows: u64::MAX,
        max_bytes: 512 * 1024,
    };
    let mut store = SqliteStore::in_memory(cap).unwrap();
    let mut id = 0;
    let mut refused = false;
    for _ in 0..500 {
        id += 1;
        let mut b = sample::batch("a", id, BASE_MS + id as i64 * 1_000);
        for e in &mut b.events {
            e.user_agent = "u".repeat(1_000);
        }
        if store.write(&b).is_err() {
            refused = true;
            break;
        }
    }
    assert!(
        store.bytes().unwrap() <= cap.max_bytes,
        "{} bytes",
        store.bytes().unwrap()
    );
    assert!(refused || store.rows() > 0);
}

#[test]
fn retention_deletes_events_rollups_and_batch_ids() {
    let mut store = SqliteStore::in_memory(SqliteCap::default()).unwrap();
    let reader = store.reader().unwrap();
    store.write(&sample::batch("a", 1, BASE_MS)).unwrap();
    store.delete_before(BASE_MS + 120_000).unwrap();
    let left = sample::events(BASE_MS)
        .iter()
        .filter(|e| e.time_ms >= BASE_MS + 120_000)
        .count() as u64;
    assert_eq!(reader.count().unwrap(), left);
    assert_eq!(store.rows(), left);
}
