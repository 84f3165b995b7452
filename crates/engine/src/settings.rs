//! Device settings (not circle content): the relay and local discovery the
//! sync node uses.

use crate::{Engine, EngineError, Store};
use circlekeep_store::BlobKind;
use circlekeep_sync::{NodeConfig, Relay};
use std::net::SocketAddr;

impl<S: Store> Engine<S> {
    /// A device setting (not circle content), e.g. `relay`.
    pub fn setting(&self, key: &str) -> Result<Option<String>, EngineError> {
        let value = self
            .store
            .blob(BlobKind::Setting, key.as_bytes())
            .map_err(EngineError::store)?;
        Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The sync node's settings: `chosen` where given, else this device's
    /// `relay` and `local-discovery` settings, else iroh's relays and local
    /// discovery on.
    pub fn node_config(&self, chosen: &NetChoice) -> Result<NodeConfig, EngineError> {
        let relay = match &chosen.relay {
            Some(r) => r.clone(),
            None => self.setting("relay")?.unwrap_or_else(|| "default".into()),
        };
        let local_discovery = match chosen.local_discovery {
            Some(on) => on,
            None => self.setting("local-discovery")?.as_deref() != Some("off"),
        };
        Ok(NodeConfig {
            relay: relay.parse::<Relay>()?,
            local_discovery,
            bind: chosen.bind,
        })
    }

    /// Sets the device's network settings (each if given): `relay` is
    /// `default`, `disabled` or an iroh-relay URL. Returns what a node
    /// started with no overrides now uses.
    pub fn set_network(
        &self,
        relay: Option<&str>,
        local_discovery: Option<bool>,
    ) -> Result<NodeConfig, EngineError> {
        if let Some(relay) = relay {
            relay.parse::<Relay>()?;
            self.set_setting("relay", Some(relay.trim()))?;
        }
        if let Some(on) = local_discovery {
            self.set_setting("local-discovery", Some(if on { "on" } else { "off" }))?;
        }
        self.node_config(&NetChoice::default())
    }

    /// Sets (or with `None` clears) a device setting.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<(), EngineError> {
        self.store
            .put_blob(BlobKind::Setting, key.as_bytes(), value.map(str::as_bytes))
            .map_err(EngineError::store)?;
        self.store.flush().map_err(EngineError::store)
    }
}

/// Network settings chosen for one run (command-line flags); `None`
/// leaves the choice to the device's settings.
#[derive(Clone, Debug, Default)]
pub struct NetChoice {
    /// `default`, `disabled` or a relay URL.
    pub relay: Option<String>,
    /// Local-network discovery on or off.
    pub local_discovery: Option<bool>,
    /// Address to listen on.
    pub bind: Option<SocketAddr>,
}
