//! The `director` block.

use super::*;

pub(super) const DIRECTOR: Schema = Schema {
    attributes: &["interface", "dip", "sysctl"],
    blocks: &[
        "timeouts",
        "ignore",
        "sync_daemon",
        "ssh",
        "keepalived",
        "vrrp",
    ],
};

pub(super) const KEEPALIVED: Schema = Schema {
    attributes: &["file", "pid_file"],
    blocks: &[],
};

pub(super) const TIMEOUTS: Schema = Schema {
    attributes: &["tcp", "tcp_fin", "udp"],
    blocks: &[],
};

pub(super) const IGNORE: Schema = Schema {
    attributes: &["vips", "fwmarks"],
    blocks: &[],
};

pub(super) const SYNC_DAEMON: Schema = Schema {
    attributes: &["state", "interface", "syncid"],
    blocks: &[],
};

impl<'m> Decoder<'m, '_> {
    pub(super) fn director(&mut self, scope: &Scope, block: &Block) {
        let mut reader = Reader::new(scope, self.diags);
        reader.check(&block.body, "the director block", &DIRECTOR);
        let name = match block.labels.len() {
            0 => None,
            _ => match reader.labels(block, &["name"]) {
                Some(labels) => Some(labels[0].to_string()),
                None => return,
            },
        };
        let earlier = &self.declared.directors;
        let problem = match (&name, earlier.first()) {
            (_, None) => None,
            (None, Some(_)) | (Some(_), Some(DeclaredDirector { name: None, .. })) => Some((
                "an unnamed `director` block cannot stand beside another `director` block",
                "name every director to have several: director \"lb1\" { … }".to_string(),
            )),
            (Some(name), Some(_)) if earlier.iter().any(|d| d.name.as_ref() == Some(name)) => {
                Some((
                    "two directors have the same name",
                    format!("rename one of the `director \"{name}\"` blocks"),
                ))
            }
            _ => None,
        };
        if let Some((message, help)) = problem {
            reader.error(block_span(block), message).help = Some(help);
            return;
        }
        let body = &block.body;
        let interface = reader
            .get(body, "interface", body::interface_name)
            .map(|s| s.value);
        let dip = reader.get(body, "dip", body::host_address).map(|s| s.value);
        let sysctls = sysctls(&mut reader, body);
        let mut director = DeclaredDirector {
            name,
            interface,
            dip,
            sysctls,
            timeouts: None,
            ignore_vips: Vec::new(),
            ignore_fwmarks: Vec::new(),
            sync_daemons: BTreeSet::new(),
            remote: None,
            keepalived: Default::default(),
            vrrp_priority: None,
            location: Location {
                file: scope.file.clone(),
                span: block_span(block),
            },
        };
        for inner in body.blocks() {
            if inner.ident.as_str() != "ssh" {
                let _ = reader.labels(inner, &[]);
            }
            let b = &inner.body;
            match inner.ident.as_str() {
                "timeouts" => director.timeouts = Some(timeouts(&mut reader, b)),
                "ignore" => {
                    reader.check(b, "the ignore block", &IGNORE);
                    if let Some(list) = reader.get(b, "vips", |v| list_of(v, body::cidr)) {
                        director.ignore_vips = list.value;
                    }
                    if let Some(list) = reader.get(b, "fwmarks", |v| list_of(v, fwmark)) {
                        director.ignore_fwmarks = list.value;
                    }
                }
                "sync_daemon" => sync_daemon(&mut reader, inner, &mut director.sync_daemons),
                "keepalived" => director.keepalived = keepalived(&mut reader, b),
                "vrrp" => {
                    director.vrrp_priority = super::vrrp::priority(&mut reader, inner).map(|p| {
                        let location = Location {
                            file: scope.file.clone(),
                            span: p.span,
                        };
                        (p.value, location)
                    })
                }
                "ssh" => {
                    let dir = &self.modules.modules[0].dir;
                    director.remote =
                        ssh::director_ssh(&mut reader, inner, dir, &self.ssh).map(|remote| {
                            RemoteDirectorMeta {
                                name: director.name.clone(),
                                ..remote
                            }
                        });
                }
                _ => {} // reported by check()
            }
        }
        if self.same_machine(scope, block, &director) {
            return;
        }
        if let Some(remote) = &director.remote
            && !self.diags.has_errors()
        {
            (self.on_remote)(director.name.is_some(), remote);
        }
        self.declared.directors.push(director);
    }

    /// Whether `director` is the same machine as a director declared before it (reported).
    fn same_machine(&mut self, scope: &Scope, block: &Block, director: &DeclaredDirector) -> bool {
        let Some(name) = &director.name else {
            return false;
        };
        let mut reader = Reader::new(scope, self.diags);
        let same_machine =
            self.declared
                .directors
                .iter()
                .find(|d| match (&d.remote, &director.remote) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.ssh.host == b.ssh.host && a.ssh.port == b.ssh.port,
                    _ => false,
                });
        if let Some(other) = same_machine {
            let other = other.name.as_deref().unwrap_or_default();
            let (message, help) = match &director.remote {
                None => (
                    format!(
                        "directors \"{other}\" and \"{name}\" both have no ssh block: both would be this machine"
                    ),
                    "give every director but this machine an `ssh { host = … }` block".to_string(),
                ),
                Some(remote) => (
                    format!(
                        "directors \"{other}\" and \"{name}\" are the same host ({})",
                        remote.ssh.host
                    ),
                    "each director is one machine: remove one, or correct its host".to_string(),
                ),
            };
            reader.error(block_span(block), message).help = Some(help);
            return true;
        }
        false
    }
}

/// `sysctl = { name = value }`: names and values the director may be given.
fn sysctls(reader: &mut Reader, body: &Body) -> BTreeMap<String, String> {
    let mut sysctls = BTreeMap::new();
    if let Some(Spanned { value, span }) = reader.value(body, "sysctl") {
        match value {
            Value::Object(map) => {
                for (name, value) in map {
                    match body::sysctl_name(&name).and_then(|()| body::sysctl_value(&value)) {
                        Ok(value) => {
                            sysctls.insert(name, value);
                        }
                        Err(problem) => {
                            reader
                                .error(span.clone(), format!("invalid sysctl: {}", problem.message))
                                .help = problem.help;
                        }
                    }
                }
            }
            Value::Null => {}
            other => {
                reader
                    .error(
                        span,
                        format!("`sysctl` must be a map, found a {}", type_name(&other)),
                    )
                    .help =
                    Some("write sysctl = { \"net.ipv4.vs.expire_nodest_conn\" = 1 }".into());
            }
        }
    }
    sysctls
}

/// The `keepalived` block: where lvsform's file and keepalived's pid file are.
fn keepalived(reader: &mut Reader, body: &Body) -> crate::keepalived::Files {
    reader.check(body, "the keepalived block", &KEEPALIVED);
    let mut files = crate::keepalived::Files::default();
    let mut path = |name: &str, into: &mut String| {
        if let Some(path) = reader.get(body, name, absolute_path) {
            *into = path.value;
        }
    };
    path("file", &mut files.file);
    path("pid_file", &mut files.pid_file);
    files
}

/// A path on the director: absolute, plain.
fn absolute_path(value: &Value) -> Result<String, Problem> {
    let path = body::string(value)?;
    if !path.starts_with('/') || path.contains(['\n', '\0']) || path.split('/').any(|p| p == "..") {
        return Err(
            Problem::new(format!("{path:?} is not a plain absolute path")).help(
                "write the director's path from its root, without `..`: \"/etc/keepalived/lvsform.conf\"",
            ),
        );
    }
    Ok(path)
}

/// The `timeouts` block; an unset timeout takes the kernel's default (ipvsadm -L --timeout).
fn timeouts(reader: &mut Reader, body: &Body) -> Timeouts {
    reader.check(body, "the timeouts block", &TIMEOUTS);
    let mut seconds = |name: &str, default: u32| {
        reader
            .get(body, name, |v| {
                body::integer(1, i64::from(i32::MAX))(v)
                    .map_err(|p| p.help("timeouts are whole seconds, at least 1"))
            })
            .map_or(default, |s| s.value as u32)
    };
    Timeouts {
        tcp: seconds("tcp", defaults::KERNEL_TIMEOUTS.tcp),
        tcp_fin: seconds("tcp_fin", defaults::KERNEL_TIMEOUTS.tcp_fin),
        udp: seconds("udp", defaults::KERNEL_TIMEOUTS.udp),
    }
}

/// A `sync_daemon` block: at most one master and one backup.
fn sync_daemon(reader: &mut Reader, inner: &Block, daemons: &mut BTreeSet<SyncDaemon>) {
    let b = &inner.body;
    reader.check(b, "the sync_daemon block", &SYNC_DAEMON);
    let state = reader.get(b, "state", keyword(SyncState::ALL, "sync daemon state"));
    let state = reader.require(state, b, "state", inner, "\"master\"");
    let interface = reader.get(b, "interface", body::interface_name);
    let interface = reader.require(interface, b, "interface", inner, "\"eth1\"");
    let syncid = reader
        .get(b, "syncid", body::integer(0, 255))
        .map_or(0, |s| s.value as u8);
    if let (Some(state), Some(interface)) = (state, interface) {
        let daemon = SyncDaemon {
            state: state.value,
            interface: interface.value,
            syncid,
        };
        if daemons.iter().any(|d| d.state == daemon.state) {
            reader
                .error(
                    block_span(inner),
                    format!("two {} sync daemons", daemon.state.as_str()),
                )
                .help =
                Some("the kernel runs at most one master and one backup sync daemon".into());
        }
        daemons.insert(daemon);
    }
}
