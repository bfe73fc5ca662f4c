//! The reliability suite: faults under a sustained load, each ending with every uplink
//! the broker accepted stored exactly once. The broker restarted (its persistent
//! sessions on disk), PostgreSQL unreachable (connections cut and refused), and a slow
//! database (a lock held) whose back-pressure must reach the broker, not roc42's
//! memory. Each test reports its counts (published, received, stored, memory) in
//! `target/test-artifacts/reliability/`; kills of roc42 itself are in `restart.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use roc42::simulate;

use crate::support::proxy::Proxy;
use crate::support::serve::{assert_exactly_once, publish_to, wait_connected, Serve, ServeOptions, WAIT};
use crate::support::{self, TestDb};

/// Writes a test's counts where CI shows them, and to stdout.
fn report(name: &str, lines: &[String]) {
    let dir = support::browser::artifacts().join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!("{name}\n{}\n", lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"));
    std::fs::write(dir.join(format!("{name}.txt")), &text).unwrap();
    println!("{text}");
}

/// Polls until `f` gives the same value twice `settle` apart: a counter that stopped.
async fn settled<F, Fut>(what: &str, settle: Duration, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let deadline = Instant::now() + WAIT;
    let mut last = f().await;
    loop {
        tokio::time::sleep(settle).await;
        let now = f().await;
        if now == last {
            return now;
        }
        assert!(Instant::now() < deadline, "{what} never settled");
        last = now;
    }
}

/// A Mosquitto of the test's own on a free port, persistent (a restart keeps sessions
/// and queued messages), with no cap on queued messages: the configuration roc42's
/// operator notes ask for.
struct Broker {
    child: Child,
    conf: PathBuf,
    port: u16,
}

impl Broker {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("roc42-broker-{}", support::unique()));
        std::fs::create_dir_all(&dir).unwrap();
        // Started as root, Mosquitto runs as `mosquitto`: its store must be writable.
        let _ = Command::new("chown").arg("mosquitto:").arg(&dir).status();
        let port = support::free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n\
                 max_queued_messages 0\nmax_inflight_messages 0\nlog_dest none\n",
                dir.display()
            ),
        )
        .unwrap();
        let mut b = Self { child: Self::spawn(&conf), conf, port };
        b.wait_listening();
        b
    }

    fn spawn(conf: &PathBuf) -> Child {
        Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto")
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(self.child.try_wait().unwrap().is_none(), "mosquitto exited");
            assert!(Instant::now() < deadline, "mosquitto not listening on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (Mosquitto saves its store), then the same configuration again.
    fn restart(&mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.child.wait().unwrap();
        self.child = Self::spawn(&self.conf);
        self.wait_listening();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_restarted_under_load_loses_nothing() {
    let db = TestDb::new().await;
    let mut broker = Broker::start();
    let root = format!("it-{}", support::unique());
    let mut fleet = simulate::fleet(40, 21);
    simulate::register(&db.pool, &fleet).await.unwrap();
    // Batches wait 3 s: what roc42 has received sits uncommitted and unacknowledged.
    let opts = ServeOptions {
        mqtt_url: broker.url(),
        batch_max_wait_ms: 3000,
        ..ServeOptions::new(&db, &format!("roc42-test-{}", support::unique()), &root)
    };
    let serve = Serve::spawn(&opts);
    wait_connected(&serve).await;
    // Half the load; the broker restarts while roc42 holds it all unacknowledged (the
    // broker saves them in the session); then the other half.
    let n = 4000;
    let first = publish_to(&broker.url(), &mut fleet, &root, n / 2).await;
    support::eventually("the first half received", WAIT, || async {
        (serve.metric("roc42_ingest_received_total").await >= (n / 2) as f64).then_some(())
    })
    .await;
    let before = db.count("SELECT count(*) FROM uplink").await;
    broker.restart();
    let second = publish_to(&broker.url(), &mut fleet, &root, n / 2).await;
    let readings = first + second;
    assert_exactly_once(&db, n as i64, readings).await;
    let connections = support::eventually("roc42 reconnected", WAIT, || async {
        let c = serve.metric("roc42_ingest_connections_total").await;
        (c >= 2.0).then_some(c)
    })
    .await;
    report(
        "broker-restart",
        &[
            format!("published {n} uplinks ({readings} readings): half, the broker restarted while roc42 held them unacknowledged ({before} stored), then half"),
            format!("stored {} uplinks, {} readings: 0 lost, 0 duplicated", n, readings),
            format!("roc42 connections to the broker: {connections}"),
        ],
    );
    serve.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_unreachable_stops_acks_bounds_memory_and_catches_up() {
    let db = TestDb::new().await;
    let pg: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = Proxy::start(pg).await;
    let root = format!("it-{}", support::unique());
    let mut fleet = simulate::fleet(40, 22);
    simulate::register(&db.pool, &fleet).await.unwrap();
    let through_proxy = db.url.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(through_proxy, db.url, "the test database is on 127.0.0.1:5432");
    let opts = ServeOptions {
        database_url: through_proxy,
        receive_maximum: 1000,
        ..ServeOptions::new(&db, &format!("roc42-test-{}", support::unique()), &root)
    };
    let serve = Serve::spawn(&opts);
    wait_connected(&serve).await;
    let url = support::mqtt_url();
    let warmup = publish_to(&url, &mut fleet, &root, 1000).await;
    assert_exactly_once(&db, 1000, warmup).await;
    let rss_before = serve.rss_mib();

    // PostgreSQL goes away: connections cut, new ones refused.
    proxy.down();
    let acked_at_cut =
        settled("acks at the cut", Duration::from_millis(500), || serve.metric("roc42_ingest_acked_total")).await;
    let n = 8000;
    let published = {
        let (url, root) = (url.clone(), root.clone());
        let mut fleet = fleet.clone();
        tokio::spawn(async move { publish_to(&url, &mut fleet, &root, n).await })
    };
    let received = settled("messages taken during the outage", Duration::from_secs(1), || {
        serve.metric("roc42_ingest_received_total")
    })
    .await;
    let pending = serve.metric("roc42_ingest_acks_pending").await;
    let rss_during = serve.rss_mib();
    let acked = serve.metric("roc42_ingest_acked_total").await;
    assert_eq!(acked, acked_at_cut, "nothing acked while the database is unreachable");
    let taken = received - 1000.0;
    assert!(taken <= f64::from(opts.receive_maximum), "at most receive_maximum taken: {taken}");
    assert!(pending <= f64::from(opts.receive_maximum), "pending acks bounded: {pending}");
    assert!(rss_during < rss_before + 64.0, "memory bounded: {rss_before:.0} -> {rss_during:.0} MiB");
    assert_eq!(db.count("SELECT count(*) FROM uplink").await, 1000, "nothing committed meanwhile");

    // Back: everything is written, once.
    proxy.up().await;
    let readings = published.await.unwrap() + warmup;
    assert_exactly_once(&db, 1000 + n as i64, readings).await;
    report(
        "postgresql-unreachable",
        &[
            format!("published {} uplinks in all, {n} of them while PostgreSQL was unreachable", 1000 + n),
            format!("during the outage: {taken} taken from the broker (receive_maximum {}), {pending} acks pending, 0 acked, 0 committed", opts.receive_maximum),
            format!("RSS {rss_before:.1} MiB before, {rss_during:.1} MiB during the outage"),
            format!("after: {} uplinks stored, {readings} readings: 0 lost, 0 duplicated", 1000 + n),
        ],
    );
    serve.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_database_pushes_back_to_the_broker_not_into_memory() {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let mut fleet = simulate::fleet(40, 23);
    simulate::register(&db.pool, &fleet).await.unwrap();
    let opts = ServeOptions {
        receive_maximum: 1000,
        ..ServeOptions::new(&db, &format!("roc42-test-{}", support::unique()), &root)
    };
    let serve = Serve::spawn(&opts);
    wait_connected(&serve).await;
    let url = support::mqtt_url();
    let warmup = publish_to(&url, &mut fleet, &root, 500).await;
    assert_exactly_once(&db, 500, warmup).await;
    let rss_before = serve.rss_mib();

    // A long transaction holds the uplink table: writes wait (they do not fail).
    let mut lock = db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE uplink IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
    let n = 10_000;
    let published = {
        let (url, root) = (url.clone(), root.clone());
        let mut fleet = fleet.clone();
        tokio::spawn(async move { publish_to(&url, &mut fleet, &root, n).await })
    };
    let received = settled("messages taken while writes wait", Duration::from_secs(1), || {
        serve.metric("roc42_ingest_received_total")
    })
    .await;
    let taken = received - 500.0;
    let pending = serve.metric("roc42_ingest_acks_pending").await;
    let rss_during = serve.rss_mib();
    // The broker holds the rest: roc42 took no more than its receive window.
    assert!(taken <= f64::from(opts.receive_maximum), "back-pressure reached the broker: {taken} taken");
    assert!(rss_during < rss_before + 64.0, "memory bounded: {rss_before:.0} -> {rss_during:.0} MiB");
    lock.commit().await.unwrap();
    let readings = published.await.unwrap() + warmup;
    assert_exactly_once(&db, 500 + n as i64, readings).await;
    report(
        "slow-database",
        &[
            format!("published {} uplinks in all, {n} of them while a lock held the uplink table", 500 + n),
            format!("while blocked: {taken} taken from the broker (receive_maximum {}), {pending} acks pending; the broker held the other {}", opts.receive_maximum, n as f64 - taken),
            format!("RSS {rss_before:.1} MiB before, {rss_during:.1} MiB while blocked"),
            format!("after: {} uplinks stored, {readings} readings: 0 lost, 0 duplicated", 500 + n),
        ],
    );
    serve.stop().await;
    db.drop_db().await;
}
