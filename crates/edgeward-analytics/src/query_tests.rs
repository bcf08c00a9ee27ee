//! Exact answers of every question on the [`crate::sample`] mix, in SQLite; the PostgreSQL
//! and ClickHouse tests run the same [`crate::sample::check_answers`].

use super::*;
use crate::sample::{self, BASE_MS};
use crate::sink::EventSink;
use crate::store::{SqliteCap, SqliteReader, SqliteStore};

fn store_with(batches: &[crate::Batch]) -> (SqliteStore, SqliteReader) {
    let mut store = SqliteStore::in_memory(SqliteCap::default()).unwrap();
    let reader = store.reader().unwrap();
    for b in batches {
        store.write(b).unwrap();
    }
    (store, reader)
}

fn instance(name: &str) -> Filter {
    Filter {
        instance: Some(name.into()),
        ..Filter::default()
    }
}

#[tokio::test]
async fn one_edge_answers_exactly() {
    let (_s, reader) = store_with(&[sample::batch("a", 1, BASE_MS)]);
    sample::check_answers(&reader, Filter::default(), 1)
        .await
        .unwrap();
    sample::check_answers(&reader, instance("a"), 1).await.unwrap();
}

#[tokio::test]
async fn two_edges_add_up_for_the_fleet_and_split_per_edge() {
    let (_s, reader) = store_with(&[sample::batch("a", 1, BASE_MS), sample::batch("b", 1, BASE_MS)]);
    sample::check_answers(&reader, Filter::default(), 2)
        .await
        .unwrap();
    sample::check_answers(&reader, instance("a"), 1).await.unwrap();
    sample::check_answers(&reader, instance("b"), 1).await.unwrap();
    let q = Question {
        kind: Ask::Instances,
        filter: Filter::default(),
    };
    let Answer::Instances(got) = reader.answer(&q).await.unwrap() else {
        panic!()
    };
    let got: Vec<(String, u64)> = got.into_iter().map(|i| (i.instance, i.count)).collect();
    assert_eq!(
        got,
        [("a".to_owned(), sample::TOTAL), ("b".to_owned(), sample::TOTAL)]
    );
    let none = reader
        .answer(&Question {
            kind: Ask::Totals,
            filter: instance("nobody"),
        })
        .await
        .unwrap();
    assert_eq!(
        none,
        Answer::Totals(Totals {
            requests: 0,
            by_source: vec![]
        })
    );
}

#[tokio::test]
async fn rollups_answer_every_question_exactly_as_detail_rows_do() {
    // The same mix with every event in full (as if nothing were routine).
    let mut full = sample::batch("a", 1, BASE_MS);
    full.events = sample::events(BASE_MS);
    full.rollups.clear();
    let (_a, rolled) = store_with(&[sample::batch("a", 1, BASE_MS)]);
    let (_b, detailed) = store_with(&[full]);
    let filters = [
        Filter::default(),
        Filter {
            zone: Some("shop.example".into()),
            ..Filter::default()
        },
        Filter {
            from_ms: Some(BASE_MS + 2_500),
            to_ms: Some(BASE_MS + 61_001),
            ..Filter::default()
        },
        Filter {
            from_ms: Some(BASE_MS + 500),
            to_ms: Some(BASE_MS + 999),
            ..Filter::default()
        },
    ];
    let asks = [
        Ask::Totals,
        Ask::StatusCounts,
        Ask::StatusOverTime {
            bucket: Duration::from_secs(1),
        },
        Ask::StatusOverTime {
            bucket: Duration::from_secs(60),
        },
        Ask::Top404 { limit: 10 },
        Ask::SecurityEvents,
        Ask::RateLimited {
            bucket: Duration::from_secs(60),
        },
        Ask::Instances,
    ];
    for filter in filters {
        for kind in asks {
            let q = Question {
                kind,
                filter: filter.clone(),
            };
            assert_eq!(
                rolled.answer(&q).await.unwrap(),
                detailed.answer(&q).await.unwrap(),
                "{q:?}"
            );
        }
    }
}

#[test]
fn parameters_are_placeholders_or_escaped_literals_never_raw_text() {
    let f = Filter {
        zone: Some("x' OR 1=1 --".into()),
        ..Filter::default()
    };
    let mut b = Builder::new(Dialect::Sqlite);
    b.sql("SELECT 1").counted().filter(&f, &[]);
    let sql = b.build();
    assert_eq!(sql.text, "SELECT 1 FROM counted WHERE zone = ?1");
    let mut b = Builder::new(Dialect::Postgres);
    b.sql("SELECT 1").counted().filter(
        &Filter {
            from_ms: Some(5),
            ..f.clone()
        },
        &["a = 1"],
    );
    assert_eq!(
        b.build().text,
        "SELECT 1 FROM counted WHERE a = 1 AND zone = $1 AND time_ms >= $2::bigint"
    );
    let mut b = Builder::new(Dialect::ClickHouse);
    b.sql("SELECT 1").counted().filter(&f, &[]);
    let sql = b.build();
    assert_eq!(
        sql.text,
        "SELECT 1 FROM requests WHERE zone = 'x\\' OR 1=1 --' FORMAT TabSeparated"
    );
    assert!(sql.params.is_empty());
}
