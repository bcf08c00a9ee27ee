//! The ClickHouse store against a real server (18.16, as Debian ships it): a fleet counted
//! exactly, a 30-second outage during traffic with nothing lost, a restart with a full spool.

mod support;

use support::{scenarios, ClickHouse};

#[test]
fn two_edges_in_one_clickhouse_database_are_counted_exactly() {
    let _one = support::serial();
    let Some(ch) = ClickHouse::start() else { return };
    scenarios::fleet_counts_are_exact(&ch);
}

#[test]
fn a_clickhouse_outage_during_traffic_loses_nothing() {
    let _one = support::serial();
    let Some(mut ch) = ClickHouse::start() else { return };
    scenarios::an_outage_loses_nothing(&mut ch);
}

#[test]
fn a_restart_with_a_full_spool_delivers_the_spool_to_clickhouse() {
    let _one = support::serial();
    let Some(mut ch) = ClickHouse::start() else { return };
    scenarios::a_restart_with_a_full_spool_loses_nothing_it_kept(&mut ch);
}
