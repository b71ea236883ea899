//! `real_server` blocks: address, weight, forwarding, tunnels, host management.

use super::*;

pub(super) const REAL_SERVER: Schema = Schema {
    attributes: &[
        "address",
        "port",
        "weight",
        "mode",
        "upper_threshold",
        "lower_threshold",
        "manage",
        "manage_firewall",
        "for_each",
    ],
    blocks: &["tunnel", "ssh"],
};

pub(super) const TUNNEL: Schema = Schema {
    attributes: &["type", "port", "checksum"],
    blocks: &[],
};

pub(super) fn tunnel(reader: &mut Reader, body: &Body, mode: Mode) -> Option<Tunnel> {
    let block = body.blocks().find(|b| b.ident.as_str() == "tunnel")?;
    if mode != Mode::Tun {
        reader
            .error(
                block_span(block),
                "a `tunnel` block is for TUN real servers",
            )
            .help = Some("remove it, or set mode = \"tun\"".into());
        return None;
    }
    reader.check(&block.body, "the tunnel block", &TUNNEL);
    let _ = reader.labels(block, &[]);
    let b = &block.body;
    let kind = reader
        .get(b, "type", keyword(TunnelType::ALL, "tunnel type"))
        .map_or(TunnelType::Ipip, |t| t.value);
    let port = reader.get(b, "port", body::integer(1, 65535));
    let checksum = reader.get(
        b,
        "checksum",
        keyword(TunnelChecksum::ALL, "tunnel checksum"),
    );
    if kind == TunnelType::Gue && port.is_none() && b.get_attribute("port").is_none() {
        reader
            .error(block_span(block), "a GUE tunnel needs a `port`")
            .help = Some("add the UDP port the real servers listen on, e.g. port = 6080".into());
    }
    if let Some(port) = &port
        && kind != TunnelType::Gue
    {
        reader
            .error(port.span.clone(), format!("a {kind} tunnel has no port"))
            .help = Some("only GUE tunnels are UDP-encapsulated".into());
    }
    if let Some(c) = &checksum
        && c.value == TunnelChecksum::RemCsum
        && kind != TunnelType::Gue
    {
        reader
            .error(
                c.span.clone(),
                "remote checksum offload (remcsum) needs a GUE tunnel",
            )
            .help = Some("use checksum = \"csum\" or \"nocsum\", or type = \"gue\"".into());
    }
    if kind == TunnelType::Ipip
        && checksum
            .as_ref()
            .is_some_and(|c| c.value != TunnelChecksum::NoCsum)
    {
        reader
            .error(
                checksum
                    .as_ref()
                    .map(|c| c.span.clone())
                    .unwrap_or_default(),
                "an ipip tunnel carries no checksum",
            )
            .help = Some("remove `checksum`, or use a gue or gre tunnel".into());
    }
    Some(Tunnel {
        kind,
        port: port.map_or(0, |p| p.value as u16),
        checksum: checksum.map_or(TunnelChecksum::NoCsum, |c| c.value),
    })
}

impl<'m> Decoder<'m, '_> {
    pub(super) fn real_servers(
        &mut self,
        scope: &Scope,
        dir: &Path,
        block: &Block,
        context: &ServiceContext,
        service: &mut DeclaredService,
    ) {
        Reader::new(scope, self.diags).check(&block.body, "a real_server block", &REAL_SERVER);
        let Some((name, instances)) = self.named_instances(scope, block) else {
            return;
        };
        for instance in instances {
            let scope = &scope.for_instance(instance.as_ref().map(|(k, v)| (k.as_str(), v)));
            let key = instance.as_ref().map(|(k, _)| k.as_str());
            let address = Address::block(Some(&service.address), "real_server", &name, key);
            self.real_server(scope, dir, block, context, address, service);
        }
    }

    pub(super) fn real_server(
        &mut self,
        scope: &Scope,
        dir: &Path,
        block: &Block,
        context: &ServiceContext,
        address: Address,
        service: &mut DeclaredService,
    ) {
        let mut reader = Reader::new(scope, self.diags);
        let body = &block.body;
        let Some(attributes) = Attributes::read(&mut reader, block, context) else {
            return;
        };
        attributes.check(&mut reader, context);
        let (rip, mode) = (&attributes.rip, attributes.mode);
        let tunnel = tunnel(&mut reader, body, mode);
        let managed = attributes
            .manage
            .as_ref()
            .map_or(mode != Mode::Nat, |m| m.value);
        if let Some(m) = &attributes.manage
            && !m.value
            && mode != Mode::Nat
        {
            reader.warning(m.span.clone(), format!("{} real server with manage = false: prepare its host yourself", mode.as_str().to_uppercase()))
                .help = Some("the host needs the VIP (on lo for DR, on a tunnel for TUN) and the ARP or rp_filter sysctls that go with it; lvsform will not check them".into());
        }
        let ssh = ssh_block(&mut reader, body, dir, &self.ssh, &rip.value);
        let dest_port = attributes
            .port
            .as_ref()
            .map_or(context.port, |p| p.value as u16);
        let key = DestinationKey {
            address: rip.value,
            port: dest_port,
        };
        if service.service.destinations.contains_key(&key) {
            reader
                .error(
                    rip.span.clone(),
                    format!("{key} is already a real server of this service"),
                )
                .help = Some("a service can hold each address and port once".into());
            return;
        }
        let forwarding = match mode {
            Mode::Nat => Forwarding::Nat,
            Mode::Dr => Forwarding::Dr,
            Mode::Tun => Forwarding::Tun(tunnel.unwrap_or_default()),
        };
        service.service.destinations.insert(
            key,
            Destination {
                forwarding,
                weight: attributes.weight,
                upper_threshold: attributes.upper.as_ref().map_or(0, |u| u.value as u32),
                lower_threshold: attributes.lower.as_ref().map_or(0, |l| l.value as u32),
            },
        );
        service.servers.push(DeclaredServer {
            address,
            key,
            location: Location {
                file: scope.file.clone(),
                span: rip.span.clone(),
            },
            forwarding,
            ssh: managed.then_some(ssh),
            manage_firewall: attributes.manage_firewall.as_ref().is_some_and(|m| m.value),
        });
    }
}

/// A real server's attributes as written.
struct Attributes {
    rip: Spanned<IpAddr>,
    port: Option<Spanned<i64>>,
    weight: u32,
    mode: Mode,
    upper: Option<Spanned<i64>>,
    lower: Option<Spanned<i64>>,
    manage: Option<Spanned<bool>>,
    manage_firewall: Option<Spanned<bool>>,
}

impl Attributes {
    fn read(reader: &mut Reader, block: &Block, context: &ServiceContext) -> Option<Attributes> {
        let body = &block.body;
        let rip = reader.get(body, "address", body::host_address);
        let rip = reader.require(rip, body, "address", block, "\"10.1.0.11\"")?;
        let fwmark = matches!(context.key, ServiceKey::Fwmark { .. });
        let port = reader.get(
            body,
            "port",
            body::integer(if fwmark { 0 } else { 1 }, 65535),
        );
        let weight = reader
            .get(body, "weight", body::integer(0, 65535))
            .map_or(1, |w| w.value as u32);
        let mode = reader
            .get(body, "mode", keyword(Mode::ALL, "mode"))
            .map_or(context.mode, |m| m.value);
        let upper = reader.get(
            body,
            "upper_threshold",
            body::integer(0, i64::from(u32::MAX)),
        );
        let lower = reader.get(
            body,
            "lower_threshold",
            body::integer(0, i64::from(u32::MAX)),
        );
        let manage = reader.get(body, "manage", body::boolean);
        let manage_firewall = reader.get(body, "manage_firewall", body::boolean);
        Some(Attributes {
            rip,
            port,
            weight,
            mode,
            upper,
            lower,
            manage,
            manage_firewall,
        })
    }

    /// What the attributes cannot be together, and what they make the user do.
    fn check(&self, reader: &mut Reader, context: &ServiceContext) {
        let fwmark = matches!(context.key, ServiceKey::Fwmark { .. });
        if let Some(port) = &self.port {
            let mapped = port.value as u16 != context.port;
            if fwmark && port.value != 0 {
                reader.error(port.span.clone(), "a fwmark service cannot map ports").help =
                        Some("remove `port`: real servers of a fwmark service receive the port the client used".into());
            } else if mapped && self.mode != Mode::Nat {
                reader.error(port.span.clone(), format!("{} real servers must use the service port {}", self.mode.as_str().to_uppercase(), context.port))
                        .help = Some("only NAT can map ports: DR and TUN deliver the packet unchanged; remove `port` or use mode = \"nat\"".into());
            }
        }
        if let (Some(upper), Some(lower)) = (&self.upper, &self.lower)
            && upper.value != 0
            && lower.value > upper.value
        {
            reader.error(lower.span.clone(), format!("lower_threshold {} is above upper_threshold {}", lower.value, upper.value))
                    .help = Some("the server is re-enabled below the lower threshold, so it must not exceed the upper one".into());
        }
        let service_family = context.key.family();
        let rip_family = Family::of(&self.rip.value);
        if rip_family != service_family && self.mode != Mode::Tun {
            let (s, r) = (family_name(service_family), family_name(rip_family));
            reader
                .error(
                    self.rip.span.clone(),
                    format!("an {r} real server in an {s} service"),
                )
                .help = Some(
                "only TUN can forward between address families; use addresses of one family".into(),
            );
        }
        if let Some(mf) = &self.manage_firewall
            && self.mode != Mode::Tun
        {
            reader
                .error(mf.span.clone(), "`manage_firewall` is for TUN real servers")
                .help =
                Some("only TUN needs IP-in-IP let through the real server's firewall".into());
        }
    }
}
