//! The PostgreSQL store against a real server: a fleet counted exactly, a 30-second outage
//! during traffic with nothing lost, a restart with a full spool.

mod support;

use support::{scenarios, Postgres};

#[test]
fn two_edges_in_one_postgres_database_are_counted_exactly() {
    let _one = support::serial();
    let Some(pg) = Postgres::start() else { return };
    scenarios::fleet_counts_are_exact(&pg);
}

#[test]
fn a_postgres_outage_during_traffic_loses_nothing() {
    let _one = support::serial();
    let Some(mut pg) = Postgres::start() else { return };
    scenarios::an_outage_loses_nothing(&mut pg);
}

#[test]
fn a_restart_with_a_full_spool_delivers_the_spool_to_postgres() {
    let _one = support::serial();
    let Some(mut pg) = Postgres::start() else { return };
    scenarios::a_restart_with_a_full_spool_loses_nothing_it_kept(&mut pg);
}
