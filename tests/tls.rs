//! MQTT over TLS: a second Mosquitto, started here with TLS listeners and certificates
//! from a CA this test generates, carries uplinks to the database; a broker signed by
//! another CA, a wrong name, a missing client certificate or a wrong password are refused.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use roc42::config::MqttConfig;
use roc42::ingest::mqtt::Publisher;
use roc42::simulate;

use crate::support::{self, TestApp, TestDb};

const WAIT: Duration = Duration::from_secs(20);
const MOSQUITTO: &str = "/usr/sbin/mosquitto";
/// The name the broker's certificate carries besides localhost and 127.0.0.1.
const BROKER_NAME: &str = "broker.roc42.test";

/// A Mosquitto child process with three TLS listeners on loopback, killed on drop:
/// `port` (server authentication only), `mtls_port` (a client certificate signed by the
/// test CA is required) and `password_port` (username and password required).
struct TlsBroker {
    child: Child,
    dir: PathBuf,
    port: u16,
    mtls_port: u16,
    password_port: u16,
    /// The CA that signed the broker's and the client's certificates.
    ca: PathBuf,
    /// A CA that signed nothing the broker presents.
    other_ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate for `names` signed by `issuer`, and its key, in PEM.
fn leaf(issuer: &Issuer<'_, KeyPair>, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

impl TlsBroker {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("roc42-tls-{}", support::unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let test_ca = ca("roc42 test CA");
        let other = ca("roc42 other CA");
        let (server_cert, server_key) =
            leaf(&test_ca, &["localhost", "127.0.0.1", BROKER_NAME], ExtendedKeyUsagePurpose::ServerAuth);
        let (client_cert, client_key) = leaf(&test_ca, &["roc42-ingest"], ExtendedKeyUsagePurpose::ClientAuth);
        let ca = write(&dir, "ca.pem", &test_ca.pem());
        let other_ca = write(&dir, "other-ca.pem", &other.pem());
        let server_cert = write(&dir, "server.pem", &server_cert);
        let server_key = write(&dir, "server.key", &server_key);
        let client_cert = write(&dir, "client.pem", &client_cert);
        let client_key = write(&dir, "client.key", &client_key);
        let passwords = dir.join("passwords");
        let status = Command::new("mosquitto_passwd")
            .arg("-c")
            .arg("-b")
            .arg(&passwords)
            .args(["roc42", "s3cret"])
            .status()
            .expect("run mosquitto_passwd");
        assert!(status.success(), "mosquitto_passwd failed");

        let (port, mtls_port, password_port) = (support::free_port(), support::free_port(), support::free_port());
        let tls =
            format!("cafile {}\ncertfile {}\nkeyfile {}\n", ca.display(), server_cert.display(), server_key.display());
        let conf = format!(
            "per_listener_settings true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n\
             listener {port} 127.0.0.1\n{tls}allow_anonymous true\n\
             listener {mtls_port} 127.0.0.1\n{tls}require_certificate true\nuse_identity_as_username true\nallow_anonymous true\n\
             listener {password_port} 127.0.0.1\n{tls}allow_anonymous false\npassword_file {}\n",
            passwords.display()
        );
        let conf = write(&dir, "mosquitto.conf", &conf);
        let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {MOSQUITTO}: {e}"));
        let mut broker = Self { child, dir, port, mtls_port, password_port, ca, other_ca, client_cert, client_key };
        broker.wait_listening();
        broker
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in [self.port, self.mtls_port, self.password_port] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("mosquitto exited ({status}): {}", self.log());
                }
                assert!(Instant::now() < deadline, "mosquitto not listening on {port}: {}", self.log());
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// Broker settings for `port`, trusting the test CA.
    fn mqtt(&self, port: u16) -> MqttConfig {
        let mut m = MqttConfig { url: format!("mqtts://127.0.0.1:{port}"), ..MqttConfig::default() };
        m.tls.ca_file = Some(self.ca.clone());
        m
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client_id() -> String {
    format!("roc42-test-tls-{}", support::unique())
}

/// The consumer on `mqtt` stores what a publisher on `mqtt` sends.
async fn uplinks_land_through(mqtt: &MqttConfig) {
    let db = TestDb::new().await;
    let root = format!("it-{}", support::unique());
    let mut cfg = support::config(&db, &root);
    cfg.mqtt.url = mqtt.url.clone();
    cfg.mqtt.tls = mqtt.tls.clone();
    cfg.mqtt.username = mqtt.username.clone();
    cfg.mqtt.password = mqtt.password.clone();
    cfg.mqtt.validate().unwrap();
    let mut fleet = simulate::fleet(3, 11);
    simulate::register(&db.pool, &fleet).await.unwrap();
    let app = TestApp::start(&cfg, &db).await;
    let publisher = Publisher::connect_with(&cfg.mqtt, &client_id(), 100).await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut want = 0;
    for d in fleet.iter_mut() {
        let ev = support::publish_uplink(&publisher, &root, d, chrono::Utc::now(), &mut rng).await;
        want += support::expected_readings(&ev, d.model).len() as i64;
    }
    assert!(want > 0);
    support::eventually("readings of the uplinks sent over TLS", WAIT, || async {
        (db.count("SELECT count(*) FROM reading").await == want).then_some(())
    })
    .await;
    publisher.close().await;
    app.shutdown().await;
    db.drop_db().await;
}

/// The error chain of a refused connection.
async fn refused(mqtt: &MqttConfig) -> String {
    match tokio::time::timeout(WAIT, Publisher::connect_with(mqtt, &client_id(), 10)).await {
        Ok(Err(e)) => format!("{e:#}"),
        Ok(Ok(_)) => panic!("connected to {} although it should be refused", mqtt.url),
        Err(_) => panic!("no answer from {}", mqtt.url),
    }
}

#[tokio::test]
async fn uplinks_over_tls_with_the_configured_ca_become_readings() {
    let broker = TlsBroker::start();
    // The CA file given through the environment, as operators would.
    let mut cfg = roc42::config::Config::default();
    let url = format!("mqtts://127.0.0.1:{}", broker.port);
    let ca = broker.ca.display().to_string();
    cfg.apply_env(|k| match k {
        "ROC42_MQTT_URL" => Some(url.clone()),
        "ROC42_MQTT_CA_FILE" => Some(ca.clone()),
        _ => None,
    })
    .unwrap();
    uplinks_land_through(&cfg.mqtt).await;
}

#[tokio::test]
async fn a_broker_not_signed_by_the_configured_ca_is_refused() {
    let broker = TlsBroker::start();
    let mut other = broker.mqtt(broker.port);
    other.tls.ca_file = Some(broker.other_ca.clone());
    let e = refused(&other).await;
    assert!(e.contains("invalid peer certificate: UnknownIssuer"), "{e}");
    assert!(e.contains(&format!("connect to broker mqtts://127.0.0.1:{}", broker.port)), "{e}");

    // The system's roots do not know the test CA either.
    let system = MqttConfig { url: format!("mqtts://127.0.0.1:{}", broker.port), ..MqttConfig::default() };
    let e = refused(&system).await;
    assert!(e.contains("UnknownIssuer"), "{e}");

    // A certificate for another name is refused; naming the one it carries is accepted.
    let mut wrong_name = broker.mqtt(broker.port);
    wrong_name.tls.server_name = Some("other.roc42.test".into());
    let e = refused(&wrong_name).await;
    assert!(e.contains(r#"certificate not valid for name "other.roc42.test""#), "{e}");
    let mut right_name = broker.mqtt(broker.port);
    right_name.tls.server_name = Some(BROKER_NAME.into());
    Publisher::connect_with(&right_name, &client_id(), 10).await.unwrap().close().await;

    // Plain MQTT to a TLS listener does not get through either.
    let plain = MqttConfig { url: format!("mqtt://127.0.0.1:{}", broker.port), ..MqttConfig::default() };
    refused(&plain).await;
    // And TLS settings with a plain URL are a configuration error, not a plain connection.
    let mut mixed = broker.mqtt(broker.port);
    mixed.url = plain.url.clone();
    let e = format!("{:#}", mixed.validate().unwrap_err());
    assert!(e.contains("use mqtts://"), "{e}");
}

#[tokio::test]
async fn a_client_certificate_is_presented_when_the_broker_requires_one() {
    let broker = TlsBroker::start();
    let without = broker.mqtt(broker.mtls_port);
    let e = refused(&without).await;
    assert!(e.contains("CertificateRequired"), "{e}");

    let mut cfg = roc42::config::Config { mqtt: broker.mqtt(broker.mtls_port), ..Default::default() };
    let (cert, key) = (broker.client_cert.display().to_string(), broker.client_key.display().to_string());
    cfg.apply_env(|k| match k {
        "ROC42_MQTT_CLIENT_CERT_FILE" => Some(cert.clone()),
        "ROC42_MQTT_CLIENT_KEY_FILE" => Some(key.clone()),
        _ => None,
    })
    .unwrap();
    uplinks_land_through(&cfg.mqtt).await;
}

#[tokio::test]
async fn credentials_from_the_environment_are_sent_over_tls() {
    let broker = TlsBroker::start();
    let with = |password: &'static str| {
        let mut cfg = roc42::config::Config { mqtt: broker.mqtt(broker.password_port), ..Default::default() };
        cfg.apply_env(|k| match k {
            "ROC42_MQTT_USERNAME" => Some("roc42".into()),
            "ROC42_MQTT_PASSWORD" => Some(password.into()),
            _ => None,
        })
        .unwrap();
        cfg.mqtt
    };
    let e = refused(&with("wrong")).await;
    assert!(e.contains("NotAuthorized") || e.contains("BadUserNamePassword"), "{e}");
    let p = Publisher::connect_with(&with("s3cret"), &client_id(), 10).await.unwrap();
    p.publish("it/tls/credentials".into(), b"x".to_vec()).await.unwrap();
    p.wait_acked(1, WAIT).await.unwrap();
    p.close().await;
}
