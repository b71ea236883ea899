//! Evaluating module instances: blocks become declarations (services, real servers,
//! director and SSH settings), each checked on its own. Checks across declarations are in
//! `build`.

use super::body::{self, Problem, Reader, Schema, Spanned, block_span, keyword};
use super::eval::{Locals, Scope};
use super::files::{Module, Modules};
use super::value::{Map, suggest};
use super::vars::{self, Declaration};
use super::{Depool, Inputs, expand_path};
use crate::defaults;
use crate::diag::{Diag, Diagnostics, Location};
use crate::host::SshTarget;
use crate::model::{
    Destination, DestinationKey, Family, Forwarding, IpNetmask, Mode, Persistence, Protocol,
    Scheduler, SchedulerFlag, Service, ServiceKey, ServiceSettings, SyncDaemon, SyncState,
    Timeouts, Tunnel, TunnelChecksum, TunnelType,
};
use hcl::Value;
use hcl::edit::Span;
use hcl::edit::structure::{Block, Body, Structure};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

/// Everything the configuration declares, before cross-checks.
#[derive(Default)]
pub struct Declared {
    pub services: Vec<DeclaredService>,
    pub director: Option<DeclaredDirector>,
    pub parallelism: usize,
}

pub struct DeclaredService {
    pub address: String,
    pub key: ServiceKey,
    /// Where the identity (vip/port or fwmark) is written.
    pub location: Location,
    pub service: Service,
    /// Addresses that DR/TUN hosts and the director hold for this service.
    pub vips: Vec<IpAddr>,
    pub drain: Duration,
    pub prevent_destroy: bool,
    pub max_depool: Depool,
    pub servers: Vec<DeclaredServer>,
}

pub struct DeclaredServer {
    pub address: String,
    pub key: DestinationKey,
    pub location: Location,
    pub forwarding: Forwarding,
    /// The SSH target when lvsform manages the host.
    pub ssh: Option<SshTarget>,
    pub manage_firewall: bool,
}

pub struct DeclaredDirector {
    pub interface: Option<String>,
    pub dip: Option<IpAddr>,
    pub sysctls: BTreeMap<String, String>,
    pub timeouts: Option<Timeouts>,
    pub ignore_vips: Vec<ipnet::IpNet>,
    pub ignore_fwmarks: Vec<u32>,
    pub sync_daemons: BTreeSet<SyncDaemon>,
}

const ROOT_BLOCKS: &[&str] = &[
    "variable",
    "locals",
    "director",
    "ssh",
    "virtual_server",
    "module",
];
const MODULE_BLOCKS: &[&str] = &["variable", "locals", "virtual_server", "module"];

const DIRECTOR: Schema = Schema {
    attributes: &["interface", "dip", "sysctl"],
    blocks: &["timeouts", "ignore", "sync_daemon"],
};
const TIMEOUTS: Schema = Schema {
    attributes: &["tcp", "tcp_fin", "udp"],
    blocks: &[],
};
const IGNORE: Schema = Schema {
    attributes: &["vips", "fwmarks"],
    blocks: &[],
};
const SYNC_DAEMON: Schema = Schema {
    attributes: &["state", "interface", "syncid"],
    blocks: &[],
};
const SSH_ROOT: Schema = Schema {
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
const SSH_SERVER: Schema = Schema {
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
const VIRTUAL_SERVER: Schema = Schema {
    attributes: &[
        "protocol",
        "vip",
        "port",
        "fwmark",
        "vips",
        "scheduler",
        "scheduler_flags",
        "mode",
        "one_packet",
        "drain",
        "prevent_destroy",
        "max_depool",
        "for_each",
    ],
    blocks: &["persistence", "real_server"],
};
const PERSISTENCE: Schema = Schema {
    attributes: &["timeout", "netmask", "engine"],
    blocks: &[],
};
const REAL_SERVER: Schema = Schema {
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
const TUNNEL: Schema = Schema {
    attributes: &["type", "port", "checksum"],
    blocks: &[],
};
const DEFAULT_PARALLELISM: usize = 16;

/// SSH settings as layered: built-in defaults, then the root `ssh` block, then a server's.
#[derive(Clone)]
struct SshLayer {
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

pub fn decode(modules: &Modules, inputs: &Inputs, diags: &mut Diagnostics) -> Option<Declared> {
    let root = &modules.modules[0];
    let declarations = declarations(root, diags);
    let values = vars::resolve(&declarations, &root.dir, &inputs.vars, &inputs.env, diags);
    if values.len() != declarations.len() {
        // A variable without a usable value: every use of it would fail again.
        return None;
    }
    let declared = Declared {
        parallelism: DEFAULT_PARALLELISM,
        ..Declared::default()
    };
    let mut decoder = Decoder {
        modules,
        ssh: SshLayer::default(),
        declared,
        diags,
    };
    decoder.instance(0, "", &values);
    Some(decoder.declared)
}

fn declarations<'m>(module: &'m Module, diags: &mut Diagnostics) -> Vec<Declaration<'m>> {
    let mut out: Vec<Declaration> = Vec::new();
    for file in &module.files {
        for block in file
            .body
            .blocks()
            .filter(|b| b.ident.as_str() == "variable")
        {
            if let Some(decl) = vars::declare(block, &file.source, diags) {
                if out.iter().any(|d| d.name == decl.name) {
                    diags.push(
                        Diag::error(format!("variable `{}` is declared twice", decl.name))
                            .at(&file.source, block_span(block))
                            .help("remove one of the two declarations"),
                    );
                } else {
                    out.push(decl);
                }
            }
        }
    }
    out
}

/// The root `ssh` block, evaluated in the root scope.
fn root_ssh(
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

fn ssh_layer(reader: &mut Reader, body: &Body, dir: &Path, base: SshLayer) -> SshLayer {
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

fn is_user_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

struct Decoder<'m, 'd> {
    modules: &'m Modules,
    ssh: SshLayer,
    declared: Declared,
    diags: &'d mut Diagnostics,
}

/// One instance of a `for_each` block: its key and `each.value`.
type Instance = Option<(String, Value)>;

impl<'m> Decoder<'m, '_> {
    /// Decodes one module instance: `prefix` is its address (`""` for the root,
    /// `module.api.` for a module), `values` its variables.
    fn instance(&mut self, index: usize, prefix: &str, values: &Map) {
        let module = &self.modules.modules[index];
        let is_root = prefix.is_empty();
        let locals = self.locals(module);
        if is_root {
            // Real servers anywhere take these defaults, so they are read first.
            self.ssh = root_ssh(module, values, &locals, &mut self.declared, self.diags);
        }
        for (file_index, file) in module.files.iter().enumerate() {
            let scope = Scope::new(&file.source, values, &locals);
            if file_index == 0 {
                scope.evaluate_all_locals(&mut |d| self.diags.push(d));
            }
            for (block_index, structure) in file.body.iter().enumerate() {
                let block = match structure {
                    Structure::Block(block) => block,
                    Structure::Attribute(attr) => {
                        let name = attr.key.as_str();
                        let span = attr.key.span().unwrap_or(0..0);
                        self.diags.push(
                            Diag::error(format!("unexpected attribute `{name}` at the top level"))
                                .at(&file.source, span)
                                .help("attributes belong inside a block; values you want to reuse go in a `locals` block"),
                        );
                        continue;
                    }
                };
                let allowed = if is_root { ROOT_BLOCKS } else { MODULE_BLOCKS };
                let kind = block.ident.as_str();
                if !allowed.contains(&kind) {
                    let help = if ROOT_BLOCKS.contains(&kind) {
                        format!("`{kind}` is set once, in the root configuration, not in a module")
                    } else if let Some(near) = suggest(kind, allowed.iter().copied()) {
                        format!("did you mean `{near}`?")
                    } else {
                        format!("allowed blocks: {}", allowed.join(", "))
                    };
                    self.diags.push(
                        Diag::error(format!("unknown block `{kind}`"))
                            .at(&file.source, block_span(block))
                            .label("not allowed here")
                            .help(help),
                    );
                    continue;
                }
                match kind {
                    "director" => self.director(&scope, block),
                    "virtual_server" => self.virtual_servers(&scope, &module.dir, block, prefix),
                    "module" => {
                        if let Some(&called) = module.calls.get(&(file_index, block_index)) {
                            self.module(&scope, block, called, prefix);
                        }
                    }
                    _ => {} // variable, locals and ssh are read before
                }
            }
        }
    }

    fn locals(&mut self, module: &'m Module) -> Locals<'m> {
        let mut definitions = HashMap::new();
        for file in &module.files {
            for block in file.body.blocks().filter(|b| b.ident.as_str() == "locals") {
                if !block.labels.is_empty() {
                    self.diags.push(
                        Diag::error("a `locals` block takes no labels")
                            .at(&file.source, block_span(block))
                            .help("write it as: locals { name = value }"),
                    );
                }
                for structure in block.body.iter() {
                    match structure {
                        Structure::Attribute(attr) => {
                            let name = attr.key.as_str().to_string();
                            match definitions.entry(name) {
                                Entry::Occupied(entry) => self.diags.push(
                                    Diag::error(format!(
                                        "local value `{}` is defined twice",
                                        entry.key()
                                    ))
                                    .at(&file.source, attr.key.span().unwrap_or(0..0))
                                    .help("each local name may be defined once per module"),
                                ),
                                Entry::Vacant(entry) => {
                                    entry.insert((&attr.value, file.source.clone()));
                                }
                            }
                        }
                        Structure::Block(inner) => self.diags.push(
                            Diag::error("a `locals` block holds only attributes")
                                .at(&file.source, block_span(inner))
                                .help("write each local as name = value"),
                        ),
                    }
                }
            }
        }
        Locals::new(definitions)
    }

    /// The name label of a block and its `for_each` instances.
    fn named_instances(&mut self, scope: &Scope, block: &Block) -> Option<(String, Vec<Instance>)> {
        let name = Reader::new(scope, self.diags).labels(block, &["name"])?[0].to_string();
        Some((name, self.instances(scope, block)?))
    }

    /// `for_each` instances of a block: one `None` without `for_each`; a map gives its
    /// entries in key order, a list of strings gives each string as key and value.
    fn instances(&mut self, scope: &Scope, block: &Block) -> Option<Vec<Instance>> {
        let mut reader = Reader::new(scope, self.diags);
        let Some(attr) = block.body.get_attribute("for_each") else {
            return Some(vec![None]);
        };
        let Spanned { value, span } = reader.eval_attribute(attr)?;
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Some(entries.into_iter().map(Some).collect())
            }
            Value::Array(items) => {
                let mut out = Vec::new();
                let mut seen = std::collections::HashSet::new();
                for item in items {
                    let key = match item {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        other => {
                            reader
                                .error(
                                    span,
                                    format!(
                                        "`for_each` over a list needs strings, found a {}",
                                        super::value::type_name(&other)
                                    ),
                                )
                                .help = Some(
                                "use a map (each.key, each.value) or a list of strings".into(),
                            );
                            return None;
                        }
                    };
                    if !seen.insert(key.clone()) {
                        reader
                            .error(
                                span.clone(),
                                format!("`for_each` list holds \"{key}\" twice"),
                            )
                            .help = Some("each instance needs a unique key".into());
                        return None;
                    }
                    out.push(Some((key.clone(), Value::String(key))));
                }
                out.sort_by(|a, b| a.as_ref().map(|x| &x.0).cmp(&b.as_ref().map(|x| &x.0)));
                Some(out)
            }
            other => {
                reader
                    .error(
                        span,
                        format!(
                            "`for_each` needs a map or a list of strings, found a {}",
                            super::value::type_name(&other)
                        ),
                    )
                    .help = Some("use a map (each.key, each.value) or a list of strings".into());
                None
            }
        }
    }

    fn module(&mut self, scope: &Scope, block: &Block, called: usize, prefix: &str) {
        let module = &self.modules.modules[called];
        let declarations = declarations(module, self.diags);
        let Some((name, instances)) = self.named_instances(scope, block) else {
            return;
        };
        for instance in instances {
            let scope = &scope.for_instance(instance.as_ref().map(|(k, v)| (k.as_str(), v)));
            let address = format!("{prefix}module.{name}{}", instance_suffix(&instance));
            let mut reader = Reader::new(scope, self.diags);
            let mut values = Map::new();
            let mut complete = true;
            for attr in block.body.attributes() {
                let input = attr.key.as_str();
                if input == "source" || input == "for_each" {
                    continue;
                }
                let Some(decl) = declarations.iter().find(|d| d.name == input) else {
                    let help = match suggest(input, declarations.iter().map(|d| d.name.as_str())) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None if declarations.is_empty() => {
                            "this module declares no variables".to_string()
                        }
                        None => format!(
                            "the module's variables: {}",
                            declarations
                                .iter()
                                .map(|d| d.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    let span = attr.key.span().unwrap_or(0..0);
                    reader
                        .error(span, format!("unknown input `{input}` for module `{name}`"))
                        .help = Some(help);
                    complete = false;
                    continue;
                };
                let Some(Spanned { value, span }) = reader.eval_attribute(attr) else {
                    complete = false;
                    continue;
                };
                match vars::convert(value, &decl.ty) {
                    Ok(value) => {
                        values.insert(input.to_string(), value);
                    }
                    Err(problem) => {
                        reader
                            .error(
                                span,
                                format!("wrong type for module input `{input}`: {problem}"),
                            )
                            .help = Some(format!("the module declares `{input}` as {}", decl.ty));
                        complete = false;
                    }
                }
            }
            for decl in &declarations {
                if values.contains_key(&decl.name) || block.body.get_attribute(&decl.name).is_some()
                {
                    continue;
                }
                match &decl.default {
                    Some(default) => {
                        values.insert(decl.name.clone(), default.clone());
                    }
                    None => {
                        reader
                            .error(
                                block_span(block),
                                format!("module `{name}` needs the input `{}`", decl.name),
                            )
                            .help = Some(format!(
                            "add {} = … to the module block (declared as {})",
                            decl.name, decl.ty
                        ));
                        complete = false;
                    }
                }
            }
            if complete {
                self.instance(called, &format!("{address}."), &values);
            }
        }
    }

    fn director(&mut self, scope: &Scope, block: &Block) {
        let mut reader = Reader::new(scope, self.diags);
        if self.declared.director.is_some() {
            reader
                .error(block_span(block), "only one `director` block is allowed")
                .help = Some("merge the two blocks".into());
            return;
        }
        reader.check(&block.body, "the director block", &DIRECTOR);
        let _ = reader.labels(block, &[]);
        let body = &block.body;
        let interface = reader
            .get(body, "interface", body::interface_name)
            .map(|s| s.value);
        let dip = reader.get(body, "dip", body::ip_address).map(|s| s.value);
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
                                    .error(
                                        span.clone(),
                                        format!("invalid sysctl: {}", problem.message),
                                    )
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
                            format!(
                                "`sysctl` must be a map, found a {}",
                                super::value::type_name(&other)
                            ),
                        )
                        .help =
                        Some("write sysctl = { \"net.ipv4.vs.expire_nodest_conn\" = 1 }".into());
                }
            }
        }
        let mut director = DeclaredDirector {
            interface,
            dip,
            sysctls,
            timeouts: None,
            ignore_vips: Vec::new(),
            ignore_fwmarks: Vec::new(),
            sync_daemons: BTreeSet::new(),
        };
        for inner in body.blocks() {
            let _ = reader.labels(inner, &[]);
            let b = &inner.body;
            match inner.ident.as_str() {
                "timeouts" => {
                    reader.check(b, "the timeouts block", &TIMEOUTS);
                    // Unset timeouts take the kernel's defaults (ipvsadm -L --timeout).
                    let mut seconds = |name: &str, default: u32| {
                        reader
                            .get(b, name, |v| {
                                body::integer(1, i64::from(i32::MAX))(v)
                                    .map_err(|p| p.help("timeouts are whole seconds, at least 1"))
                            })
                            .map_or(default, |s| s.value as u32)
                    };
                    director.timeouts = Some(Timeouts {
                        tcp: seconds("tcp", defaults::KERNEL_TIMEOUTS.tcp),
                        tcp_fin: seconds("tcp_fin", defaults::KERNEL_TIMEOUTS.tcp_fin),
                        udp: seconds("udp", defaults::KERNEL_TIMEOUTS.udp),
                    });
                }
                "ignore" => {
                    reader.check(b, "the ignore block", &IGNORE);
                    if let Some(list) = reader.get(b, "vips", |v| list_of(v, body::cidr)) {
                        director.ignore_vips = list.value;
                    }
                    if let Some(list) = reader.get(b, "fwmarks", |v| list_of(v, fwmark)) {
                        director.ignore_fwmarks = list.value;
                    }
                }
                "sync_daemon" => {
                    reader.check(b, "the sync_daemon block", &SYNC_DAEMON);
                    let state =
                        reader.get(b, "state", keyword(SyncState::ALL, "sync daemon state"));
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
                        if director
                            .sync_daemons
                            .iter()
                            .any(|d| d.state == daemon.state)
                        {
                            reader
                                .error(
                                    block_span(inner),
                                    format!("two {} sync daemons", daemon.state.as_str()),
                                )
                                .help = Some(
                                "the kernel runs at most one master and one backup sync daemon"
                                    .into(),
                            );
                        }
                        director.sync_daemons.insert(daemon);
                    }
                }
                _ => {} // reported by check()
            }
        }
        self.declared.director = Some(director);
    }

    fn virtual_servers(&mut self, scope: &Scope, dir: &Path, block: &Block, prefix: &str) {
        Reader::new(scope, self.diags).check(
            &block.body,
            "a virtual_server block",
            &VIRTUAL_SERVER,
        );
        let Some((name, instances)) = self.named_instances(scope, block) else {
            return;
        };
        for instance in instances {
            let scope = &scope.for_instance(instance.as_ref().map(|(k, v)| (k.as_str(), v)));
            let address = format!(
                "{prefix}virtual_server.{name}{}",
                instance_suffix(&instance)
            );
            if let Some(service) = self.virtual_server(scope, dir, block, address) {
                self.declared.services.push(service);
            }
        }
    }

    fn virtual_server(
        &mut self,
        scope: &Scope,
        dir: &Path,
        block: &Block,
        address: String,
    ) -> Option<DeclaredService> {
        let mut reader = Reader::new(scope, self.diags);
        let body = &block.body;
        let protocol = reader.get(body, "protocol", keyword(Protocol::ALL, "protocol"));
        let vip = reader.get(body, "vip", body::ip_address);
        let persistence = persistence(&mut reader, body);
        let min_port = if persistence.is_some() { 0 } else { 1 };
        let port = reader.get(body, "port", |v| {
            body::integer(min_port, 65535)(v).map_err(|p| {
                p.help("ports are 1..65535; port 0 (all ports) only for a persistent service")
            })
        });
        let fwmark_value = reader.get(body, "fwmark", fwmark);
        let vips = reader.get(body, "vips", |v| list_of(v, body::ip_address));
        let scheduler = reader
            .get(body, "scheduler", keyword(Scheduler::ALL, "scheduler"))
            .map_or(defaults::SCHEDULER, |s| s.value);
        let flags = scheduler_flags(&mut reader, body, scheduler);
        let mode = reader
            .get(body, "mode", keyword(Mode::ALL, "mode"))
            .map_or(defaults::MODE, |m| m.value);
        let one_packet = reader.get(body, "one_packet", body::boolean);
        let drain = reader
            .get(body, "drain", body::duration)
            .map_or(defaults::DRAIN, |d| d.value);
        let prevent_destroy = reader
            .get(body, "prevent_destroy", body::boolean)
            .is_some_and(|b| b.value);
        let max_depool = reader
            .get(body, "max_depool", depool)
            .map_or(Depool::Percent(100), |d| d.value);

        let header = block_span(block);
        let (key, key_span, service_port) = if let Some(mark) = fwmark_value {
            for name in ["protocol", "vip", "port"] {
                if let Some(attr) = body.get_attribute(name) {
                    let span = attr.key.span().unwrap_or(0..0);
                    reader.error(span, format!("`{name}` cannot be used with `fwmark`")).help =
                        Some("a fwmark service matches packets by their firewall mark, not by protocol, address and port".into());
                }
            }
            // The family of a fwmark service follows its real servers (IPv4 when it has none).
            let family = first_server_family(scope, body).unwrap_or(Family::Ipv4);
            (
                ServiceKey::Fwmark {
                    mark: mark.value,
                    family,
                },
                mark.span,
                0,
            )
        } else {
            if let Some(vips) = &vips {
                reader
                    .error(vips.span.clone(), "`vips` is for fwmark services")
                    .help = Some("a service with `vip` holds that one address".into());
            }
            let vip = reader.require(vip, body, "vip", block, "\"203.0.113.10\"");
            let port = reader.require(port, body, "port", block, "80");
            let (vip, port) = (vip?, port?);
            let key = ServiceKey::Address {
                protocol: protocol.map_or(Protocol::Tcp, |p| p.value),
                vip: vip.value,
                port: port.value as u16,
            };
            (key, vip.span, port.value as u16)
        };
        if let Some(op) = &one_packet
            && op.value
            && matches!(
                key,
                ServiceKey::Address {
                    protocol: Protocol::Tcp | Protocol::Sctp,
                    ..
                }
            )
        {
            reader
                .error(
                    op.span.clone(),
                    "`one_packet` scheduling is for UDP services",
                )
                .help = Some("remove it, or set protocol = \"udp\"".into());
        }
        if persistence.is_some() && matches!(scheduler, Scheduler::Sh | Scheduler::Dh) {
            reader.warning(header.clone(), format!("`{scheduler}` already sends a client to one server; persistence adds little"))
                .help = Some("drop the persistence block, or use a non-hashing scheduler".into());
        }
        let persistence = persistence.map(|p| match (key.family(), p.netmask) {
            (Family::Ipv4, IpNetmask::V4(_)) | (Family::Ipv6, IpNetmask::V6(_)) => p,
            (Family::Ipv6, IpNetmask::V4(mask)) => {
                if mask != Ipv4Addr::BROADCAST {
                    reader
                        .error(
                            header.clone(),
                            "an IPv6 service takes a prefix length as persistence netmask",
                        )
                        .help = Some("write e.g. netmask = 64".into());
                }
                Persistence {
                    netmask: IpNetmask::V6(128),
                    ..p
                }
            }
            (Family::Ipv4, IpNetmask::V6(_)) => {
                reader
                    .error(
                        header.clone(),
                        "an IPv4 service takes a dotted netmask as persistence netmask",
                    )
                    .help = Some("write e.g. netmask = \"255.255.255.0\"".into());
                p
            }
        });
        let service_vips: Vec<IpAddr> = match key {
            ServiceKey::Address { vip, .. } => vec![vip],
            ServiceKey::Fwmark { .. } => vips.map(|v| v.value).unwrap_or_default(),
        };
        let mut service = DeclaredService {
            address,
            key,
            location: Location {
                file: scope.file.clone(),
                span: key_span,
            },
            service: Service {
                settings: ServiceSettings {
                    scheduler,
                    flags,
                    persistence,
                    one_packet: one_packet.is_some_and(|o| o.value),
                },
                destinations: BTreeMap::new(),
            },
            vips: service_vips,
            drain,
            prevent_destroy,
            max_depool,
            servers: Vec::new(),
        };

        let context = ServiceContext {
            key,
            port: service_port,
            mode,
        };
        for rs_block in body.blocks().filter(|b| b.ident.as_str() == "real_server") {
            self.real_servers(scope, dir, rs_block, &context, &mut service);
        }
        let weights: Vec<u32> = service
            .service
            .destinations
            .values()
            .map(|d| d.weight)
            .collect();
        if !weights.is_empty() && weights.iter().all(|w| *w == 0) {
            Reader::new(scope, self.diags).warning(header, "every real server of this service has weight 0: it will accept no new connections")
                .help = Some("give at least one real server a weight above 0".into());
        }
        Some(service)
    }

    fn real_servers(
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
            let address = format!(
                "{}.real_server.{name}{}",
                service.address,
                instance_suffix(&instance)
            );
            self.real_server(scope, dir, block, context, address, service);
        }
    }

    fn real_server(
        &mut self,
        scope: &Scope,
        dir: &Path,
        block: &Block,
        context: &ServiceContext,
        address: String,
        service: &mut DeclaredService,
    ) {
        let mut reader = Reader::new(scope, self.diags);
        let body = &block.body;
        let rip = reader.get(body, "address", body::ip_address);
        let Some(rip) = reader.require(rip, body, "address", block, "\"10.1.0.11\"") else {
            return;
        };
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

        if let Some(port) = &port {
            let mapped = port.value as u16 != context.port;
            if fwmark && port.value != 0 {
                reader.error(port.span.clone(), "a fwmark service cannot map ports").help =
                    Some("remove `port`: real servers of a fwmark service receive the port the client used".into());
            } else if mapped && mode != Mode::Nat {
                reader.error(port.span.clone(), format!("{} real servers must use the service port {}", mode.as_str().to_uppercase(), context.port))
                    .help = Some("only NAT can map ports: DR and TUN deliver the packet unchanged; remove `port` or use mode = \"nat\"".into());
            }
        }
        if let (Some(upper), Some(lower)) = (&upper, &lower)
            && upper.value != 0
            && lower.value > upper.value
        {
            reader.error(lower.span.clone(), format!("lower_threshold {} is above upper_threshold {}", lower.value, upper.value))
                .help = Some("the server is re-enabled below the lower threshold, so it must not exceed the upper one".into());
        }
        let service_family = context.key.family();
        let rip_family = Family::of(&rip.value);
        if rip_family != service_family && mode != Mode::Tun {
            let (s, r) = (family_name(service_family), family_name(rip_family));
            reader
                .error(
                    rip.span.clone(),
                    format!("an {r} real server in an {s} service"),
                )
                .help = Some(
                "only TUN can forward between address families; use addresses of one family".into(),
            );
        }
        let tunnel = tunnel(&mut reader, body, mode);
        if let Some(mf) = &manage_firewall
            && mode != Mode::Tun
        {
            reader
                .error(mf.span.clone(), "`manage_firewall` is for TUN real servers")
                .help =
                Some("only TUN needs IP-in-IP let through the real server's firewall".into());
        }
        let managed = manage.as_ref().map_or(mode != Mode::Nat, |m| m.value);
        if let Some(m) = &manage
            && !m.value
            && mode != Mode::Nat
        {
            reader.warning(m.span.clone(), format!("{} real server with manage = false: prepare its host yourself", mode.as_str().to_uppercase()))
                .help = Some("the host needs the VIP (on lo for DR, on a tunnel for TUN) and the ARP or rp_filter sysctls that go with it; lvsform will not check them".into());
        }
        let ssh = ssh_block(&mut reader, body, dir, &self.ssh, &rip.value);
        let dest_port = port.map_or(context.port, |p| p.value as u16);
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
                weight,
                upper_threshold: upper.map_or(0, |u| u.value as u32),
                lower_threshold: lower.map_or(0, |l| l.value as u32),
            },
        );
        service.servers.push(DeclaredServer {
            address,
            key,
            location: Location {
                file: scope.file.clone(),
                span: rip.span,
            },
            forwarding,
            ssh: managed.then_some(ssh),
            manage_firewall: manage_firewall.is_some_and(|m| m.value),
        });
    }
}

struct ServiceContext {
    key: ServiceKey,
    port: u16,
    mode: Mode,
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

fn instance_suffix(instance: &Instance) -> String {
    match instance {
        Some((key, _)) => format!("[\"{}\"]", key.escape_default()),
        None => String::new(),
    }
}

/// The family of the first real server whose address is a literal or evaluates cleanly.
fn first_server_family(scope: &Scope, body: &Body) -> Option<Family> {
    let block = body.blocks().find(|b| b.ident.as_str() == "real_server")?;
    let attr = block.body.get_attribute("address")?;
    let value = match scope.eval(&attr.value) {
        Ok(value) => value,
        Err(_) => return None,
    };
    value
        .as_str()?
        .parse::<IpAddr>()
        .ok()
        .map(|a| Family::of(&a))
}

fn fwmark(value: &Value) -> Result<u32, Problem> {
    body::integer(1, i64::from(u32::MAX))(value).map(|n| n as u32)
}

fn list_of<T>(
    value: &Value,
    item: impl Fn(&Value) -> Result<T, Problem>,
) -> Result<Vec<T>, Problem> {
    match value {
        Value::Array(items) => items.iter().map(item).collect(),
        other => Err(Problem::new(format!(
            "expected a list, found a {}",
            super::value::type_name(other)
        ))),
    }
}

fn depool(value: &Value) -> Result<Depool, Problem> {
    let problem = || {
        Problem::new(format!(
            "{} is not a share or a count",
            body::describe(value)
        ))
        .help("write a percentage like \"50%\" or a number of servers like 2")
    };
    match value {
        Value::String(s) if s.ends_with('%') => match s[..s.len() - 1].trim().parse::<u8>() {
            Ok(p) if p <= 100 => Ok(Depool::Percent(p)),
            _ => Err(problem()),
        },
        other => body::integer(0, i64::from(u32::MAX))(other)
            .map(|n| Depool::Count(n as u32))
            .map_err(|_| problem()),
    }
}

fn scheduler_flags(
    reader: &mut Reader,
    body: &Body,
    scheduler: Scheduler,
) -> BTreeSet<SchedulerFlag> {
    let mut flags = BTreeSet::new();
    let Some(list) = reader.get(body, "scheduler_flags", body::string_list) else {
        return flags;
    };
    const NAMES: &[(&str, SchedulerFlag)] = &[
        ("sh-fallback", SchedulerFlag::Fallback),
        ("sh-port", SchedulerFlag::Port),
        ("mh-fallback", SchedulerFlag::Fallback),
        ("mh-port", SchedulerFlag::Port),
    ];
    for name in list.value {
        match keyword(NAMES, "scheduler flag")(&Value::String(name.clone())) {
            Ok(flag) if matches!(scheduler, Scheduler::Sh | Scheduler::Mh) => {
                flags.insert(flag);
            }
            Ok(_) => {
                reader
                    .error(
                        list.span.clone(),
                        format!(
                            "scheduler flag \"{name}\" is not valid for the `{scheduler}` scheduler"
                        ),
                    )
                    .help = Some(
                    "the flags fallback and port exist only for the sh and mh schedulers".into(),
                );
            }
            Err(problem) => {
                reader
                    .error(
                        list.span.clone(),
                        format!("invalid `scheduler_flags`: {}", problem.message),
                    )
                    .help = problem.help;
            }
        }
    }
    flags
}

fn persistence(reader: &mut Reader, body: &Body) -> Option<Persistence> {
    let mut blocks = body.blocks().filter(|b| b.ident.as_str() == "persistence");
    let block = blocks.next()?;
    if let Some(extra) = blocks.next() {
        reader
            .error(block_span(extra), "only one `persistence` block is allowed")
            .help = Some("merge the two blocks".into());
    }
    reader.check(&block.body, "the persistence block", &PERSISTENCE);
    let _ = reader.labels(block, &[]);
    let b = &block.body;
    let timeout = reader
        .get(b, "timeout", |v| {
            body::integer(1, i64::from(u32::MAX))(v)
                .map_err(|p| p.help("a persistence timeout is at least 1 second"))
        })
        .map_or(300, |t| t.value as u32);
    let netmask = reader.get(b, "netmask", netmask).map(|n| n.value);
    let engine = reader
        .get(
            b,
            "engine",
            keyword(&[("sip", "sip")], "persistence engine"),
        )
        .map(|e| e.value.to_string());
    Some(Persistence {
        timeout,
        // The family is fixed by the VIP; `build` makes the default match it.
        netmask: netmask.unwrap_or(IpNetmask::V4(Ipv4Addr::BROADCAST)),
        engine,
    })
}

/// An IPv4 netmask (`255.255.255.0`) or an IPv6 prefix length (`64` or `"/64"`).
fn netmask(value: &Value) -> Result<IpNetmask, Problem> {
    let text = body::string(value)?;
    let bad = || {
        Problem::new(format!("\"{text}\" is not a netmask"))
            .help("write an IPv4 netmask like \"255.255.255.0\" or an IPv6 prefix length like 64")
    };
    if let Ok(mask) = text.parse::<Ipv4Addr>() {
        let bits = u32::from(mask);
        return if bits.leading_ones() + bits.trailing_zeros() == 32 {
            Ok(IpNetmask::V4(mask))
        } else {
            Err(bad())
        };
    }
    match text.trim_start_matches('/').parse::<u8>() {
        Ok(len) if (1..=128).contains(&len) => Ok(IpNetmask::V6(len)),
        _ => Err(bad()),
    }
}

fn tunnel(reader: &mut Reader, body: &Body, mode: Mode) -> Option<Tunnel> {
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

fn ssh_block(
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

fn is_host_name(name: &str) -> bool {
    name.parse::<IpAddr>().is_ok()
        || (!name.is_empty()
            && name.len() <= 253
            && !name.starts_with(['-', '.'])
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)))
}
