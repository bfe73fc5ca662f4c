//! The device registry as the decode stage sees it: DevEUI -> (device id, model),
//! loaded whole at start and cached per DevEUI (hits and misses) for a TTL, so the hot
//! path touches the database only for devices it has not seen recently.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::lorawan::DevEui;
use crate::store;

/// Most DevEUIs cached at once.
const MAX_ENTRIES: usize = 200_000;

/// What the pipeline needs of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRef {
    pub id: i64,
    pub model: String,
}

pub struct DeviceRegistry {
    pool: PgPool,
    ttl: Duration,
    cache: HashMap<DevEui, (Option<DeviceRef>, Instant)>,
}

impl DeviceRegistry {
    /// Loads every device.
    pub async fn load(pool: PgPool, ttl: Duration) -> anyhow::Result<Self> {
        let now = Instant::now();
        let cache = store::device::list_refs(&pool).await?.into_iter().map(|(eui, d)| (eui, (Some(d), now))).collect();
        Ok(Self { pool, ttl, cache })
    }

    /// The device with this DevEUI, if registered (cached for the TTL either way).
    pub async fn resolve(&mut self, dev_eui: DevEui) -> Result<Option<DeviceRef>, sqlx::Error> {
        if let Some((d, at)) = self.cache.get(&dev_eui) {
            if at.elapsed() < self.ttl {
                return Ok(d.clone());
            }
        }
        let d = store::device::get_ref(&self.pool, dev_eui).await?;
        if self.cache.len() >= MAX_ENTRIES {
            // A flood of random DevEUIs must not grow memory without bound.
            let ttl = self.ttl;
            self.cache.retain(|_, (_, at)| at.elapsed() < ttl);
            if self.cache.len() >= MAX_ENTRIES {
                self.cache.clear();
            }
        }
        self.cache.insert(dev_eui, (d.clone(), Instant::now()));
        Ok(d)
    }
}
