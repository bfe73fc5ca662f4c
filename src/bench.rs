//! `roc42 bench`: end-to-end throughput from the real broker to committed readings.

#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Uplinks per measurement.
    #[arg(long, default_value_t = 50_000)]
    pub uplinks: u64,
}

pub async fn run(_cfg: crate::config::Config, _opts: BenchOptions) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
