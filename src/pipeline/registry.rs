//! The device registry as the decode stage sees it: DevEUI -> (device id, model),
//! loaded whole at start and cached per DevEUI (hits and misses) for a TTL, so the hot
//! path touches the database only for devices it has not seen recently.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::custody::{CustodyError, Sealer};
use crate::lorawan::{AppSKey, DevEui};
use crate::store;
use crate::store::device::StoredRef;

/// Most DevEUIs cached at once.
const MAX_ENTRIES: usize = 200_000;

/// What the pipeline needs of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRef {
    pub id: i64,
    pub model: String,
    pub app_s_key: KeyState,
}

/// Whether roc42 holds the device's AppSKey.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeyState {
    #[default]
    None,
    Held(AppSKey),
    /// A sealed key is stored but does not open (no or another master key): why.
    Unusable(String),
}

impl DeviceRef {
    /// Opens the stored key, if any, with the configured master key.
    pub fn from_stored(eui: DevEui, s: StoredRef, sealer: Option<&Sealer>) -> Self {
        let app_s_key = match (&s.app_s_key_sealed, sealer) {
            (None, _) => KeyState::None,
            (Some(_), None) => KeyState::Unusable(CustodyError::NoMasterKey.to_string()),
            (Some(sealed), Some(sealer)) => match sealer.open(sealed, eui) {
                Ok(k) => KeyState::Held(k),
                Err(e) => KeyState::Unusable(e.to_string()),
            },
        };
        Self { id: s.id, model: s.model, app_s_key }
    }
}

pub struct DeviceRegistry {
    pool: PgPool,
    ttl: Duration,
    sealer: Option<Sealer>,
    cache: HashMap<DevEui, (Option<DeviceRef>, Instant)>,
}

impl DeviceRegistry {
    /// Loads every device.
    pub async fn load(pool: PgPool, ttl: Duration, sealer: Option<Sealer>) -> anyhow::Result<Self> {
        let now = Instant::now();
        let cache = store::device::list_refs(&pool)
            .await?
            .into_iter()
            .map(|(eui, d)| (eui, (Some(DeviceRef::from_stored(eui, d, sealer.as_ref())), now)))
            .collect();
        Ok(Self { pool, ttl, sealer, cache })
    }

    /// The device with this DevEUI, if registered (cached for the TTL either way).
    pub async fn resolve(&mut self, dev_eui: DevEui) -> Result<Option<DeviceRef>, sqlx::Error> {
        if let Some((d, at)) = self.cache.get(&dev_eui) {
            if at.elapsed() < self.ttl {
                return Ok(d.clone());
            }
        }
        let d = store::device::get_ref(&self.pool, dev_eui)
            .await?
            .map(|s| DeviceRef::from_stored(dev_eui, s, self.sealer.as_ref()));
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
