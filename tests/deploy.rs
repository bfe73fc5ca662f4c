//! The deployment files of `deploy/` checked statically: this project's machines have no
//! Docker engine, so the compose files and the Dockerfile cannot be run here. What can be
//! run is: the Mosquitto configuration, by the real Mosquitto (when installed), and the
//! systemd unit, by `systemd-analyze verify` (when installed). The scale-out behaviour
//! itself (three `roc42 serve` in one shared group, one killed under load) is
//! tested against the real Mosquitto in `restart.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use yaml_rust2::{Yaml, YamlLoader};

const COMPOSE: &str = "deploy/compose/compose.yaml";
const COMPOSE_SCALE: &str = "deploy/compose/compose.scale.yaml";
const ENV_EXAMPLE: &str = "deploy/compose/.env.example";
const MOSQUITTO_CONF: &str = "deploy/compose/mosquitto/mosquitto.conf";
const CHIRPSTACK_TOML: &str = "deploy/compose/chirpstack/chirpstack.toml";
const REGION_TOML: &str = "deploy/compose/chirpstack/region_eu868.toml";
const BRIDGE_TOML: &str = "deploy/compose/chirpstack-gateway-bridge/chirpstack-gateway-bridge.toml";
const DB_INIT: &str = "deploy/compose/timescaledb/10-roc42-init.sh";
const DOCKERFILE: &str = "deploy/docker/Dockerfile";
const DOCKERIGNORE: &str = "deploy/docker/Dockerfile.dockerignore";
const UNIT: &str = "deploy/systemd/roc42.service";
const UNIT_ENV: &str = "deploy/systemd/roc42.env.example";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn toml_file(rel: &str) -> toml::Table {
    toml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not TOML: {e}"))
}

/// A compose file: exactly one YAML document, a mapping.
fn yaml_file(rel: &str) -> Yaml {
    let mut docs = YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{rel}: one YAML document");
    let doc = docs.remove(0);
    assert!(doc.as_hash().is_some(), "{rel}: a mapping at the top");
    doc
}

/// A scalar as compose reads it (strings, numbers and booleans alike).
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string_list(y: &Yaml) -> Vec<String> {
    y.as_vec().map(|v| v.iter().filter_map(scalar).collect()).unwrap_or_default()
}

/// Service name to definition.
fn services(doc: &Yaml) -> BTreeMap<String, &Yaml> {
    doc["services"]
        .as_hash()
        .expect("a services mapping")
        .iter()
        .map(|(k, v)| (k.as_str().expect("service names are strings").to_owned(), v))
        .collect()
}

/// A service's `environment`, mapping or `KEY=value` list.
fn env_of(svc: &Yaml) -> BTreeMap<String, String> {
    let env = &svc["environment"];
    if let Some(h) = env.as_hash() {
        h.iter().map(|(k, v)| (scalar(k).unwrap(), scalar(v).unwrap_or_default())).collect()
    } else {
        string_list(env)
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (kv, String::new()),
            })
            .collect()
    }
}

/// Seconds of a compose duration such as `40s`, `1m` or `1m30s`.
fn seconds(d: &str) -> u64 {
    let (mut total, mut n) = (0, 0);
    for c in d.chars() {
        match c {
            '0'..='9' => n = n * 10 + u64::from(c.to_digit(10).unwrap()),
            's' => (total, n) = (total + n, 0),
            'm' => (total, n) = (total + n * 60, 0),
            'h' => (total, n) = (total + n * 3600, 0),
            _ => panic!("duration {d:?}"),
        }
    }
    total + n
}

/// Host of a URL (`scheme://[user[:password]@]host[:port][/path]`), and its path.
fn url_host_path(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    // The password may hold anything (a `${VAR:?message}`): the host follows the last '@'.
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.split(':').next().unwrap_or_default().to_owned();
    (host, path.split('?').next().unwrap_or_default().to_owned())
}

/// The names of `${NAME...}` interpolations in a compose value; panics on a bare `$NAME`
/// (interpolated too, and easy to miss), `$$` being a literal dollar.
fn interpolated(rel: &str, text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let name: String =
                    text[i + 2..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                assert!(!name.is_empty(), "{rel}: empty ${{}} at byte {i}");
                names.insert(name);
                i += 2;
            }
            _ => panic!("{rel}: a bare `$` at byte {i}: write ${{NAME}} (or $$ for a literal dollar)"),
        }
    }
    names
}

/// Every string of a YAML tree, keys included (what compose interpolates; comments are not).
fn yaml_strings(y: &Yaml, out: &mut Vec<String>) {
    match y {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Array(v) => v.iter().for_each(|i| yaml_strings(i, out)),
        Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
            yaml_strings(k, out);
            yaml_strings(v, out);
        }),
        _ => {}
    }
}

/// The `${NAME}` interpolations of a YAML file's values.
fn yaml_interpolated(rel: &str) -> BTreeSet<String> {
    let mut strings = Vec::new();
    yaml_strings(&yaml_file(rel), &mut strings);
    strings.iter().flat_map(|s| interpolated(rel, s)).collect()
}

/// `NAME=value` lines of an env file (commented-out `#NAME=` lines too when `commented`).
fn env_file_names(text: &str, commented: bool) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = if commented { l.strip_prefix('#').unwrap_or(l) } else { l };
            let (name, _) = l.split_once('=')?;
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .then(|| name.to_owned())
        })
        .collect()
}

/// The text of every Rust file under src/, to look environment variable names up in.
fn roc42_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = String::new();
    walk(&repo().join("src"), &mut out);
    out
}

/// Named volumes and bind mounts of a service: (source, target). Short syntax
/// `source:target[:mode]` or long syntax.
fn mounts(svc: &Yaml) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in svc["volumes"].as_vec().into_iter().flatten() {
        if let Some(s) = v.as_str() {
            let mut parts = s.split(':');
            let src = parts.next().unwrap().to_owned();
            let dst = parts.next().unwrap_or_else(|| panic!("volume {s:?} without a target")).to_owned();
            out.push((src, dst));
        } else {
            out.push((scalar(&v["source"]).unwrap_or_default(), scalar(&v["target"]).unwrap()));
        }
    }
    out
}

fn is_bind(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/')
}

#[test]
fn compose_defines_the_stack() {
    let doc = yaml_file(COMPOSE);
    assert!(doc["version"].is_badvalue(), "Compose Specification: no `version:` key");
    let svcs = services(&doc);
    for name in ["timescaledb", "mosquitto", "redis", "chirpstack", "chirpstack-gateway-bridge", "grafana", "roc42"] {
        assert!(svcs.contains_key(name), "{COMPOSE}: service {name} missing");
    }
    let image = |s: &str| scalar(&svcs[s]["image"]).unwrap_or_default();
    assert!(image("timescaledb").starts_with("timescale/timescaledb:") && image("timescaledb").ends_with("-pg15"));
    assert!(image("mosquitto").starts_with("eclipse-mosquitto:2"));
    assert!(image("chirpstack").starts_with("chirpstack/chirpstack:4"));
    assert!(image("chirpstack-gateway-bridge").starts_with("chirpstack/chirpstack-gateway-bridge:4"));
    assert!(string_list(&svcs["chirpstack-gateway-bridge"]["ports"]).iter().any(|p| p.ends_with("1700:1700/udp")));

    // roc42: built from this repository, restarted, given time to flush on SIGTERM.
    let roc42 = svcs["roc42"];
    let context = repo().join("deploy/compose").join(scalar(&roc42["build"]["context"]).expect("build.context"));
    let dockerfile = scalar(&roc42["build"]["dockerfile"]).expect("build.dockerfile");
    assert!(context.join(&dockerfile).is_file(), "{dockerfile} not found from the build context {}", context.display());
    assert_eq!(context.canonicalize().unwrap(), repo().canonicalize().unwrap(), "the build context is the repository");
    assert_eq!(scalar(&roc42["restart"]).as_deref(), Some("unless-stopped"));
    assert!(seconds(&scalar(&roc42["stop_grace_period"]).expect("stop_grace_period")) >= 30);
    assert_eq!(scalar(&roc42["depends_on"]["timescaledb"]["condition"]).as_deref(), Some("service_healthy"));
    assert!(!roc42["depends_on"]["mosquitto"].is_badvalue(), "roc42 depends on mosquitto");
    assert!(string_list(&roc42["ports"]).iter().any(|p| p.ends_with("8080:8080")));
    // Without curl in the image, the health check must not call it.
    let check = string_list(&roc42["healthcheck"]["test"]).join(" ");
    assert!(!check.contains("curl") && !check.contains("wget"), "the image has neither curl nor wget: {check}");

    let env = env_of(roc42);
    let (db_host, db_name) = url_host_path(&env["DATABASE_URL"]);
    assert_eq!((db_host.as_str(), db_name.as_str()), ("timescaledb", "roc42"));
    let (mqtt_host, _) = url_host_path(&env["ROC42_MQTT_URL"]);
    assert_eq!(mqtt_host, "mosquitto");
    assert!(!env["ROC42_MQTT_CLIENT_ID"].is_empty(), "a stable client id");
    assert!(env.contains_key("ROC42_MASTER_KEY"));

    // Every variable given to a roc42 container is one roc42 reads.
    let sources = roc42_sources();
    for (name, svc) in &svcs {
        if scalar(&svc["image"]) == scalar(&roc42["image"]) {
            for var in env_of(svc).keys() {
                assert!(sources.contains(&format!("\"{var}\"")), "{name}: roc42 does not read {var}");
            }
        }
    }

    // Grafana gets every variable its provisioning reads, and logs in as the role the
    // one-shot service makes, with the password that service sets.
    let grafana = env_of(svcs["grafana"]);
    let provisioning = "dashboards/grafana/provisioning/datasources/roc42.yaml";
    let wanted = yaml_interpolated(provisioning);
    assert_eq!(wanted.len(), 5, "{provisioning}: {wanted:?}");
    for v in &wanted {
        assert!(grafana.contains_key(v), "grafana: {v} missing");
    }
    assert_eq!(grafana["ROC42_GRAFANA_DB_HOST"], "timescaledb:5432");
    assert_eq!(grafana["ROC42_GRAFANA_DB_NAME"], "roc42");
    let role_svc = svcs.get("roc42-grafana-role").expect("the one-shot service making Grafana's role");
    assert_eq!(scalar(&role_svc["restart"]).as_deref(), Some("no"));
    let cmd = string_list(&role_svc["command"]);
    assert_eq!(cmd[..2], ["grafana", "grant"], "{cmd:?}");
    assert!(cmd.iter().any(|a| a == "--all-communes"), "{cmd:?}");
    let role = cmd.iter().skip_while(|a| *a != "--role").nth(1).expect("--role NAME");
    assert_eq!(&grafana["ROC42_GRAFANA_DB_USER"], role);
    assert_eq!(env_of(role_svc)["ROC42_GRAFANA_PASSWORD"], grafana["ROC42_GRAFANA_DB_PASSWORD"]);
    assert_eq!(env_of(role_svc)["DATABASE_URL"], env["DATABASE_URL"]);
}

#[test]
fn compose_mounts_exist() {
    let base = repo().join("deploy/compose");
    let declared: BTreeSet<String> =
        yaml_file(COMPOSE)["volumes"].as_hash().into_iter().flatten().filter_map(|(k, _)| scalar(k)).collect();
    for rel in [COMPOSE, COMPOSE_SCALE] {
        let doc = yaml_file(rel);
        for (name, svc) in services(&doc) {
            for (src, dst) in mounts(svc) {
                if is_bind(&src) {
                    let p = base.join(&src);
                    assert!(p.exists(), "{rel}: {name} mounts {src} ({}), which does not exist", p.display());
                } else {
                    assert!(declared.contains(&src), "{rel}: {name} uses volume {src}, not declared in {COMPOSE}");
                }
                assert!(dst.starts_with('/'), "{rel}: {name}: target {dst} is not absolute");
            }
            if let Some(ctx) = scalar(&svc["build"]["context"]) {
                assert!(base.join(ctx).is_dir(), "{rel}: {name}: build context missing");
            }
        }
    }

    // The database's init script is mounted as a file: a directory mount would hide the
    // image's own scripts (which install the timescaledb extension).
    let doc = yaml_file(COMPOSE);
    let db = mounts(services(&doc)["timescaledb"]);
    let (src, dst) =
        db.iter().find(|(_, d)| d.starts_with("/docker-entrypoint-initdb.d")).expect("an init script mount");
    assert!(base.join(src).is_file() && dst != "/docker-entrypoint-initdb.d", "mount the script file, not a directory");
    assert_eq!(repo().join(DB_INIT).canonicalize().unwrap(), base.join(src).canonicalize().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(repo().join(DB_INIT)).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{DB_INIT} must be executable (the entrypoint sources it otherwise)");
    }
    let sql = read(DB_INIT).to_lowercase();
    for needle in [
        "create role roc42 login createrole",
        "create database roc42 owner roc42",
        "create role chirpstack login",
        "create database chirpstack owner chirpstack",
        "\\connect chirpstack",
        "create extension if not exists pg_trgm",
        "create extension if not exists hstore",
    ] {
        assert!(sql.contains(needle), "{DB_INIT}: `{needle}` missing");
    }
    let role = sql.lines().find(|l| l.trim_start().starts_with("create role roc42")).unwrap();
    assert!(!role.contains("superuser"), "roc42's role is not a superuser: {role}");
}

/// Directives of a Mosquitto configuration: (name, rest), comments left out.
fn mosquitto_directives(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (k.to_owned(), v.trim().to_owned())
        })
        .collect()
}

/// Kills the child on drop.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn mosquitto_conf_keeps_queued_messages() {
    let text = read(MOSQUITTO_CONF);
    let d = mosquitto_directives(&text);
    let get = |k: &str| d.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("persistence"), Some("true"));
    assert_eq!(get("max_queued_messages"), Some("0"), "Mosquitto's default (1000) drops QoS 1 messages");
    assert_eq!(get("max_inflight_messages"), Some("0"));
    assert_eq!(get("listener"), Some("1883"));
    // The queue lives where the data volume is mounted.
    let location = get("persistence_location").expect("persistence_location");
    let doc = yaml_file(COMPOSE);
    let data = mounts(services(&doc)["mosquitto"]);
    assert!(
        data.iter().any(|(src, dst)| !is_bind(src) && location.trim_end_matches('/') == dst.trim_end_matches('/')),
        "persistence_location {location} is not the mosquitto service's data volume ({data:?})"
    );

    // The real Mosquitto reads the same file (listener and data directory moved to this
    // test's): an unknown or malformed directive stops it at once.
    let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).is_file());
    let Some(bin) = bin else {
        eprintln!("deploy: mosquitto not installed, {MOSQUITTO_CONF} checked statically only");
        return;
    };
    let dir = std::env::temp_dir().join(format!("roc42-deploy-mosquitto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    #[cfg(unix)]
    {
        // Started as root, Mosquitto drops to its own user, which must write the directory.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf: String = text
        .lines()
        .map(|l| match l.split_whitespace().next() {
            Some("listener") => format!("listener {port} 127.0.0.1"),
            Some("persistence_location") => format!("persistence_location {}/", dir.display()),
            _ => l.to_owned(),
        })
        .map(|l| l + "\n")
        .collect();
    let conf_path = dir.join("mosquitto.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reap(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            let mut out = String::new();
            child.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
            child.0.stderr.take().unwrap().read_to_string(&mut out).unwrap();
            panic!("mosquitto refused {MOSQUITTO_CONF} ({status}):\n{out}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "mosquitto with {MOSQUITTO_CONF} did not listen within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `$NAME` placeholders ChirpStack replaces from its environment (comment lines aside).
fn chirpstack_placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for part in line.split('$').skip(1) {
            let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn chirpstack_publishes_at_qos_1_where_roc42_listens() {
    let cs = toml_file(CHIRPSTACK_TOML);
    let integration = cs["integration"].as_table().expect("[integration]");
    let enabled: Vec<&str> = integration["enabled"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(enabled.contains(&"mqtt"), "integration.enabled has mqtt");
    let mqtt = integration["mqtt"].as_table().expect("[integration.mqtt]");
    assert_eq!(mqtt["qos"].as_integer(), Some(1), "ChirpStack publishes at QoS 0 unless told");
    assert_eq!(mqtt["json"].as_bool(), Some(true));

    // The event topic, its {{...}} levels as wildcards, is one of roc42's filters.
    let topic = mqtt["event_topic"].as_str().expect("event_topic");
    assert_eq!(topic, "application/{{application_id}}/device/{{dev_eui}}/event/{{event}}");
    let filter: Vec<&str> = topic
        .split('/')
        .map(|level| if level.starts_with("{{") && level.ends_with("}}") { "+" } else { level })
        .collect();
    let filter = filter.join("/");
    let roc42 = toml_file("deploy/config/example.toml");
    let topics: Vec<&str> = roc42["mqtt"]["topics"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(topics.contains(&filter.as_str()), "roc42 subscribes to {topics:?}, ChirpStack publishes on {filter}");

    // Hosts are services of the compose file; ChirpStack's database is its own.
    let doc = yaml_file(COMPOSE);
    let svcs = services(&doc);
    let host = |url: &str| url_host_path(url).0;
    assert!(svcs.contains_key(&host(mqtt["server"].as_str().unwrap())));
    let dsn = cs["postgresql"]["dsn"].as_str().unwrap();
    assert_eq!(url_host_path(dsn), ("timescaledb".to_owned(), "chirpstack".to_owned()));
    for s in cs["redis"]["servers"].as_array().unwrap() {
        assert!(svcs.contains_key(&host(s.as_str().unwrap())), "redis server {s}");
    }
    assert!(cs["api"]["secret"].as_str().unwrap().starts_with('$'), "the API secret comes from the environment");

    // Every $NAME of ChirpStack's files is set in its container.
    let env = env_of(svcs["chirpstack"]);
    for rel in [CHIRPSTACK_TOML, REGION_TOML] {
        for name in chirpstack_placeholders(&read(rel)) {
            assert!(env.contains_key(&name), "{rel} uses ${name}, not set in the chirpstack service");
        }
    }
    let mounted = mounts(svcs["chirpstack"]);
    assert!(mounted.iter().any(|(src, dst)| src.trim_end_matches('/') == "./chirpstack" && dst == "/etc/chirpstack"));
    let command =
        scalar(&svcs["chirpstack"]["command"]).unwrap_or_else(|| string_list(&svcs["chirpstack"]["command"]).join(" "));
    assert_eq!(command, "-c /etc/chirpstack");
}

#[test]
fn region_eu868_and_the_gateway_bridge_agree() {
    let cs = toml_file(CHIRPSTACK_TOML);
    let enabled: Vec<&str> =
        cs["network"]["enabled_regions"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(enabled, ["eu868"]);

    let region_file = toml_file(REGION_TOML);
    let regions = region_file["regions"].as_array().expect("[[regions]]");
    assert_eq!(regions.len(), 1);
    let region = regions[0].as_table().unwrap();
    assert_eq!(region["id"].as_str(), Some("eu868"));
    assert_eq!(region["common_name"].as_str(), Some("EU868"));
    let backend = region["gateway"]["backend"].as_table().unwrap();
    assert_eq!(backend["enabled"].as_str(), Some("mqtt"));
    let prefix = backend["mqtt"]["topic_prefix"].as_str().expect("topic_prefix");
    assert_eq!(prefix, "eu868");
    assert_eq!(url_host_path(backend["mqtt"]["server"].as_str().unwrap()).0, "mosquitto");
    let network = region["network"].as_table().unwrap();
    assert_eq!(network["rx2_frequency"].as_integer(), Some(869_525_000), "EU868's RX2 frequency");
    for ch in network["extra_channels"].as_array().unwrap() {
        let f = ch["frequency"].as_integer().unwrap();
        assert!((863_000_000..=870_000_000).contains(&f), "{f} Hz is outside EU863-870");
    }

    // The bridge publishes under the region's prefix, to the same broker.
    let bridge = toml_file(BRIDGE_TOML);
    assert_eq!(bridge["backend"]["type"].as_str(), Some("semtech_udp"));
    assert!(bridge["backend"]["semtech_udp"]["udp_bind"].as_str().unwrap().ends_with(":1700"));
    let mqtt = bridge["integration"]["mqtt"].as_table().unwrap();
    for key in ["event_topic_template", "state_topic_template", "command_topic_template"] {
        let t = mqtt[key].as_str().unwrap();
        assert!(t.starts_with(&format!("{prefix}/gateway/")), "{BRIDGE_TOML}: {key} = {t}");
    }
    assert_eq!(mqtt["auth"]["type"].as_str(), Some("generic"));
    let servers = mqtt["auth"]["generic"]["servers"].as_array().unwrap();
    assert!(servers.iter().all(|s| url_host_path(s.as_str().unwrap()).0 == "mosquitto"));
}

#[test]
fn scale_out_runs_three_instances_with_stable_distinct_ids() {
    let base_doc = yaml_file(COMPOSE);
    let scale_doc = yaml_file(COMPOSE_SCALE);
    assert!(scale_doc["version"].is_badvalue());
    let base = services(&base_doc);
    let scale = services(&scale_doc);
    let roc42 = base["roc42"];

    // (name, environment, restart, host ports) of every roc42 instance, overrides merged.
    let mut instances = Vec::new();
    let mut env = env_of(roc42);
    env.extend(env_of(scale.get("roc42").expect("the override of roc42")));
    instances.push(("roc42".to_owned(), env, scalar(&roc42["restart"]), string_list(&roc42["ports"])));
    for (name, svc) in &scale {
        assert!(svc["deploy"].is_badvalue(), "{name}: no deploy (replicas cannot have distinct, stable client ids)");
        if name == "roc42" {
            continue;
        }
        assert_eq!(scalar(&svc["image"]), scalar(&roc42["image"]), "{name}: the roc42 image");
        assert!(svc["command"].is_badvalue(), "{name}: runs `serve`, the image's default");
        assert!(seconds(&scalar(&svc["stop_grace_period"]).expect("stop_grace_period")) >= 30);
        instances.push((name.clone(), env_of(svc), scalar(&svc["restart"]), string_list(&svc["ports"])));
    }
    assert_eq!(instances.len(), 3, "three instances: {:?}", instances.iter().map(|i| &i.0).collect::<Vec<_>>());

    let ids: BTreeSet<&str> = instances.iter().map(|i| i.1["ROC42_MQTT_CLIENT_ID"].as_str()).collect();
    assert_eq!(ids.len(), 3, "distinct client ids: {ids:?}");
    assert!(ids.iter().all(|id| !id.is_empty() && !id.contains('$')), "fixed client ids: {ids:?}");
    let groups: BTreeSet<&str> = instances.iter().map(|i| i.1["ROC42_MQTT_SHARED_GROUP"].as_str()).collect();
    assert_eq!(groups.len(), 1, "one shared group: {groups:?}");
    assert!(!groups.iter().next().unwrap().is_empty());
    let mut host_ports = BTreeSet::new();
    for (name, env, restart, ports) in &instances {
        assert_eq!(restart.as_deref(), Some("unless-stopped"), "{name}: restarted with its client id");
        for (k, v) in &instances[0].1 {
            if k != "ROC42_MQTT_CLIENT_ID" {
                assert_eq!(env.get(k), Some(v), "{name}: {k} differs from roc42's");
            }
        }
        for p in ports {
            let host = p.rsplit_once(':').map_or(p.as_str(), |(h, _)| h);
            assert!(host_ports.insert(host.to_owned()), "{name}: host port {host} taken twice");
        }
    }
}

#[test]
fn env_example_lists_every_variable() {
    let listed = env_file_names(&read(ENV_EXAMPLE), false);
    let mut used = BTreeSet::new();
    for rel in [COMPOSE, COMPOSE_SCALE] {
        used.extend(yaml_interpolated(rel));
    }
    let missing: Vec<_> = used.difference(&listed).collect();
    assert!(missing.is_empty(), "{ENV_EXAMPLE} lacks {missing:?}");
    let unused: Vec<_> = listed.difference(&used).collect();
    assert!(unused.is_empty(), "{ENV_EXAMPLE} lists {unused:?}, which no compose file uses");
}

/// Dockerfile instructions: (INSTRUCTION, arguments), continuation lines joined.
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(t);
        let (ins, args) = current.split_once(char::is_whitespace).unwrap_or((&current, ""));
        out.push((ins.to_uppercase(), args.split_whitespace().collect::<Vec<_>>().join(" ")));
        current.clear();
    }
    out
}

#[test]
fn dockerfile_builds_locked_in_two_stages() {
    let ins = dockerfile_instructions(&read(DOCKERFILE));
    let froms: Vec<&str> = ins.iter().filter(|(i, _)| i == "FROM").map(|(_, a)| a.as_str()).collect();
    assert_eq!(froms.len(), 2, "a builder and a runtime stage: {froms:?}");
    assert!(froms[0].starts_with("rust:") && froms[0].contains("bookworm") && froms[0].ends_with(" AS builder"));
    assert_eq!(froms[1], "debian:bookworm-slim", "the runtime has the builder's glibc");
    let stage = ins.iter().position(|(i, _)| i == "FROM").unwrap();
    let runtime_at = ins.iter().rposition(|(i, _)| i == "FROM").unwrap();
    let (builder, runtime) = (&ins[stage..runtime_at], &ins[runtime_at..]);
    let runs = |stage: &[(String, String)]| {
        stage.iter().filter(|(i, _)| i == "RUN").map(|(_, a)| a.clone()).collect::<Vec<_>>().join("\n")
    };
    let build_runs = runs(builder);
    assert!(build_runs.contains("protobuf-compiler") && build_runs.contains("libprotobuf-dev"));
    assert!(build_runs.contains("cargo build --release --locked"), "the build CI runs");
    assert!(runs(runtime).contains("ca-certificates"), "rustls reads the system's trust store");

    let last = |stage: &[(String, String)], name: &str| {
        stage.iter().rev().find(|(i, _)| i == name).map(|(_, a)| a.clone()).unwrap_or_default()
    };
    assert_eq!(last(runtime, "USER"), "roc42", "not root");
    assert_eq!(last(runtime, "ENTRYPOINT"), r#"["roc42"]"#);
    assert_eq!(last(runtime, "CMD"), r#"["serve"]"#);
    assert_eq!(last(runtime, "EXPOSE"), "8080");
    let env = runtime.iter().filter(|(i, _)| i == "ENV").map(|(_, a)| a.as_str()).collect::<Vec<_>>().join(" ");
    for kv in ["ROC42_CONFIG=/etc/roc42/roc42.toml", "ROC42_HTTP_ADDR=0.0.0.0:8080", "ROC42_LOG_FORMAT=json"] {
        assert!(env.split_whitespace().any(|w| w == kv), "ENV {kv} missing: {env}");
    }

    // Every COPY from the context exists and is let through the .dockerignore allow-list.
    let ignore = read(DOCKERIGNORE);
    let rules: Vec<&str> = ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert_eq!(rules.first(), Some(&"*"), "{DOCKERIGNORE}: an allow-list (target/ and .git/ stay out)");
    assert!(rules.contains(&"**/target/"), "{DOCKERIGNORE}: build output inside allowed directories stays out");
    let mut copied = Vec::new();
    for (n, (i, args)) in ins.iter().enumerate() {
        if i != "COPY" || args.starts_with("--from") {
            continue;
        }
        let words: Vec<&str> = args.split_whitespace().filter(|w| !w.starts_with("--")).collect();
        for src in &words[..words.len() - 1] {
            assert!(repo().join(src).exists(), "{DOCKERFILE}: COPY {src}: not in the repository");
            let src = src.trim_end_matches('/');
            assert!(
                rules.contains(&format!("!{src}").as_str()) || rules.contains(&format!("!{src}/").as_str()),
                "{DOCKERIGNORE}: `!{src}` missing, the COPY would find nothing"
            );
            if n < runtime_at {
                copied.push(src.to_owned());
            }
        }
    }
    let in_builder = |p: &str| copied.iter().any(|c| p == c || p.starts_with(&format!("{c}/")));

    // Cargo loads the whole workspace: every member's manifest must be in the builder.
    let manifest = toml_file("Cargo.toml");
    for member in manifest["workspace"]["members"].as_array().unwrap().iter().filter_map(|m| m.as_str()) {
        let path = if member == "." { "Cargo.toml".to_owned() } else { format!("{member}/Cargo.toml") };
        assert!(in_builder(&path), "{DOCKERFILE}: workspace member {member} is not copied");
    }
    for f in ["Cargo.lock", "build.rs", "src", "decoders"] {
        assert!(in_builder(f), "{DOCKERFILE}: {f} is not copied");
    }
    // What the binary embeds (include_bytes!/include_str! outside test modules) is copied.
    let mut embedded = BTreeSet::new();
    collect_includes(&repo().join("src"), &mut embedded);
    assert!(!embedded.is_empty());
    for p in embedded {
        assert!(in_builder(&p), "{DOCKERFILE}: the binary embeds {p}, which is not copied");
    }
}

/// Repository-relative paths of `include_bytes!`/`include_str!` in the Rust files under
/// `dir`, before the file's first `#[cfg(test)]` (test modules come last).
fn collect_includes(dir: &Path, out: &mut BTreeSet<String>) {
    let root = repo().canonicalize().unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect_includes(&p, out);
            continue;
        }
        if p.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for macro_name in ["include_bytes!(\"", "include_str!(\""] {
            for part in code.split(macro_name).skip(1) {
                let rel = part.split('"').next().unwrap();
                let abs = p.parent().unwrap().join(rel).canonicalize().unwrap_or_else(|e| panic!("{rel}: {e}"));
                out.insert(abs.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
}

/// A unit file: section to (key, value) in order.
fn unit_sections(text: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("{UNIT}: {line:?}"));
        out.entry(section.clone()).or_default().push((k.trim().to_owned(), v.trim().to_owned()));
    }
    out
}

#[test]
fn systemd_unit_serves_and_verifies() {
    let text = read(UNIT);
    let sections = unit_sections(&text);
    let get = |s: &str, k: &str| -> Option<String> {
        sections.get(s)?.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.clone())
    };
    let exec = get("Service", "ExecStart").expect("ExecStart");
    assert_eq!(exec, "/usr/local/bin/roc42 --config /etc/roc42/roc42.toml serve");
    assert_eq!(get("Service", "Type").as_deref(), Some("simple"));
    assert_eq!(get("Service", "Restart").as_deref(), Some("always"), "a restart brings its session back");
    assert_eq!(get("Service", "User").as_deref(), Some("roc42"));
    assert_eq!(get("Service", "KillSignal").as_deref(), Some("SIGTERM"));
    assert_eq!(get("Service", "EnvironmentFile").as_deref(), Some("-/etc/roc42/roc42.env"));
    // As long as compose's stop_grace_period: both give the SIGTERM flush the same time.
    let doc = yaml_file(COMPOSE);
    let grace = seconds(&scalar(&services(&doc)["roc42"]["stop_grace_period"]).unwrap());
    assert_eq!(get("Service", "TimeoutStopSec").map(|s| seconds(&s)), Some(grace));
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ] {
        assert_eq!(get("Service", k).as_deref(), Some(v), "{UNIT}: {k}");
    }
    assert_eq!(get("Install", "WantedBy").as_deref(), Some("multi-user.target"));

    // The secrets file names only variables roc42 reads.
    let sources = roc42_sources();
    for name in env_file_names(&read(UNIT_ENV), true) {
        assert!(sources.contains(&format!("\"{name}\"")), "{UNIT_ENV}: roc42 does not read {name}");
    }

    // systemd's own parser. `verify` loads the unit offline (no systemd as PID 1 needed)
    // and checks that ExecStart's binary exists: the copy points at the binary cargo built
    // for this test. User=roc42 may not exist here: verify does not resolve users.
    // --recursive-errors=no: judge this unit, not the dependencies (postgresql.service...)
    // this machine may lack; with it, systemd 252 also fails on unknown or malformed
    // settings, which plain `verify` only prints. --man=no: no man pages to look up.
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !analyze.is_file() {
        eprintln!("deploy: systemd-analyze not installed, {UNIT} checked statically only");
        return;
    }
    let dir = std::env::temp_dir().join(format!("roc42-deploy-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("roc42.service");
    let bin = env!("CARGO_BIN_EXE_roc42");
    std::fs::write(&copy, text.replace("ExecStart=/usr/local/bin/roc42 ", &format!("ExecStart={bin} "))).unwrap();
    let out = Command::new(analyze)
        .args(["verify", "--man=no", "--recursive-errors=no"])
        .arg(&copy)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "systemd-analyze verify {UNIT}: {}\n{said}", out.status);
    // Plain warnings ("Unknown key", "Failed to parse") name the file: none allowed.
    let about_unit: Vec<&str> = said.lines().filter(|l| l.contains("roc42.service")).collect();
    assert!(about_unit.is_empty(), "systemd-analyze verify {UNIT}:\n{}", about_unit.join("\n"));
}
