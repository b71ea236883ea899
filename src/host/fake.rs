//! An in-memory host for fast tests of the planner and of rollback: it holds facts, applies
//! changes the way the scripts do, and can fail any chosen change.

use super::{Host, HostApplyError, HostChange, HostError, HostFacts, firewall, script};

#[derive(Debug, Clone)]
pub struct FakeHost {
    pub name: String,
    pub facts: HostFacts,
    /// Changes applied so far, over the fake's lifetime.
    pub applied: usize,
    /// The change (counted like `applied`) that fails instead of taking effect.
    pub fail_at: Option<usize>,
    /// Fails every observation, as an unreachable host does.
    pub unreachable: bool,
    /// The change (counted like `applied`) during which the connection breaks: it takes
    /// effect, and the batch reports every change in doubt.
    pub stall_at: Option<usize>,
}

impl FakeHost {
    pub fn new(name: &str, facts: HostFacts) -> FakeHost {
        FakeHost {
            name: name.to_string(),
            facts,
            applied: 0,
            fail_at: None,
            unreachable: false,
            stall_at: None,
        }
    }

    fn change(&mut self, change: &HostChange) {
        let f = &mut self.facts;
        match change {
            HostChange::SetSysctl { name, value, .. } => {
                f.sysctls.insert(name.clone(), value.clone());
            }
            HostChange::AddAddress(a) => {
                f.addresses.insert(a.clone());
            }
            HostChange::DelAddress(a) => {
                f.addresses.remove(a);
            }
            // As in the kernel, a tunnel module brings its fallback device (down), and takes
            // it away again when unloaded.
            HostChange::LoadModule(m) => {
                f.modules.insert(m.clone());
                if let Some(link) = fallback_device(m) {
                    f.links.entry(link.to_string()).or_insert(false);
                }
            }
            HostChange::UnloadModule(m) => {
                f.modules.remove(m);
                if let Some(link) = fallback_device(m) {
                    f.links.remove(link);
                    f.addresses.retain(|a| a.interface != link);
                }
            }
            HostChange::LinkUp(l) => {
                f.links.insert(l.clone(), true);
            }
            HostChange::LinkDown(l) => {
                f.links.insert(l.clone(), false);
            }
            HostChange::WriteFile { path, content, .. } => {
                f.files.insert(path.clone(), content.clone());
            }
            HostChange::RemoveFile { path, .. } => {
                f.files.remove(path);
            }
            HostChange::EnableUnit => f.unit_enabled = true,
            HostChange::DisableUnit => f.unit_enabled = false,
            // As iptables -I INPUT 1: first after the policy.
            HostChange::AddFirewallRule => {
                let rules = f.iptables_input.get_or_insert_with(Default::default);
                if !rules.lines().any(|l| l == firewall::RULE) {
                    let mut lines: Vec<&str> = rules.lines().collect();
                    let first = lines.iter().take_while(|l| l.starts_with("-P")).count();
                    lines.insert(first, firewall::RULE);
                    *rules = lines.join("\n");
                }
            }
            HostChange::DelFirewallRule => {
                if let Some(rules) = &mut f.iptables_input {
                    let kept: Vec<&str> = rules.lines().filter(|l| *l != firewall::RULE).collect();
                    *rules = kept.join("\n");
                }
            }
        }
    }
}

fn fallback_device(module: &str) -> Option<&'static str> {
    match module {
        "ipip" => Some("tunl0"),
        "ip_gre" => Some("gre0"),
        "ip6_tunnel" => Some("ip6tnl0"),
        "ip6_gre" => Some("ip6gre0"),
        _ => None,
    }
}

impl Host for FakeHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn observe(&mut self) -> Result<HostFacts, HostError> {
        if self.unreachable {
            return Err(HostError::Connect {
                host: self.name.clone(),
                detail: "no answer (fake)".into(),
            });
        }
        Ok(self.facts.clone())
    }

    fn apply(&mut self, changes: &[HostChange]) -> Result<(), HostApplyError> {
        // The same validation as the real scripts: a fake never accepts what SSH would refuse.
        script::apply(changes).map_err(HostApplyError::refused)?;
        for (index, change) in changes.iter().enumerate() {
            if self.stall_at == Some(self.applied) {
                self.change(change);
                self.applied += 1;
                return Err(HostApplyError {
                    applied: 0,
                    unknown: changes.len(),
                    error: HostError::Ssh {
                        host: self.name.clone(),
                        detail: "connection lost (fake)".into(),
                    },
                });
            }
            if self.fail_at == Some(self.applied) {
                self.applied += 1;
                let error = HostError::Remote {
                    host: self.name.clone(),
                    step: Some(change.to_string()),
                    status: 1,
                    stderr: "injected failure".into(),
                };
                return Err(HostApplyError {
                    applied: index,
                    unknown: 0,
                    error,
                });
            }
            self.change(change);
            self.applied += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InterfaceAddress;

    #[test]
    fn applies_undoes_and_fails_on_purpose() {
        let mut host = FakeHost::new("10.1.0.11", HostFacts::default());
        let before = host.observe().unwrap();
        let changes = vec![
            HostChange::SetSysctl {
                name: "net.ipv4.conf.lo.arp_ignore".into(),
                value: "1".into(),
                before: Some("0".into()),
            },
            HostChange::AddAddress(InterfaceAddress::host(
                "lo",
                "203.0.113.10".parse().unwrap(),
            )),
            HostChange::LinkUp("tunl0".into()),
        ];
        host.fail_at = Some(2);
        let error = host.apply(&changes).unwrap_err();
        assert_eq!(error.applied, 2);
        let undo: Vec<HostChange> = changes[..error.applied]
            .iter()
            .rev()
            .map(HostChange::inverse)
            .collect();
        host.apply(&undo).unwrap();
        let mut after = host.observe().unwrap();
        // The sysctl did not exist before; its undo restores the recorded old value.
        assert_eq!(
            after
                .sysctls
                .remove("net.ipv4.conf.lo.arp_ignore")
                .as_deref(),
            Some("0")
        );
        assert_eq!(after, before);
        assert!(
            host.apply(&[HostChange::LoadModule("evil; reboot".into())])
                .is_err()
        );
    }
}
