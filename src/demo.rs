//! `roc42 demo`: roc42 end to end in one process. An embedded MQTT broker (rumqttd)
//! unless one is given, the simulator publishing a fleet across five Loire communes
//! (with a day of history first), the pipeline, and the API.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::{self, Http, Ingest};
use crate::config::Config;
use crate::simulate::{self, SimOptions};

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Use this broker instead of starting an embedded one.
    pub mqtt_url: Option<String>,
    /// Port of the embedded broker.
    pub embedded_port: u16,
    pub devices: usize,
    /// Live uplinks per second.
    pub rate: f64,
    /// History published at start.
    pub backfill: Duration,
    /// Stop by itself after this long (for scripted runs); runs until Ctrl-C otherwise.
    pub duration: Option<Duration>,
}

pub async fn run(mut cfg: Config, opts: DemoOptions) -> anyhow::Result<()> {
    let mqtt_url = match &opts.mqtt_url {
        Some(url) => url.clone(),
        None => {
            let addr = SocketAddr::from(([127, 0, 0, 1], opts.embedded_port));
            start_embedded_broker(addr)?;
            format!("mqtt://{addr}")
        }
    };
    cfg.mqtt.url = mqtt_url.clone();
    // A session of its own, so the demo never eats a real deployment's queue.
    cfg.mqtt.client_id = "roc42-demo".into();
    let pool = app::database(&cfg).await?;
    let mut fleet = simulate::fleet(opts.devices, 42);
    simulate::register(&pool, &fleet).await?;
    let ingest = Ingest::start(&cfg, pool.clone()).await?;
    let http = Http::start_for(&cfg, pool.clone(), &ingest).await?;
    // The API wants a token: the demo makes an operator one for whoever runs it, and one
    // of the first commune, to see what a commune sees.
    use crate::store::token::{self, Role};
    let token = token::create(&pool, Role::Operator, None, "demo").await?.token;
    let commune = simulate::COMMUNES[0];
    let commune_token = token::create(&pool, Role::Commune, Some(commune.insee), "demo commune").await?.token;

    let sample = &fleet[0];
    let base = format!("http://{}", http.addr);
    println!();
    println!("roc42 demo is running ({} devices, {} uplinks/s, broker {mqtt_url}).", opts.devices, opts.rate);
    println!("  pages         {base}/ui/  (log in with a token below)");
    println!("  health        {base}/health");
    println!("  devices       {base}/api/v1/devices");
    println!("  a device      {base}/api/v1/devices/{}", sample.dev_eui);
    println!("  its CO2       {base}/api/v1/devices/{}/readings?metric=air.co2", sample.dev_eui);
    println!("  its days      {base}/api/v1/devices/{}/readings?metric=air.co2&bucket=1h", sample.dev_eui);
    println!("  sites         {base}/api/v1/sites");
    println!("  map (GeoJSON) {base}/api/v1/map/devices");
    let site: Option<i64> =
        sqlx::query_scalar("SELECT min(id) FROM site WHERE commune = $1").bind(commune.insee).fetch_one(&pool).await?;
    if let Some(site) = site {
        println!("  indicators    {base}/api/v1/sites/{site}/indicators");
    }
    println!(
        "  a service     {base}/api/v1/communes/{}/services/air-quality-schools/readings?metric=air.co2&bucket=1d",
        commune.insee
    );
    println!("  export        {base}/api/v1/exports/readings?format=parquet&metric=air.co2");
    println!("  fleet health  {base}/api/v1/fleet/health");
    println!("  models        {base}/api/v1/models");
    println!("  API browser   {base}/docs");
    println!("  API document  {base}/openapi.json");
    println!("  metrics       {base}/metrics");
    println!("Operator token (send it as `Authorization: Bearer <token>`): {token}");
    println!("  curl -H 'Authorization: Bearer {token}' {base}/api/v1/devices");
    println!("Token of the commune of {} ({}): {commune_token}", commune.name, commune.insee);
    println!("  curl -H 'Authorization: Bearer {commune_token}' {base}/api/v1/sites");
    println!("Press Ctrl-C to stop.");
    println!();

    let cancel = CancellationToken::new();
    let sim_opts = SimOptions {
        mqtt: cfg.mqtt.clone(),
        rate: opts.rate,
        count: None,
        backfill: Some(opts.backfill),
        topic_prefix: String::new(),
        seed: 42,
    };
    let sim_cancel = cancel.clone();
    let sim = tokio::spawn(async move { simulate::run(&mut fleet, &sim_opts, sim_cancel).await });
    match opts.duration {
        Some(d) => {
            tokio::select! { _ = tokio::time::sleep(d) => {}, _ = app::shutdown_signal() => {} }
        }
        None => app::shutdown_signal().await,
    }
    info!("Stopping the demo.");
    cancel.cancel();
    match sim.await {
        Ok(Ok(n)) => info!(uplinks = n, "Simulator stopped."),
        Ok(Err(e)) => warn!(error = format!("{e:#}"), "Simulator failed."),
        Err(e) => warn!(error = %e, "Simulator task failed."),
    }
    ingest.shutdown().await;
    http.shutdown().await;
    pool.close().await;
    Ok(())
}

/// Starts rumqttd on `addr` (MQTT 5) in background threads.
fn start_embedded_broker(addr: SocketAddr) -> anyhow::Result<()> {
    std::net::TcpListener::bind(addr)
        .with_context(|| format!("port {} is taken; pass --mqtt-url or --broker-port", addr.port()))?;
    let text = format!(
        r#"
id = 0
[router]
max_connections = 1000
max_outgoing_packet_count = 8192
max_segment_size = 104857600
max_segment_count = 10

[v5.1]
name = "v5-1"
listen = "{addr}"
next_connection_delay_ms = 1
[v5.1.connections]
connection_timeout_ms = 60000
max_payload_size = 1048576
max_inflight_count = 8192
dynamic_filters = true
"#
    );
    let config: rumqttd::Config = toml::from_str(&text).context("embedded broker config")?;
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "Embedded broker stopped.");
            }
        })
        .context("start embedded broker")?;
    // Wait until it accepts connections.
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            info!(%addr, "Embedded MQTT broker listening.");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("embedded broker did not start on {addr}")
}
