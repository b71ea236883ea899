//! Evaluating module instances: blocks become declarations (services, real servers,
//! director and SSH settings), each checked on its own. Checks across declarations are in
//! `build`.

mod director;
mod modules;
mod real_server;
mod service;
mod ssh;
mod values;
mod vrrp;

use super::body::{self, Problem, Reader, Schema, Spanned, block_span, keyword};
use super::eval::{Limits, Locals, Scope};
use super::files::{Module, Modules};
use super::value::{Map, suggest, type_name};
use super::vars::{self, Declaration};
use super::{Depool, Inputs, RemoteDirectorMeta, expand_path};
use crate::address::Address;
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
use service::family_name;
use ssh::{SshLayer, root_ssh, ssh_block};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;
use values::{depool, fwmark, list_of, netmask};

/// Everything the configuration declares, before cross-checks.
#[derive(Default)]
pub struct Declared {
    pub services: Vec<DeclaredService>,
    /// In declared order; one unnamed at most, or named ones.
    pub directors: Vec<DeclaredDirector>,
    pub parallelism: usize,
    /// The top-level `vrrp` block, with where it is written.
    pub vrrp: Option<(crate::keepalived::Vrrp, Location)>,
}

pub struct DeclaredService {
    pub address: Address,
    pub key: ServiceKey,
    /// Where the identity (vip/port or fwmark) is written.
    pub location: Location,
    pub service: Service,
    /// Addresses that DR/TUN hosts and the director hold for this service.
    pub vips: Vec<IpAddr>,
    pub drain: Duration,
    pub prevent_destroy: bool,
    pub max_depool: Depool,
    /// `directors = [...]`: the named directors that serve it (default: every one).
    pub directors: Option<(Vec<String>, Location)>,
    pub servers: Vec<DeclaredServer>,
    pub health_check: Option<crate::keepalived::HealthCheck>,
    pub probe: Option<crate::probe::Probe>,
}

pub struct DeclaredServer {
    pub address: Address,
    pub key: DestinationKey,
    pub location: Location,
    pub forwarding: Forwarding,
    /// The SSH target when lvsform manages the host.
    pub ssh: Option<SshTarget>,
    pub manage_firewall: bool,
}

pub struct DeclaredDirector {
    /// The label of `director "NAME"`; none for the unlabeled block.
    pub name: Option<String>,
    pub interface: Option<String>,
    pub dip: Option<IpAddr>,
    pub sysctls: BTreeMap<String, String>,
    pub timeouts: Option<Timeouts>,
    pub ignore_vips: Vec<ipnet::IpNet>,
    pub ignore_fwmarks: Vec<u32>,
    pub sync_daemons: BTreeSet<SyncDaemon>,
    pub remote: Option<RemoteDirectorMeta>,
    pub keepalived: crate::keepalived::Files,
    /// `vrrp { priority }`, with where it is written.
    pub vrrp_priority: Option<(u8, Location)>,
    /// Where the block is written.
    pub location: Location,
}

const ROOT_BLOCKS: &[&str] = &[
    "variable",
    "locals",
    "director",
    "ssh",
    "vrrp",
    "virtual_server",
    "module",
];
const MODULE_BLOCKS: &[&str] = &["variable", "locals", "virtual_server", "module"];

const DEFAULT_PARALLELISM: usize = 16;

pub fn decode(
    modules: &Modules,
    inputs: &Inputs,
    on_remote: &(dyn Fn(bool, &RemoteDirectorMeta) + Sync),
    diags: &mut Diagnostics,
) -> Option<Declared> {
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
    let limits = Limits::default();
    let mut decoder = Decoder {
        modules,
        ssh: SshLayer::default(),
        declared,
        diags,
        limits: &limits,
        instances: 0,
        on_remote,
    };
    decoder.instance(0, None, &values);
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

struct Decoder<'m, 'd> {
    modules: &'m Modules,
    ssh: SshLayer,
    declared: Declared,
    diags: &'d mut Diagnostics,
    /// Shared by every module instance: what the whole configuration may cost.
    limits: &'m Limits,
    /// Module instances decoded so far.
    instances: usize,
    /// Told of a remote director as soon as its block is read.
    on_remote: &'m (dyn Fn(bool, &RemoteDirectorMeta) + Sync),
}

/// What a real server takes from its service.
struct ServiceContext {
    key: ServiceKey,
    port: u16,
    mode: Mode,
}

/// One instance of a `for_each` block: its key and `each.value`.
type Instance = Option<(String, Value)>;

impl<'m> Decoder<'m, '_> {
    /// Decodes one module instance: `parent` is its address (`None` for the root,
    /// `module.api` for a module), `values` its variables.
    fn instance(&mut self, index: usize, parent: Option<&Address>, values: &Map) {
        let module = &self.modules.modules[index];
        let is_root = parent.is_none();
        let locals = self.locals(module);
        if is_root {
            // Real servers anywhere take these defaults, so they are read first.
            self.ssh = root_ssh(module, values, &locals, &mut self.declared, self.diags);
            // Then the director: a remote one is reached while the rest is evaluated.
            for file in &module.files {
                let scope = Scope::new(&file.source, values, &locals);
                for block in file
                    .body
                    .blocks()
                    .filter(|b| b.ident.as_str() == "director")
                {
                    self.director(&scope, block);
                }
                for block in file.body.blocks().filter(|b| b.ident.as_str() == "vrrp") {
                    let mut reader = Reader::new(&scope, self.diags);
                    let location = Location {
                        file: scope.file.clone(),
                        span: block_span(block),
                    };
                    if self.declared.vrrp.is_some() {
                        reader
                            .error(block_span(block), "only one `vrrp` block is allowed")
                            .help =
                            Some("the directors share one VRRP instance: keep one block".into());
                    } else if let Some(vrrp) = vrrp::vrrp(&mut reader, block) {
                        self.declared.vrrp = Some((vrrp, location));
                    }
                }
            }
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
                    "virtual_server" => self.virtual_servers(&scope, &module.dir, block, parent),
                    "module" => {
                        if let Some(&called) = module.calls.get(&(file_index, block_index)) {
                            self.module(&scope, block, called, parent);
                        }
                    }
                    _ => {} // variable, locals, ssh, director and vrrp are read before
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
        Locals::new(definitions, self.limits)
    }
}
