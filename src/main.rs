//! The `roc42` command: parse the CLI, load the configuration, start telemetry, run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use roc42::config::Config;
use roc42::lorawan::DevEui;
use roc42::pipeline::models;
use roc42::{app, bench, demo, simulate, store, telemetry};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "roc42", version, about = "LoRaWAN application backend: MQTT ingest, decoders, TimescaleDB, HTTP API")]
struct Cli {
    /// Configuration file (TOML); see deploy/config/example.toml. Environment variables
    /// override it.
    #[arg(long, short, global = true, env = "ROC42_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: MQTT consumer, pipeline and API (applies migrations first).
    Serve,
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Publish simulated ChirpStack v4 uplinks to the broker.
    Simulate {
        /// Devices in the fleet.
        #[arg(long, default_value_t = 40)]
        devices: usize,
        /// Uplinks per second across the fleet.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Stop after this many live uplinks (default: run until Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
        /// Publish this many hours of history first (one uplink per device every 15 min).
        #[arg(long, default_value_t = 0)]
        backfill_hours: u64,
        /// Register the simulated devices in the database first.
        #[arg(long)]
        register: bool,
        /// Prefix before ChirpStack's topic (`<prefix>application/...`).
        #[arg(long, default_value = "")]
        topic_prefix: String,
        /// Fleet seed (different seeds give different DevEUIs).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Give every Nth device an AppSKey: its frames are encrypted as a network server
        /// forwards them when a join server holds the key (`--register` stores the keys,
        /// sealed under ROC42_MASTER_KEY). 0: none.
        #[arg(long, default_value_t = 0)]
        encrypt_every: usize,
    },
    /// Run everything in one process: embedded broker, simulator, pipeline and API.
    Demo {
        /// Use this broker instead of an embedded one (e.g. mqtt://127.0.0.1:1883).
        #[arg(long)]
        mqtt_url: Option<String>,
        /// Port of the embedded broker.
        #[arg(long, default_value_t = 1884)]
        broker_port: u16,
        #[arg(long, default_value_t = 40)]
        devices: usize,
        /// Live uplinks per second.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// Hours of history published at start.
        #[arg(long, default_value_t = 24)]
        backfill_hours: u64,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        duration_s: Option<u64>,
    },
    /// Measure end-to-end throughput against the broker's and the database's ceilings.
    Bench(bench::BenchOptions),
    /// Measure rollups, the dashboard query and exports on a generated year of readings.
    BenchAnalytics(roc42::analytics::bench::AnalyticsBenchOptions),
    /// The device registry.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// API bearer tokens: create (shown once), list, revoke.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Database logins for Grafana's data sources, each seeing only its communes in the
    /// views of schema `dashboard` (see dashboards/grafana/).
    #[command(subcommand)]
    Grafana(GrafanaCommand),
    /// Decode stored uplinks again from their raw frames, with the devices and models as
    /// they are now (after a decoder fix, a model change, or an AppSKey given late).
    /// Idempotent: readings already stored take the new values.
    Reprocess {
        /// Only the uplinks of devices of this model.
        #[arg(long)]
        model: Option<String>,
        /// Only the uplinks of this device (repeatable).
        #[arg(long)]
        dev_eui: Vec<DevEui>,
        /// Network time range start, RFC 3339, inclusive.
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Range end, RFC 3339, exclusive.
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Only uplinks kept with this outcome (`decode_failed`, `unknown_device`,
        /// `unknown_model`, `encrypted`, `decoded`).
        #[arg(long)]
        outcome: Option<String>,
    },
    /// Recompute the rollups of a period from the raw readings, set-based (after
    /// importing history, or to check the incremental ones).
    RebuildRollups {
        /// Start, RFC 3339 (buckets starting from then).
        #[arg(long)]
        from: chrono::DateTime<chrono::FixedOffset>,
        /// End, RFC 3339, exclusive; default now.
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// List the device models roc42 decodes (built-in and added), or add one.
    Models(ModelsArgs),
    /// Decode one frame and print its readings as JSON lines (metric, value, unit, time),
    /// or the decoder's error.
    Decode {
        /// Model id (see `roc42 models`).
        #[arg(long)]
        model: String,
        #[arg(long)]
        f_port: u8,
        /// FRMPayload in hex.
        #[arg(long)]
        hex: String,
        /// The uplink's receive time (RFC 3339); history samples are dated from it.
        /// Default: now.
        #[arg(long)]
        recv_time: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct ModelsArgs {
    /// One JSON object per line (id, vendor, model, category, decoder, ...).
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Option<ModelsCommand>,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Add a device model from its manifest (TOML; see decoders/src/manifest.rs and
    /// deploy/models/), or replace an added one. A JS codec named by the manifest is read
    /// from beside it, compiled and checked against the manifest's examples first.
    Add {
        /// The manifest file.
        manifest: PathBuf,
    },
    /// Remove an added model (its devices then decode as `unknown_model`).
    Remove { id: String },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Create a token and print it: it is shown this once (only its hash is stored).
    Create {
        /// `operator` (everything), `analyst` (read everything) or `commune` (read its own).
        #[arg(long)]
        role: store::token::Role,
        /// INSEE code of the commune; required for (and only for) `--role commune`.
        #[arg(long)]
        commune: Option<String>,
        /// Who or what holds the token.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens as JSON lines (never the token, never its hash).
    List,
    /// Revoke a token: it stops working within 10 s.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum GrafanaCommand {
    /// Create a login role for a Grafana data source (or change its password and
    /// communes): it reads the `dashboard` views, which show it only the communes given.
    /// The password comes from ROC42_GRAFANA_PASSWORD, or is generated and printed once.
    Grant {
        /// The role's name: lowercase letters, digits and underscores (e.g. grafana_42218).
        #[arg(long)]
        role: String,
        /// INSEE code of a commune it may see (repeatable).
        #[arg(long, required_unless_present = "all_communes")]
        commune: Vec<String>,
        /// Every commune, and the uplinks of unknown devices: the operators' data source.
        #[arg(long, conflicts_with = "commune")]
        all_communes: bool,
    },
    /// List dashboard roles as JSON lines.
    List,
    /// Drop a dashboard role.
    Revoke {
        #[arg(long)]
        role: String,
    },
}

#[derive(Subcommand)]
enum DevicesCommand {
    /// Register a device, or update it.
    Add {
        #[arg(long)]
        dev_eui: DevEui,
        #[arg(long)]
        name: String,
        /// Model id (see `roc42 models`).
        #[arg(long)]
        model: String,
        /// INSEE code of the commune.
        #[arg(long)]
        commune: Option<String>,
        /// The device's AppSKey (32 hex digits), when its network server forwards frames
        /// still encrypted; stored sealed under the master key (ROC42_MASTER_KEY).
        #[arg(long)]
        app_s_key: Option<roc42::lorawan::AppSKey>,
    },
    /// List registered devices.
    List,
    /// Register or update devices from a CSV file: columns dev_eui, name, model, commune
    /// (INSEE code), site, service, latitude, longitude, and optionally app_s_key (see
    /// deploy/samples/devices.csv). The whole file is checked first and every bad line
    /// reported; nothing is written unless all lines are good, then all in one transaction.
    Import {
        /// The CSV file (`,`-separated, or `;`-separated with decimal commas).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    roc42::install_crypto_provider();
    let cli = Cli::parse();
    let cfg = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logs(&cfg.log);
    telemetry::metrics();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command, cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, cfg: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => app::serve(cfg).await,
        Command::Migrate => {
            let pool = app::database(&cfg).await?;
            println!("migrations applied");
            pool.close().await;
            Ok(())
        }
        Command::Simulate { devices, rate, count, backfill_hours, register, topic_prefix, seed, encrypt_every } => {
            let mut fleet = simulate::fleet(devices, seed);
            if encrypt_every > 0 {
                simulate::give_app_s_keys(&mut fleet, encrypt_every, seed);
            }
            if register {
                let sealer = roc42::custody::Sealer::from_config(cfg.keys.master_key.as_deref())?;
                let pool = app::database(&cfg).await?;
                simulate::register_with_keys(&pool, &fleet, sealer.as_ref()).await?;
                pool.close().await;
            }
            let opts = simulate::SimOptions {
                mqtt: cfg.mqtt.clone(),
                rate,
                count,
                backfill: (backfill_hours > 0).then(|| Duration::from_secs(backfill_hours * 3600)),
                topic_prefix,
                seed,
            };
            let cancel = CancellationToken::new();
            let c = cancel.clone();
            tokio::spawn(async move {
                app::shutdown_signal().await;
                c.cancel();
            });
            let n = simulate::run(&mut fleet, &opts, cancel).await?;
            println!("published {n} uplinks");
            Ok(())
        }
        Command::Demo { mqtt_url, broker_port, devices, rate, backfill_hours, duration_s } => {
            let opts = demo::DemoOptions {
                mqtt_url,
                embedded_port: broker_port,
                devices,
                rate,
                backfill: Duration::from_secs(backfill_hours * 3600),
                duration: duration_s.map(Duration::from_secs),
            };
            demo::run(cfg, opts).await
        }
        Command::Bench(opts) => bench::run(cfg, opts).await,
        Command::BenchAnalytics(opts) => roc42::analytics::bench::run(cfg, opts).await,
        Command::Reprocess { model, dev_eui, from, to, outcome } => {
            let outcome = match outcome {
                None => None,
                Some(o) => Some(
                    roc42::pipeline::Outcome::ALL
                        .iter()
                        .map(|x| x.as_str())
                        .find(|x| *x == o)
                        .with_context(|| format!("unknown outcome {o:?}"))?,
                ),
            };
            let sel = store::uplink::Selection {
                dev_euis: (!dev_eui.is_empty()).then(|| dev_eui.iter().map(|e| e.to_string()).collect()),
                model,
                from: from.map(|t| t.with_timezone(&chrono::Utc)),
                to: to.map(|t| t.with_timezone(&chrono::Utc)),
                outcome,
            };
            let sealer = roc42::custody::Sealer::from_config(cfg.keys.master_key.as_deref())?;
            let pool = app::database(&cfg).await?;
            let r = roc42::pipeline::reprocess::Reprocessor::new(pool.clone(), sealer, cfg.codecs.js_limits());
            let total = r.count(&sel).await.context("count the uplinks")?;
            let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} uplinks {elapsed} (eta {eta})")
            {
                bar.set_style(style);
            }
            let summary = r.run(&sel, |n| bar.set_position(n)).await;
            bar.finish();
            println!("{}", serde_json::to_string(&summary.context("reprocess")?)?);
            pool.close().await;
            Ok(())
        }
        Command::RebuildRollups { from, to } => {
            let from = from.with_timezone(&chrono::Utc);
            let to = to.map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc));
            anyhow::ensure!(from < to, "--from must be before --to");
            let pool = app::database(&cfg).await?;
            let bar = indicatif::ProgressBar::new(u64::try_from((to - from).num_hours()).unwrap_or(0));
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} hours {elapsed} (eta {eta})")
            {
                bar.set_style(style);
            }
            let r = store::rollup::rebuild(&pool, from, to, |at| {
                bar.set_position(u64::try_from((at - from).num_hours()).unwrap_or(0))
            })
            .await
            .context("rebuild rollups")?;
            bar.finish();
            println!("{{\"hours\": {}, \"days\": {}, \"services\": {}}}", r.hours, r.days, r.services);
            pool.close().await;
            Ok(())
        }
        Command::Devices(DevicesCommand::Add { dev_eui, name, model, commune, app_s_key }) => {
            let sealer = roc42::custody::Sealer::from_config(cfg.keys.master_key.as_deref())?;
            let sealed = match (&app_s_key, &sealer) {
                (Some(k), Some(s)) => Some(s.seal(k, dev_eui)),
                (Some(_), None) => return Err(roc42::custody::CustodyError::NoMasterKey.into()),
                (None, _) => None,
            };
            let pool = app::database(&cfg).await?;
            if models::find(&pool, &model).await?.is_none() {
                anyhow::bail!("unknown model {model:?}; `roc42 models` lists them");
            }
            let d = store::device::upsert(&pool, &store::device::NewDevice { dev_eui, name, model, commune })
                .await
                .context("register device")?;
            if let Some(sealed) = &sealed {
                store::device::set_app_s_key(&pool, dev_eui, Some(sealed)).await.context("store the AppSKey")?;
            }
            println!("{}", serde_json::to_string(&d)?);
            Ok(())
        }
        Command::Devices(DevicesCommand::Import { file }) => import_devices(&cfg, &file).await,
        Command::Tokens(TokensCommand::Create { role, commune, label }) => {
            use store::token::Role;
            match (role, &commune) {
                (Role::Commune, None) => anyhow::bail!("--role commune needs --commune <INSEE code>"),
                (Role::Operator | Role::Analyst, Some(_)) => anyhow::bail!("--commune is only for --role commune"),
                _ => {}
            }
            let pool = app::database(&cfg).await?;
            let t = store::token::create(&pool, role, commune.as_deref(), &label).await.context("create token")?;
            println!("token id {}: {}", t.id, t.token);
            eprintln!("This is the only time the token is shown; store it now.");
            Ok(())
        }
        Command::Tokens(TokensCommand::List) => {
            let pool = app::database(&cfg).await?;
            for t in store::token::list(&pool).await? {
                println!("{}", serde_json::to_string(&t)?);
            }
            Ok(())
        }
        Command::Tokens(TokensCommand::Revoke { id }) => {
            let pool = app::database(&cfg).await?;
            if !store::token::revoke(&pool, id).await? {
                anyhow::bail!("no unrevoked token {id}");
            }
            println!("revoked token {id} (it stops working within 10 s)");
            Ok(())
        }
        Command::Grafana(GrafanaCommand::Grant { role, commune, all_communes }) => {
            use store::dashboard::{self, Communes};
            let communes = if all_communes { Communes::All } else { Communes::Only(commune) };
            let (password, generated) = match std::env::var("ROC42_GRAFANA_PASSWORD") {
                Ok(p) if !p.is_empty() => (p, false),
                _ => (store::token::random_secret(24), true),
            };
            let pool = app::database(&cfg).await?;
            dashboard::grant(&pool, &role, &password, &communes).await.with_context(|| format!("grant {role}"))?;
            println!(
                "role {role} can read the dashboard views of {}",
                match &communes {
                    Communes::All => "every commune".to_owned(),
                    Communes::Only(list) => list.join(", "),
                }
            );
            if generated {
                println!("password: {password}");
                eprintln!("This is the only time the password is shown; put it in the Grafana data source now.");
            }
            Ok(())
        }
        Command::Grafana(GrafanaCommand::List) => {
            let pool = app::database(&cfg).await?;
            for r in store::dashboard::list(&pool).await? {
                println!("{}", serde_json::to_string(&r)?);
            }
            Ok(())
        }
        Command::Grafana(GrafanaCommand::Revoke { role }) => {
            let pool = app::database(&cfg).await?;
            if !store::dashboard::revoke(&pool, &role).await? {
                anyhow::bail!("{role} is not a dashboard role");
            }
            println!("dropped role {role}");
            Ok(())
        }
        Command::Devices(DevicesCommand::List) => {
            let pool = app::database(&cfg).await?;
            let filter = store::device::DeviceFilter::default();
            let mut offset = 0;
            loop {
                let page = store::device::list(&pool, None, &filter, 1000, offset).await?;
                for d in &page {
                    println!("{}", serde_json::to_string(d)?);
                }
                if page.len() < 1000 {
                    break;
                }
                offset += 1000;
            }
            Ok(())
        }
        Command::Models(ModelsArgs { command: Some(ModelsCommand::Add { manifest }), .. }) => {
            let (manifest, codec) = read_manifest(&manifest)?;
            let pool = app::database(&cfg).await?;
            let stored = models::add(&pool, manifest, codec, cfg.codecs.js_limits()).await?;
            println!(
                "{}",
                models::describe(&roc42_decoders::model::ModelInfo::from_manifest(
                    &stored.manifest,
                    stored.codec.as_deref()
                )?)
            );
            Ok(())
        }
        Command::Models(ModelsArgs { command: Some(ModelsCommand::Remove { id }), .. }) => {
            let pool = app::database(&cfg).await?;
            if !store::model::delete(&pool, &id).await? {
                anyhow::bail!("no added model {id:?} (built-in models cannot be removed)");
            }
            println!("removed {id}");
            Ok(())
        }
        Command::Models(ModelsArgs { json, command: None }) => {
            let all = match app::database(&cfg).await {
                Ok(pool) => models::list_all(&pool).await?,
                Err(e) => {
                    eprintln!("warning: {e:#}; listing the built-in models only");
                    roc42_decoders::model::builtin().iter().map(models::ModelRef::Builtin).collect()
                }
            };
            for m in &all {
                if json {
                    println!("{}", models::describe(m));
                } else {
                    println!(
                        "{:<28} {:<10} {:<28} {:<12} {}",
                        m.id,
                        m.vendor,
                        m.model,
                        m.category.as_str(),
                        m.decoder_kind()
                    );
                }
            }
            Ok(())
        }
        Command::Decode { model, f_port, hex, recv_time } => {
            let bytes = roc42_decoders::manifest::decode_hex(&hex).context("--hex is not hexadecimal")?;
            let info = match roc42_decoders::model::get(&model) {
                Some(m) => models::ModelRef::Builtin(m),
                None => {
                    let pool = app::database(&cfg).await?;
                    models::find(&pool, &model)
                        .await?
                        .with_context(|| format!("unknown model {model:?}; `roc42 models` lists them"))?
                }
            };
            let recv = recv_time.map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc));
            let js = roc42_decoders::js::JsPool::start(roc42_decoders::js::JsLimits {
                threads: 1,
                ..cfg.codecs.js_limits()
            })?;
            let readings = info
                .decode(f_port, &bytes, recv.timestamp_millis(), &js)
                .map_err(|e| anyhow::anyhow!("decode failed: {e}"))?;
            for r in readings {
                let time = chrono::TimeDelta::from_std(r.age)
                    .ok()
                    .and_then(|age| recv.checked_sub_signed(age))
                    .unwrap_or(recv);
                let v = serde_json::json!({
                    "metric": r.metric.name(), "value": r.value, "unit": r.metric.unit(),
                    "time": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                });
                println!("{v}");
            }
            Ok(())
        }
    }
}

/// `roc42 devices import`: check the whole file, print every bad line, or write it all
/// with a progress bar.
async fn import_devices(cfg: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    use roc42::onboarding::{self, ImportError};
    let sealer = roc42::custody::Sealer::from_config(cfg.keys.master_key.as_deref())?;
    let input = std::fs::File::open(file).with_context(|| format!("open {}", file.display()))?;
    let pool = app::database(cfg).await?;
    let known = onboarding::Known::load(&pool, sealer.is_some()).await.context("load communes, services and models")?;
    let rows = match onboarding::parse(input, &known) {
        Ok(rows) => rows,
        Err(ImportError::Invalid(errors)) => {
            for e in &errors {
                eprintln!("{}:{e}", file.display());
            }
            anyhow::bail!("{} bad line(s) in {}; nothing was imported", errors.len(), file.display());
        }
        Err(e) => return Err(e).with_context(|| format!("read {}", file.display())),
    };
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} devices {elapsed}") {
        bar.set_style(style);
    }
    let summary = onboarding::apply(&pool, &rows, sealer.as_ref(), false, |n| bar.set_position(n as u64)).await;
    bar.finish();
    let summary = summary.context("import devices")?;
    println!("{}", serde_json::to_string(&summary)?);
    pool.close().await;
    Ok(())
}

/// Reads a manifest and, if it names a JS codec, the codec file beside it.
fn read_manifest(path: &std::path::Path) -> anyhow::Result<(roc42_decoders::manifest::Manifest, Option<String>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let manifest =
        roc42_decoders::manifest::Manifest::parse(&text).with_context(|| format!("in {}", path.display()))?;
    let codec = match &manifest.decoder {
        roc42_decoders::manifest::DecoderSpec::Js { js, .. } => {
            let file = path.parent().unwrap_or_else(|| std::path::Path::new(".")).join(js);
            Some(std::fs::read_to_string(&file).with_context(|| format!("read the codec {}", file.display()))?)
        }
        roc42_decoders::manifest::DecoderSpec::Native { .. } => None,
    };
    Ok((manifest, codec))
}
