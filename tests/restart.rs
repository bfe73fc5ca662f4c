//! Nothing is lost and nothing is stored twice when roc42 is killed: the real `roc42
//! serve` binary is run as a child process, killed with SIGKILL, and started again.

use roc42::simulate;

use crate::support::serve::{assert_exactly_once, publish, wait_connected, Serve, WAIT};
use crate::support::{self, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_commit_then_restarted_stores_everything_exactly_once() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let client_id = format!("roc42-test-{}", support::unique());
    let mut fleet = simulate::fleet(8, 5);
    simulate::register(&db.pool, &fleet).await.unwrap();

    // Batches that never fill and wait a minute: received messages sit uncommitted.
    let serve = Serve::start(&db, &client_id, &root, 60_000);
    wait_connected(&serve).await;
    let n = 300;
    let readings = publish(&mut fleet, &root, n).await;
    support::eventually("all messages received by the pipeline", WAIT, || async {
        (serve.metric("roc42_ingest_received_total").await >= n as f64).then_some(())
    })
    .await;
    assert_eq!(db.count("SELECT count(*) FROM uplink").await, 0, "nothing committed before the kill");
    serve.kill();

    let serve = Serve::start(&db, &client_id, &root, 50);
    assert_exactly_once(&db, n as i64, readings).await;
    serve.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_under_load_loses_and_duplicates_nothing() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let client_id = format!("roc42-test-{}", support::unique());
    let mut fleet = simulate::fleet(40, 6);
    simulate::register(&db.pool, &fleet).await.unwrap();
    let n = 3000;
    let mut serve = Serve::start(&db, &client_id, &root, 20);
    wait_connected(&serve).await;
    let load = {
        let root = root.clone();
        tokio::spawn(async move { publish(&mut fleet, &root, n).await })
    };
    // Kill it three times while it works (commits and acks in flight), each time once
    // it has committed some more, and start it again.
    for _ in 0..3 {
        let before = db.count("SELECT count(*) FROM uplink").await;
        support::eventually("progress before the kill", WAIT, || async {
            let now = db.count("SELECT count(*) FROM uplink").await;
            (now >= (before + 300).min(n as i64)).then_some(())
        })
        .await;
        serve.kill();
        serve = Serve::start(&db, &client_id, &root, 20);
        wait_connected(&serve).await;
    }
    let readings = load.await.unwrap();
    assert_exactly_once(&db, n as i64, readings).await;
    serve.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_the_load_and_one_killed_loses_and_duplicates_nothing() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let group = format!("roc42-{}", support::unique());
    let ids: Vec<String> = (0..3).map(|i| format!("roc42-test-{}-{i}", support::unique())).collect();
    let mut fleet = simulate::fleet(40, 7);
    simulate::register(&db.pool, &fleet).await.unwrap();
    let mut instances: Vec<Serve> = ids.iter().map(|id| Serve::start_in(&db, id, Some(&group), &root, 20)).collect();
    for s in &instances {
        wait_connected(s).await;
    }
    let n = 4000;
    let load = {
        let root = root.clone();
        tokio::spawn(async move { publish(&mut fleet, &root, n).await })
    };
    // Once the load is under way, kill one instance. The two others go on; what the
    // killed one held unacknowledged waits in its session at the broker.
    support::eventually("progress before the kill", WAIT, || async {
        (db.count("SELECT count(*) FROM uplink").await >= 500).then_some(())
    })
    .await;
    let victim = instances.remove(1);
    let shares =
        [instances[0].metric("roc42_ingest_received_total").await, victim.metric("roc42_ingest_received_total").await];
    victim.kill();
    let at_kill = db.count("SELECT count(*) FROM uplink").await;
    support::eventually("the two others go on", WAIT, || async {
        (db.count("SELECT count(*) FROM uplink").await >= (at_kill + 500).min(n as i64 - 200)).then_some(())
    })
    .await;
    // The killed instance comes back (a supervisor restarts it) under its own client id:
    // the broker redelivers what it held.
    instances.push(Serve::start_in(&db, &ids[1], Some(&group), &root, 20));
    let readings = load.await.unwrap();
    assert_exactly_once(&db, n as i64, readings).await;
    assert!(shares.iter().all(|s| *s > 0.0), "the load was shared: {shares:?}");
    for s in instances {
        s.stop().await;
    }
    db.drop_db().await;
}
