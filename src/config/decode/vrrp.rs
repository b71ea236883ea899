//! The top-level `vrrp` block and each director's `vrrp { priority }` (SPEC §10).

use super::*;
use crate::keepalived::Vrrp;

pub(super) const VRRP: Schema = Schema {
    attributes: &[
        "virtual_router_id",
        "advert_interval",
        "unicast",
        "sync_connections",
    ],
    blocks: &[],
};

pub(super) const DIRECTOR_VRRP: Schema = Schema {
    attributes: &["priority"],
    blocks: &[],
};

/// The top-level `vrrp` block.
pub(super) fn vrrp(reader: &mut Reader, block: &Block) -> Option<Vrrp> {
    let b = &block.body;
    reader.check(b, "the vrrp block", &VRRP);
    let _ = reader.labels(block, &[]);
    let id = reader.get(b, "virtual_router_id", |v| {
        body::integer(1, 255)(v)
            .map_err(|p| p.help("a VRRP router id is 1..255, one per LAN segment"))
    });
    let id = reader.require(id, b, "virtual_router_id", block, "51");
    let advert_interval = reader
        .get(b, "advert_interval", |v| {
            let interval = body::duration(v)?;
            if interval.subsec_nanos() != 0 || !(1..=255).contains(&interval.as_secs()) {
                return Err(Problem::new(format!("advert_interval {interval:?} is not 1s..255s in whole seconds"))
                    .help("VRRP (version 2, keepalived's default) advertises every 1 to 255 seconds: write \"1s\""));
            }
            Ok(interval.as_secs() as u8)
        })
        .map_or(1, |i| i.value);
    let flag = |reader: &mut Reader, name: &str| {
        reader.get(b, name, body::boolean).is_some_and(|f| f.value)
    };
    let unicast = flag(reader, "unicast");
    let sync_connections = flag(reader, "sync_connections");
    Some(Vrrp {
        virtual_router_id: id?.value as u8,
        advert_interval,
        unicast,
        sync_connections,
    })
}

/// A director's `vrrp { priority }`.
pub(super) fn priority(reader: &mut Reader, block: &Block) -> Option<Spanned<u8>> {
    let b = &block.body;
    reader.check(b, "the vrrp block", &DIRECTOR_VRRP);
    let priority = reader.get(b, "priority", |v| {
        body::integer(1, 254)(v).map_err(|p| {
            p.help("a VRRP priority is 1..254 (255 is the address owner's); the highest holds the VIPs")
        })
    });
    reader
        .require(priority, b, "priority", block, "100")
        .map(|p| Spanned {
            value: p.value as u8,
            span: p.span,
        })
}
