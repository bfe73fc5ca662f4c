//! Nothing is lost and nothing is stored twice when roc42 is killed: the real `roc42
//! serve` binary is run as a child process, killed with SIGKILL, and started again.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use rand::SeedableRng;
use roc42::simulate;

use crate::support::{self, TestDb};

const WAIT: Duration = Duration::from_secs(60);

/// A `roc42 serve` child process.
struct Serve {
    child: Child,
    http: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        // A failed assertion must not leave the child running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(db: &TestDb, client_id: &str, topic_root: &str, batch_max_wait_ms: u64) -> Self {
        let port = support::free_port();
        let dir = std::env::temp_dir().join(format!("roc42-it-{}", support::unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("roc42.toml");
        std::fs::write(
            &config,
            format!(
                "[mqtt]\ntopics = [\"{topic_root}/application/+/device/+/event/+\"]\nsession_expiry_s = 600\n\
                 receive_maximum = 2000\n[pipeline]\nbatch_max_wait_ms = {batch_max_wait_ms}\nbatch_max_uplinks = 100000\n\
                 channel_capacity = 4000\n"
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_roc42"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("ROC42_MQTT_URL", support::mqtt_url())
            .env("ROC42_MQTT_CLIENT_ID", client_id)
            .env("ROC42_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("ROC42_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn roc42 serve");
        Self { child, http: format!("http://127.0.0.1:{port}") }
    }

    /// A counter from the child's /metrics (0 until it is up).
    async fn metric(&self, name: &str) -> f64 {
        let Ok(resp) = reqwest::get(format!("{}/metrics", self.http)).await else {
            return 0.0;
        };
        let text = resp.text().await.unwrap_or_default();
        text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then wait for a clean exit.
    async fn stop(mut self) {
        // Its signal handler is in place once it serves.
        wait_connected(&self).await;
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        assert!(status.success());
        let exit = tokio::task::block_in_place(|| self.child.wait()).unwrap();
        assert!(exit.success(), "roc42 serve exited with {exit}");
    }
}

/// Publishes `n` uplinks round-robin over `fleet`, a minute apart in network time, and
/// returns the number of readings they carry.
async fn publish(fleet: &mut [simulate::SimDevice], topic_root: &str, n: usize) -> i64 {
    let publisher = support::publisher().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let start = Utc::now() - TimeDelta::days(1);
    let mut readings = 0;
    for i in 0..n {
        let d = &mut fleet[i % fleet.len()];
        let model = d.model;
        let t = start + TimeDelta::minutes(i as i64);
        let ev = support::publish_uplink(&publisher, topic_root, d, t, &mut rng).await;
        readings += support::expected_readings(&ev, model).len() as i64;
    }
    publisher.wait_acked(n as u64, WAIT).await.unwrap();
    publisher.close().await;
    readings
}

async fn assert_exactly_once(db: &TestDb, uplinks: i64, readings: i64) {
    support::eventually("every uplink stored", WAIT, || async {
        (db.count("SELECT count(*) FROM uplink").await >= uplinks).then_some(())
    })
    .await;
    support::eventually("every reading stored", WAIT, || async {
        (db.count("SELECT count(*) FROM reading").await >= readings).then_some(())
    })
    .await;
    assert_eq!(db.count("SELECT count(*) FROM uplink").await, uplinks, "uplinks stored exactly once");
    assert_eq!(db.count("SELECT count(DISTINCT dedup_key) FROM uplink").await, uplinks);
    assert_eq!(db.count("SELECT count(*) FROM reading").await, readings, "readings stored exactly once");
    assert_eq!(db.count("SELECT count(*) FROM uplink WHERE outcome <> 'decoded'").await, 0);
}

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

async fn wait_connected(serve: &Serve) {
    support::eventually("roc42 serve connected", WAIT, || async {
        (serve.metric("roc42_ingest_connections_total").await >= 1.0).then_some(())
    })
    .await;
}
