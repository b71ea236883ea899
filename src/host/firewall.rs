//! Whether a TUN real server's firewall lets IP-in-IP (IP protocol 4) in, judged from
//! `iptables -S INPUT`, and the rule lvsform adds when `manage_firewall = true`.

/// lvsform's rule, as `iptables -S` prints it: the comment tells it from the same rule
/// written by hand, which `destroy` must leave alone.
pub const RULE: &str = "-A INPUT -p ipencap -m comment --comment lvsform -j ACCEPT";

/// The arguments that insert (`-I INPUT 1`), check (`-C INPUT`) or delete (`-D INPUT`) it.
pub const RULE_ARGS: &str = "-p 4 -m comment --comment lvsform -j ACCEPT";

/// Whether the host holds lvsform's rule (iptables names protocol 4 `ipencap` from
/// /etc/protocols, and prints the number on a host without that file).
pub fn has_rule(facts: &super::HostFacts) -> bool {
    let numeric = RULE.replace("ipencap", "4");
    facts
        .iptables_input
        .as_deref()
        .is_some_and(|rules| rules.lines().any(|l| l == RULE || l == numeric))
}

/// True when the INPUT chain certainly drops IP-in-IP: the policy or an unconditional
/// DROP/REJECT decides before any rule that could accept it. Rules with conditions that
/// cannot be judged here (source, interface, other matches) that accept are given the
/// benefit of the doubt; jumps to other chains are passed over.
pub fn drops_ipip(rules: &str) -> bool {
    let mut policy_drops = false;
    for line in rules.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["-P", "INPUT", policy] => policy_drops = *policy != "ACCEPT",
            ["-A", "INPUT", rule @ ..] => {
                let rule = Rule::parse(rule);
                if !rule.may_match_ipip {
                    continue;
                }
                match rule.target {
                    "ACCEPT" => return false,
                    "DROP" | "REJECT" if rule.unconditional => return true,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    policy_drops
}

struct Rule<'a> {
    target: &'a str,
    may_match_ipip: bool,
    /// No match but the protocol (and comments).
    unconditional: bool,
}

impl<'a> Rule<'a> {
    fn parse(words: &[&'a str]) -> Rule<'a> {
        let mut rule = Rule {
            target: "",
            may_match_ipip: true,
            unconditional: true,
        };
        let mut rest = words.iter();
        while let Some(word) = rest.next() {
            match *word {
                "-p" => {
                    let protocol = rest.next().copied().unwrap_or_default();
                    rule.may_match_ipip = matches!(protocol, "4" | "ipencap" | "all");
                }
                // What follows the target are its options (--reject-with …).
                "-j" => {
                    rule.target = rest.next().copied().unwrap_or_default();
                    break;
                }
                "-m" if rest.as_slice().first() == Some(&"comment") => {
                    rest.next();
                }
                "--comment" => {
                    rest.next();
                }
                // The director never gets IP-in-IP back, so conntrack never sees such a
                // flow past NEW: a rule for other states cannot match it.
                "--state" | "--ctstate" => {
                    let states = rest.next().copied().unwrap_or_default();
                    rule.may_match_ipip &= states.split(',').any(|s| s == "NEW");
                    rule.unconditional = false;
                }
                // A negation makes the next match conditional, whatever it is.
                _ => rule.unconditional = false,
            }
        }
        rule
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_rule_by_protocol_name_or_number() {
        let facts = |rules: &str| crate::host::HostFacts {
            iptables_input: Some(rules.to_string()),
            ..Default::default()
        };
        assert!(has_rule(&facts(&format!("-P INPUT DROP\n{RULE}"))));
        assert!(has_rule(&facts(
            "-P INPUT DROP\n-A INPUT -p 4 -m comment --comment lvsform -j ACCEPT"
        )));
        assert!(!has_rule(&facts("-P INPUT DROP\n-A INPUT -p 4 -j ACCEPT")));
        assert!(!has_rule(&crate::host::HostFacts::default()));
    }

    #[test]
    fn judges_what_iptables_prints() {
        let cases = [
            ("-P INPUT ACCEPT", false),
            ("-P INPUT DROP", true),
            ("-P INPUT DROP\n-A INPUT -p ipencap -j ACCEPT", false),
            (&format!("-P INPUT DROP\n{RULE}"), false),
            ("-P INPUT DROP\n-A INPUT -j ACCEPT", false),
            ("-P INPUT DROP\n-A INPUT -p all -j ACCEPT", false),
            // A conditional accept might let the director's packets in.
            ("-P INPUT DROP\n-A INPUT -s 10.1.0.1/32 -j ACCEPT", false),
            // Accepting TCP, or established connections only, does not help IP-in-IP.
            (
                "-P INPUT DROP\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
                true,
            ),
            ("-P INPUT DROP\n-A INPUT -p ipip -j ACCEPT", true), // ipip is protocol 94
            ("-P INPUT ACCEPT\n-A INPUT -j DROP", true),
            ("-P INPUT ACCEPT\n-A INPUT -p ipencap -j REJECT", true),
            (
                "-P INPUT ACCEPT\n-A INPUT -p 4 -j ACCEPT\n-A INPUT -j DROP",
                false,
            ),
            // Conditional drops and jumps elsewhere do not decide.
            ("-P INPUT ACCEPT\n-A INPUT -i eth1 -j DROP", false),
            ("-P INPUT ACCEPT\n-A INPUT ! -p 4 -j DROP", false),
            ("-P INPUT DROP\n-A INPUT -j ufw-before-input", true),
            ("-P INPUT ACCEPT\n-A INPUT -p tcp -j DROP", false),
            // Accepting established flows does not help; target options are no condition.
            (
                "-P INPUT ACCEPT\n-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -j REJECT --reject-with icmp-port-unreachable",
                true,
            ),
            (
                "-P INPUT DROP\n-A INPUT -m conntrack --ctstate NEW -j ACCEPT",
                false,
            ),
        ];
        for (rules, drops) in cases {
            assert_eq!(drops_ipip(rules), drops, "{rules}");
        }
    }
}
