//! `roc42 serve` as a child process (killed with SIGKILL, stopped with SIGTERM, started
//! again), a load published to a broker, and the exactly-once check the restart and
//! reliability tests share.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use rand::SeedableRng;
use roc42::ingest::mqtt::Publisher;
use roc42::simulate;

use super::TestDb;

pub const WAIT: Duration = Duration::from_secs(60);

/// How to run one `roc42 serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub database_url: String,
    pub mqtt_url: String,
    pub client_id: String,
    /// `mqtt.shared_group`: instances sharing `$share/<group>/...`.
    pub group: Option<String>,
    pub topic_root: String,
    pub batch_max_wait_ms: u64,
    pub receive_maximum: u16,
}

impl ServeOptions {
    pub fn new(db: &TestDb, client_id: &str, topic_root: &str) -> Self {
        Self {
            database_url: db.url.clone(),
            mqtt_url: super::mqtt_url(),
            client_id: client_id.to_owned(),
            group: None,
            topic_root: topic_root.to_owned(),
            batch_max_wait_ms: 20,
            receive_maximum: 2000,
        }
    }
}

/// A `roc42 serve` child process.
pub struct Serve {
    child: Child,
    pub http: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        // A failed assertion must not leave the child running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    pub fn start(db: &TestDb, client_id: &str, topic_root: &str, batch_max_wait_ms: u64) -> Self {
        Self::spawn(&ServeOptions { batch_max_wait_ms, ..ServeOptions::new(db, client_id, topic_root) })
    }

    /// `roc42 serve` as one of the instances sharing `$share/<group>/...`.
    pub fn start_in(
        db: &TestDb,
        client_id: &str,
        group: Option<&str>,
        topic_root: &str,
        batch_max_wait_ms: u64,
    ) -> Self {
        Self::spawn(&ServeOptions {
            group: group.map(str::to_owned),
            batch_max_wait_ms,
            ..ServeOptions::new(db, client_id, topic_root)
        })
    }

    pub fn spawn(o: &ServeOptions) -> Self {
        let port = super::free_port();
        let dir = std::env::temp_dir().join(format!("roc42-it-{}", super::unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("roc42.toml");
        std::fs::write(
            &config,
            format!(
                "[mqtt]\ntopics = [\"{}/application/+/device/+/event/+\"]\nsession_expiry_s = 600\n\
                 receive_maximum = {}\n[pipeline]\nbatch_max_wait_ms = {}\nbatch_max_uplinks = 100000\n\
                 channel_capacity = 4000\n",
                o.topic_root, o.receive_maximum, o.batch_max_wait_ms
            ),
        )
        .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_roc42"));
        if let Some(group) = &o.group {
            command.env("ROC42_MQTT_SHARED_GROUP", group);
        }
        let child = command
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("DATABASE_URL", &o.database_url)
            .env("ROC42_MQTT_URL", &o.mqtt_url)
            .env("ROC42_MQTT_CLIENT_ID", &o.client_id)
            .env("ROC42_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("ROC42_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn roc42 serve");
        Self { child, http: format!("http://127.0.0.1:{port}") }
    }

    /// A metric from the child's /metrics, summed over its labels (0 until it is up).
    pub async fn metric(&self, name: &str) -> f64 {
        let Ok(resp) = reqwest::get(format!("{}/metrics", self.http)).await else {
            return 0.0;
        };
        let text = resp.text().await.unwrap_or_default();
        text.lines()
            .filter(|l| l.split([' ', '{']).next() == Some(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The child's resident memory, in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(Path::new("/proc").join(self.child.id().to_string()).join("status"))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then wait for a clean exit.
    pub async fn stop(mut self) {
        // Its signal handler is in place once it serves.
        wait_connected(&self).await;
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        assert!(status.success());
        let exit = tokio::task::block_in_place(|| self.child.wait()).unwrap();
        assert!(exit.success(), "roc42 serve exited with {exit}");
    }
}

pub async fn wait_connected(serve: &Serve) {
    super::eventually("roc42 serve connected", WAIT, || async {
        (serve.metric("roc42_ingest_connections_total").await >= 1.0).then_some(())
    })
    .await;
}

/// Publishes `n` uplinks round-robin over `fleet`, a minute apart in network time, to the
/// test broker, and returns the number of readings they carry.
pub async fn publish(fleet: &mut [simulate::SimDevice], topic_root: &str, n: usize) -> i64 {
    publish_to(&super::mqtt_url(), fleet, topic_root, n).await
}

/// [`publish`] to the broker at `url`, waiting until it acknowledged every publish (a
/// publish the broker did not acknowledge is sent again after a reconnection).
pub async fn publish_to(url: &str, fleet: &mut [simulate::SimDevice], topic_root: &str, n: usize) -> i64 {
    let id = format!("roc42-test-pub-{}", super::unique());
    let publisher = Publisher::connect(url, &id, 1000).await.expect("connect publisher");
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let start = Utc::now() - TimeDelta::days(1);
    let mut readings = 0;
    for i in 0..n {
        let d = &mut fleet[i % fleet.len()];
        let model = d.model;
        let t = start + TimeDelta::minutes(i as i64);
        let ev = super::publish_uplink(&publisher, topic_root, d, t, &mut rng).await;
        readings += super::expected_readings(&ev, model).len() as i64;
    }
    publisher.wait_acked(n as u64, WAIT * 2).await.unwrap();
    publisher.close().await;
    readings
}

pub async fn assert_exactly_once(db: &TestDb, uplinks: i64, readings: i64) {
    super::eventually("every uplink stored", WAIT, || async {
        (db.count("SELECT count(*) FROM uplink").await >= uplinks).then_some(())
    })
    .await;
    super::eventually("every reading stored", WAIT, || async {
        (db.count("SELECT count(*) FROM reading").await >= readings).then_some(())
    })
    .await;
    assert_eq!(db.count("SELECT count(*) FROM uplink").await, uplinks, "uplinks stored exactly once");
    assert_eq!(db.count("SELECT count(DISTINCT dedup_key) FROM uplink").await, uplinks);
    assert_eq!(db.count("SELECT count(*) FROM reading").await, readings, "readings stored exactly once");
    assert_eq!(db.count("SELECT count(*) FROM uplink WHERE outcome <> 'decoded'").await, 0);
}
