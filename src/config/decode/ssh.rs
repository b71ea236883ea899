//! SSH settings, layered: built-in defaults, the root `ssh` block, a real server's own.

use super::*;

pub(super) const SSH_ROOT: Schema = Schema {
    attributes: &[
        "user",
        "private_key",
        "agent",
        "known_hosts",
        "port",
        "sudo",
        "parallelism",
        "timeout",
    ],
    blocks: &[],
};

pub(super) const SSH_SERVER: Schema = Schema {
    attributes: &[
        "host",
        "user",
        "private_key",
        "agent",
        "known_hosts",
        "port",
        "sudo",
        "timeout",
        "strict_host_key_checking",
    ],
    blocks: &[],
};

pub(super) const SSH_DIRECTOR: Schema = Schema {
    attributes: &[
        "host",
        "user",
        "private_key",
        "agent",
        "known_hosts",
        "port",
        "sudo",
        "timeout",
        "lvsform",
    ],
    blocks: &[],
};

/// SSH settings as layered: built-in defaults, then the root `ssh` block, then a server's.
#[derive(Clone)]
pub(super) struct SshLayer {
    user: String,
    private_key: Option<std::path::PathBuf>,
    agent: bool,
    known_hosts: std::path::PathBuf,
    port: u16,
    sudo: bool,
    timeout: Duration,
}

impl Default for SshLayer {
    fn default() -> Self {
        let home = Path::new("/");
        SshLayer {
            user: "root".into(),
            private_key: Some(expand_path(home, "~/.ssh/id_ed25519")),
            agent: false,
            known_hosts: expand_path(home, "~/.ssh/known_hosts"),
            port: defaults::SSH_PORT,
            sudo: false,
            timeout: defaults::SSH_TIMEOUT,
        }
    }
}

/// The root `ssh` block, evaluated in the root scope.
pub(super) fn root_ssh(
    root: &Module,
    values: &Map,
    locals: &Locals,
    declared: &mut Declared,
    diags: &mut Diagnostics,
) -> SshLayer {
    let mut layer = SshLayer::default();
    let mut seen = false;
    for file in &root.files {
        for block in file.body.blocks().filter(|b| b.ident.as_str() == "ssh") {
            let scope = Scope::new(&file.source, values, locals);
            let mut reader = Reader::new(&scope, diags);
            if seen {
                reader
                    .error(block_span(block), "only one `ssh` block is allowed")
                    .help = Some(
                    "merge the two blocks; override settings per server inside real_server".into(),
                );
                continue;
            }
            seen = true;
            reader.check(&block.body, "the ssh block", &SSH_ROOT);
            let _ = reader.labels(block, &[]);
            layer = ssh_layer(&mut reader, &block.body, &root.dir, layer);
            if let Some(n) = reader.get(&block.body, "parallelism", body::integer(1, 1024)) {
                declared.parallelism = n.value as usize;
            }
        }
    }
    layer
}

pub(super) fn ssh_layer(reader: &mut Reader, body: &Body, dir: &Path, base: SshLayer) -> SshLayer {
    let mut layer = base;
    if let Some(user) = reader.get(body, "user", body::string) {
        if is_user_name(&user.value) {
            layer.user = user.value;
        } else {
            reader
                .error(
                    user.span,
                    format!(
                        "\"{}\" is not a valid user name",
                        user.value.escape_default()
                    ),
                )
                .help = Some("user names hold letters, digits, `_`, `.` and `-`".into());
        }
    }
    if let Some(key) = reader.get(body, "private_key", body::string) {
        layer.private_key = Some(expand_path(dir, &key.value));
    }
    if let Some(agent) = reader.get(body, "agent", body::boolean) {
        layer.agent = agent.value;
        if agent.value && body.get_attribute("private_key").is_none() {
            layer.private_key = None;
        }
    }
    if let Some(path) = reader.get(body, "known_hosts", body::string) {
        layer.known_hosts = expand_path(dir, &path.value);
    }
    if let Some(port) = reader.get(body, "port", body::integer(1, 65535)) {
        layer.port = port.value as u16;
    }
    if let Some(sudo) = reader.get(body, "sudo", body::boolean) {
        layer.sudo = sudo.value;
    }
    if let Some(timeout) = reader.get(body, "timeout", body::duration) {
        if timeout.value.is_zero() {
            reader
                .error(timeout.span, "the SSH timeout must be longer than 0s")
                .help = Some("write e.g. timeout = \"10s\"".into());
        } else {
            layer.timeout = timeout.value;
        }
    }
    layer
}

pub(super) fn is_user_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

pub(super) fn ssh_block(
    reader: &mut Reader,
    body: &Body,
    dir: &Path,
    defaults: &SshLayer,
    rip: &IpAddr,
) -> SshTarget {
    let block = body.blocks().find(|b| b.ident.as_str() == "ssh");
    let mut layer = defaults.clone();
    let mut host = rip.to_string();
    let mut strict = true;
    if let Some(block) = block {
        reader.check(&block.body, "a real server's ssh block", &SSH_SERVER);
        let _ = reader.labels(block, &[]);
        layer = ssh_layer(reader, &block.body, dir, layer);
        if let Some(h) = reader.get(&block.body, "host", body::string) {
            if is_host_name(&h.value) {
                host = h.value;
            } else {
                reader
                    .error(
                        h.span,
                        format!(
                            "\"{}\" is not a host name or address",
                            h.value.escape_default()
                        ),
                    )
                    .help = Some("host names hold letters, digits, `.` and `-`".into());
            }
        }
        if let Some(s) = reader.get(&block.body, "strict_host_key_checking", body::boolean) {
            strict = s.value;
            if !strict {
                reader.warning(s.span, format!("host-key checking is off for {host}: anyone on the path can impersonate it"))
                    .help = Some("add the host's key to known_hosts (ssh-keyscan) and remove this line".into());
            }
        }
    }
    SshTarget {
        host,
        port: layer.port,
        user: layer.user,
        private_key: layer.private_key,
        agent: layer.agent,
        known_hosts: layer.known_hosts,
        sudo: layer.sudo,
        timeout: layer.timeout,
        strict_host_key_checking: strict,
    }
}

/// A director's `ssh` block: the director is reached over SSH, where lvsform runs itself.
/// Host keys are always checked: whoever answers for a director is given its IPVS table.
pub(super) fn director_ssh(
    reader: &mut Reader,
    block: &Block,
    dir: &Path,
    defaults: &SshLayer,
) -> Option<RemoteDirectorMeta> {
    let body = &block.body;
    reader.check(body, "the director's ssh block", &SSH_DIRECTOR);
    let _ = reader.labels(block, &[]);
    let layer = ssh_layer(reader, body, dir, defaults.clone());
    let host = reader.get(body, "host", |v| {
        body::string(v).and_then(|h| {
            if is_host_name(&h) {
                Ok(h)
            } else {
                Err(Problem::new(format!(
                    "\"{}\" is not a host name or address",
                    h.escape_default()
                ))
                .help("host names hold letters, digits, `.` and `-`"))
            }
        })
    });
    let host = reader.require(host, body, "host", block, "\"10.1.0.1\"")?;
    let lvsform = reader
        .get(body, "lvsform", |v| {
            body::string(v).and_then(|path| {
                if is_command(&path) {
                    Ok(path)
                } else {
                    Err(Problem::new(format!("\"{}\" is not a command lvsform runs", path.escape_default()))
                        .help("write a path such as \"/usr/local/bin/lvsform\": letters, digits and `/._+-`"))
                }
            })
        })
        .map_or_else(|| "lvsform".to_string(), |s| s.value);
    Some(RemoteDirectorMeta {
        name: None,
        ssh: SshTarget {
            host: host.value,
            port: layer.port,
            user: layer.user,
            private_key: layer.private_key,
            agent: layer.agent,
            known_hosts: layer.known_hosts,
            sudo: layer.sudo,
            timeout: layer.timeout,
            strict_host_key_checking: true,
        },
        lvsform,
    })
}

/// A command name or path that goes into the remote command line as it is: nothing in it
/// a shell would read.
fn is_command(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 4096
        && !path.starts_with('-')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._+-".contains(c))
}

pub(super) fn is_host_name(name: &str) -> bool {
    name.parse::<IpAddr>().is_ok()
        || (!name.is_empty()
            && name.len() <= 253
            && !name.starts_with(['-', '.'])
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)))
}
