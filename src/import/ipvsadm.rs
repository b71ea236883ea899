//! `import --from-ipvsadm FILE`: the services of an `ipvsadm -S` (or `-Sn`) rules file, as
//! `ipvsadm -R` would make them; a warning with its line for anything else.

use super::Imported;
use crate::diag::{Diag, SourceFile};
use crate::model::{
    Destination, DestinationKey, Family, Forwarding, IpNetmask, Persistence, Protocol, Scheduler,
    SchedulerFlag, Service, ServiceKey, ServiceSettings, Tunnel, TunnelChecksum, TunnelType,
};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

pub fn from_ipvsadm(path: &Path) -> Result<Imported, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = SourceFile::new(path.display().to_string(), text);
    let mut imported = Imported::default();
    for (index, line) in file.text().lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() || words[0].starts_with('#') {
            continue;
        }
        if let Err(problem) = rule(&words, &mut imported) {
            let warning = Diag::warning(problem).at(&file, file.line_span(index + 1));
            imported.warnings.push(warning);
        }
    }
    Ok(imported)
}

/// One rule: `-A` (a service) or `-a` (a real server).
fn rule(words: &[&str], imported: &mut Imported) -> Result<(), String> {
    let mut args = Args(words[1..].iter().copied().peekable());
    match words[0] {
        "-A" | "--add-service" => {
            let key = service_key(&mut args)?;
            let mut settings = ServiceSettings {
                scheduler: crate::defaults::SCHEDULER,
                flags: Default::default(),
                persistence: None,
                one_packet: false,
            };
            let mut netmask = None;
            let mut engine = None;
            while let Some(option) = args.next() {
                match option {
                    "-s" | "--scheduler" => {
                        let name = args.value(option)?;
                        settings.scheduler = Scheduler::parse(name).ok_or(format!(
                            "scheduler {name} is not one lvsform knows: not imported"
                        ))?;
                    }
                    "-p" | "--persistent" => {
                        let timeout = args
                            .0
                            .next_if(|t| t.parse::<u32>().is_ok())
                            .map_or(Ok(300), |t| t.parse());
                        settings.persistence = Some(Persistence {
                            timeout: timeout
                                .map_err(|_| "a bad persistence timeout".to_string())?,
                            netmask: IpNetmask::whole(Family::Ipv4),
                            engine: None,
                        });
                    }
                    "-M" | "--netmask" => netmask = Some(args.value(option)?.to_string()),
                    "--pe" => engine = Some(args.value(option)?.to_string()),
                    "-o" | "--ops" => settings.one_packet = true,
                    "-b" | "--sched-flags" => {
                        for flag in args.value(option)?.split(',') {
                            match flag.split_once('-').map(|(_, f)| f) {
                                Some("fallback") => settings.flags.insert(SchedulerFlag::Fallback),
                                Some("port") => settings.flags.insert(SchedulerFlag::Port),
                                _ => {
                                    return Err(format!(
                                        "scheduler flag {flag} has no equivalent in lvsform: not imported"
                                    ));
                                }
                            };
                        }
                    }
                    other => {
                        return Err(format!(
                            "option {other} has no equivalent in lvsform: the rule is not imported"
                        ));
                    }
                }
            }
            if let Some(p) = settings.persistence.as_mut() {
                p.engine = engine;
                p.netmask = match netmask {
                    Some(text) => IpNetmask::parse(key.family(), &text)
                        .ok_or(format!("netmask {text} is not one of the service's family"))?,
                    None => IpNetmask::whole(key.family()),
                };
            }
            let service = Service {
                settings,
                destinations: Default::default(),
            };
            if imported.services.insert(key, service).is_some() {
                return Err(format!("{key} is added twice: the last one is imported"));
            }
            Ok(())
        }
        "-a" | "--add-server" => {
            let key = service_key(&mut args)?;
            let mut server = None;
            let mut dest = Destination {
                forwarding: Forwarding::Dr,
                weight: 1,
                upper_threshold: 0,
                lower_threshold: 0,
            };
            let mut tunnel = Tunnel::default();
            while let Some(option) = args.next() {
                let mut number = |what: &str| -> Result<u32, String> {
                    let text = args.value(option)?;
                    text.parse()
                        .map_err(|_| format!("{what} {text} is not a number"))
                };
                match option {
                    "-r" | "--real-server" => {
                        server = Some(real_server(args.value(option)?, &key)?)
                    }
                    "-g" | "--gatewaying" => dest.forwarding = Forwarding::Dr,
                    "-m" | "--masquerading" => dest.forwarding = Forwarding::Nat,
                    "-i" | "--ipip" => dest.forwarding = Forwarding::Tun(Tunnel::default()),
                    "-w" | "--weight" => dest.weight = number("weight")?,
                    "-x" | "--u-threshold" => dest.upper_threshold = number("threshold")?,
                    "-y" | "--l-threshold" => dest.lower_threshold = number("threshold")?,
                    "--tun-type" => {
                        let kind = args.value(option)?;
                        tunnel.kind = TunnelType::parse(kind)
                            .ok_or(format!("tunnel type {kind} is not one lvsform knows"))?;
                    }
                    "--tun-port" => tunnel.port = number("tunnel port")? as u16,
                    "--tun-nocsum" => tunnel.checksum = TunnelChecksum::NoCsum,
                    "--tun-csum" => tunnel.checksum = TunnelChecksum::Csum,
                    "--tun-remcsum" => tunnel.checksum = TunnelChecksum::RemCsum,
                    other => {
                        return Err(format!(
                            "option {other} has no equivalent in lvsform: the rule is not imported"
                        ));
                    }
                }
            }
            if let Forwarding::Tun(_) = dest.forwarding {
                dest.forwarding = Forwarding::Tun(tunnel);
            }
            let server = server.ok_or("a real server rule needs -r ADDRESS:PORT")?;
            let service = imported.services.get_mut(&key).ok_or(format!(
                "{key} has no -A rule before its real servers: not imported"
            ))?;
            service.destinations.insert(server, dest);
            Ok(())
        }
        other => Err(format!(
            "{other} rules have no equivalent in lvsform: not imported"
        )),
    }
}

struct Args<'a, I: Iterator<Item = &'a str>>(std::iter::Peekable<I>);

impl<'a, I: Iterator<Item = &'a str>> Args<'a, I> {
    fn next(&mut self) -> Option<&'a str> {
        self.0.next()
    }

    fn value(&mut self, option: &str) -> Result<&'a str, String> {
        self.0.next().ok_or(format!("{option} needs a value"))
    }
}

/// `-t|-u|--sctp-service ADDRESS:PORT`, or `-f MARK` (with `-6` for IPv6).
fn service_key<'a, I: Iterator<Item = &'a str>>(
    args: &mut Args<'a, I>,
) -> Result<ServiceKey, String> {
    let option = args.next().ok_or("a rule needs its service")?;
    let protocol = match option {
        "-t" | "--tcp-service" => Protocol::Tcp,
        "-u" | "--udp-service" => Protocol::Udp,
        "--sctp-service" => Protocol::Sctp,
        "-f" | "--fwmark-service" => {
            let mark = args.value(option)?;
            let mark = mark
                .parse()
                .map_err(|_| format!("fwmark {mark} is not a number"))?;
            let family = match args.0.next_if(|a| *a == "-6" || *a == "--ipv6") {
                Some(_) => Family::Ipv6,
                None => Family::Ipv4,
            };
            return Ok(ServiceKey::Fwmark { mark, family });
        }
        other => {
            return Err(format!(
                "a rule starts with its service (-t, -u, --sctp-service, -f), not {other}"
            ));
        }
    };
    let address = numeric(args.value(option)?)?;
    Ok(ServiceKey::Address {
        protocol,
        vip: address.ip(),
        port: address.port(),
    })
}

/// `-r ADDRESS[:PORT]`: a fwmark service's real servers may have no port (0).
fn real_server(text: &str, service: &ServiceKey) -> Result<DestinationKey, String> {
    if let (ServiceKey::Fwmark { .. }, Ok(address)) =
        (service, text.trim_matches(['[', ']']).parse::<IpAddr>())
    {
        return Ok(DestinationKey { address, port: 0 });
    }
    let address = numeric(text)?;
    Ok(DestinationKey {
        address: address.ip(),
        port: address.port(),
    })
}

fn numeric(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("{text} is not a numeric address and port: save the rules with `ipvsadm -Sn` (names are not looked up)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_as_ipvsadm_saves_them_read_as_its_restore_makes_them() {
        let dir = std::env::temp_dir().join(format!("lvsform-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rules");
        std::fs::write(
            &path,
            "-A -t 203.0.113.10:80 -s wrr -p 600 -M 255.255.255.0\n\
             -a -t 203.0.113.10:80 -r 10.1.0.11:80 -g -w 3\n\
             -a -t 203.0.113.10:80 -r 10.1.0.12:8080 -m -w 0 -x 100 -y 10\n\
             -A -u [2001:db8::1]:53 -s sh -b sh-fallback,sh-port -o\n\
             -a -u [2001:db8::1]:53 -r [2001:db8::11]:53 -i --tun-type gue --tun-port 6080 --tun-csum -w 1\n\
             -A -f 7 -s rr\n\
             -a -f 7 -r 10.1.0.13:0 -g -w 1\n\
             --start-daemon master --mcast-interface eth1\n\
             -A -t localhost:http -s rr\n",
        )
        .unwrap();
        let imported = from_ipvsadm(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let web = &imported.services[&ServiceKey::Address {
            protocol: Protocol::Tcp,
            vip: "203.0.113.10".parse().unwrap(),
            port: 80,
        }];
        assert_eq!(web.settings.scheduler, Scheduler::Wrr);
        let persistence = web.settings.persistence.as_ref().unwrap();
        assert_eq!(
            (persistence.timeout, persistence.netmask),
            (600, IpNetmask::V4("255.255.255.0".parse().unwrap()))
        );
        let nat = &web.destinations[&DestinationKey {
            address: "10.1.0.12".parse().unwrap(),
            port: 8080,
        }];
        assert_eq!(
            (
                nat.forwarding,
                nat.weight,
                nat.upper_threshold,
                nat.lower_threshold
            ),
            (Forwarding::Nat, 0, 100, 10)
        );
        let dns = &imported.services[&ServiceKey::Address {
            protocol: Protocol::Udp,
            vip: "2001:db8::1".parse().unwrap(),
            port: 53,
        }];
        assert!(dns.settings.one_packet);
        assert_eq!(dns.settings.flags.len(), 2);
        let tunnel = dns.destinations.values().next().unwrap().forwarding;
        assert_eq!(
            tunnel,
            Forwarding::Tun(Tunnel {
                kind: TunnelType::Gue,
                port: 6080,
                checksum: TunnelChecksum::Csum
            })
        );
        let marked = &imported.services[&ServiceKey::Fwmark {
            mark: 7,
            family: Family::Ipv4,
        }];
        assert_eq!(marked.destinations.keys().next().unwrap().port, 0);
        let lines: Vec<usize> = imported
            .warnings
            .iter()
            .map(|w| w.position().unwrap().1)
            .collect();
        assert_eq!(
            lines,
            [8, 9],
            "{:?}",
            imported
                .warnings
                .iter()
                .map(Diag::compact)
                .collect::<Vec<_>>()
        );
        assert_eq!(imported.services.len(), 3);
    }
}
