//! Reading one block body: the schema check (unknown or repeated names) and typed attribute
//! values, each error placed on the attribute that caused it.

use super::eval::{EvalError, Scope};
use super::value::{suggest, type_name};
use crate::diag::{Diag, Diagnostics};
use hcl::Value;
use hcl::edit::Span;
use hcl::edit::structure::{Attribute, Block, Body, Structure};
use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

/// What a block may contain.
pub struct Schema {
    pub attributes: &'static [&'static str],
    pub blocks: &'static [&'static str],
}

/// A value and where it was written.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Range<usize>,
}

pub fn block_span(block: &Block) -> Range<usize> {
    let start = block.ident.span().map_or(0, |s| s.start);
    let end = block
        .labels
        .last()
        .and_then(|l| l.span())
        .or_else(|| block.ident.span())
        .map_or(start, |s| s.end);
    start..end
}

pub fn attribute_span(attr: &Attribute) -> Range<usize> {
    attr.value.span().or_else(|| attr.span()).unwrap_or(0..0)
}

pub struct Reader<'r, 's> {
    pub scope: &'r Scope<'s>,
    pub diags: &'r mut Diagnostics,
}

impl<'r, 's> Reader<'r, 's> {
    pub fn new(scope: &'r Scope<'s>, diags: &'r mut Diagnostics) -> Self {
        Reader { scope, diags }
    }

    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) -> &mut Diag {
        self.diags
            .push(Diag::error(message).at(self.scope.file, span));
        self.diags.0.last_mut().expect("just pushed")
    }

    pub fn warning(&mut self, span: Range<usize>, message: impl Into<String>) -> &mut Diag {
        self.diags
            .push(Diag::warning(message).at(self.scope.file, span));
        self.diags.0.last_mut().expect("just pushed")
    }

    /// Reports unknown and repeated attributes and unknown blocks of `body`.
    pub fn check(&mut self, body: &Body, context: &str, schema: &Schema) {
        let mut seen: Vec<&str> = Vec::new();
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    let name = attr.key.as_str();
                    let span = attr.key.span().unwrap_or(0..0);
                    if !schema.attributes.contains(&name) {
                        let hint =
                            unknown_hint(name, schema.attributes, schema.blocks, "attribute");
                        let diag = Diag::error(format!("unknown attribute `{name}` in {context}"))
                            .at(self.scope.file, span)
                            .label("not allowed here")
                            .help(hint);
                        self.diags.push(diag);
                    } else if seen.contains(&name) {
                        self.error(
                            span,
                            format!("attribute `{name}` is set twice in {context}"),
                        )
                        .help = Some("remove one of the two".into());
                    }
                    seen.push(name);
                }
                Structure::Block(block) => {
                    let name = block.ident.as_str();
                    if !schema.blocks.contains(&name) {
                        let hint = unknown_hint(name, schema.blocks, schema.attributes, "block");
                        let diag = Diag::error(format!("unknown block `{name}` in {context}"))
                            .at(self.scope.file, block_span(block))
                            .label("not allowed here")
                            .help(hint);
                        self.diags.push(diag);
                    }
                }
            }
        }
    }

    /// Checks a block's labels: exactly `expected` names, each a valid identifier.
    pub fn labels<'b>(&mut self, block: &'b Block, expected: &[&str]) -> Option<Vec<&'b str>> {
        let kind = block.ident.as_str();
        if block.labels.len() != expected.len() {
            let want = if expected.is_empty() {
                "no labels".to_string()
            } else {
                format!("a {} label", expected.join(" and a "))
            };
            let example = expected
                .iter()
                .map(|l| format!(" \"{l}\""))
                .collect::<String>();
            self.error(block_span(block), format!("a `{kind}` block takes {want}"))
                .help = Some(format!("write it as: {kind}{example} {{ … }}"));
            return None;
        }
        let mut names = Vec::new();
        for label in &block.labels {
            let name = label.as_str();
            if !is_identifier(name) {
                let span = label.span().unwrap_or_else(|| block_span(block));
                self.error(span, format!("\"{name}\" is not a valid {kind} name"))
                    .help = Some(
                    "names start with a letter or `_` and hold letters, digits, `_` and `-`".into(),
                );
                return None;
            }
            names.push(name);
        }
        Some(names)
    }

    /// Evaluates an attribute; `None` when absent or when evaluation failed (reported).
    pub fn value(&mut self, body: &Body, name: &str) -> Option<Spanned<Value>> {
        let attr = body.get_attribute(name)?;
        self.eval_attribute(attr)
    }

    pub fn eval_attribute(&mut self, attr: &Attribute) -> Option<Spanned<Value>> {
        let span = attribute_span(attr);
        match self.scope.eval(&attr.value) {
            Ok(value) => Some(Spanned { value, span }),
            Err(EvalError::At(diag)) => {
                self.diags.push(*diag);
                None
            }
            Err(EvalError::Reported) => None,
        }
    }

    /// A present, non-null attribute, converted by `convert` (whose error message is
    /// reported at the attribute).
    pub fn get<T>(
        &mut self,
        body: &Body,
        name: &str,
        convert: impl FnOnce(&Value) -> Result<T, Problem>,
    ) -> Option<Spanned<T>> {
        let Spanned { value, span } = self.value(body, name)?;
        if value.is_null() {
            return None;
        }
        match convert(&value) {
            Ok(value) => Some(Spanned { value, span }),
            Err(problem) => {
                let diag = self.error(span, format!("invalid `{name}`: {}", problem.message));
                diag.help = problem.help;
                None
            }
        }
    }

    /// Reports a missing required attribute at the block's header.
    pub fn require<T>(
        &mut self,
        found: Option<T>,
        body: &Body,
        name: &str,
        block: &Block,
        example: &str,
    ) -> Option<T> {
        if found.is_none() && body.get_attribute(name).is_none() {
            self.error(
                block_span(block),
                format!(
                    "`{}` block is missing the required attribute `{name}`",
                    block.ident.as_str()
                ),
            )
            .help = Some(format!("add it, e.g. {name} = {example}"));
        }
        found
    }
}

fn unknown_hint(name: &str, same_kind: &[&str], other_kind: &[&str], kind: &str) -> String {
    if let Some(near) = suggest(name, same_kind.iter().copied()) {
        return format!("did you mean `{near}`?");
    }
    if other_kind.contains(&name) {
        let other = if kind == "attribute" {
            "block"
        } else {
            "attribute"
        };
        return format!("`{name}` is a {other} here, not an {kind}");
    }
    if same_kind.is_empty() {
        return format!("no {kind}s are allowed here");
    }
    format!("allowed {kind}s: {}", same_kind.join(", "))
}

pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Why a value was rejected, with a hint to fix it.
pub struct Problem {
    pub message: String,
    pub help: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }
}

// Converters for `Reader::get`.

pub fn string(value: &Value) -> Result<String, Problem> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(
            Problem::new(format!("expected a string, found a {}", type_name(other)))
                .help("write a quoted string"),
        ),
    }
}

pub fn boolean(value: &Value) -> Result<bool, Problem> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        other => Err(Problem::new(format!(
            "expected true or false, found a {}",
            type_name(other)
        ))
        .help("write true or false")),
    }
}

/// A whole number within `min..=max`.
pub fn integer(min: i64, max: i64) -> impl FnOnce(&Value) -> Result<i64, Problem> {
    move |value| {
        let n = match value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            other => {
                return Err(Problem::new(format!(
                    "expected a number, found a {}",
                    type_name(other)
                ))
                .help(format!("use a whole number from {min} to {max}")));
            }
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            Some(n) => Err(Problem::new(format!("{n} is outside {min}..{max}"))
                .help(format!("use a whole number from {min} to {max}"))),
            None => Err(
                Problem::new(format!("{} is not a whole number", describe(value)))
                    .help(format!("use a whole number from {min} to {max}")),
            ),
        }
    }
}

pub fn ip_address(value: &Value) -> Result<IpAddr, Problem> {
    let text = string(value)?;
    text.parse().map_err(|_| {
        Problem::new(format!("\"{text}\" is not an IP address")).help(
            "write an IPv4 address like \"10.1.0.11\" or an IPv6 address like \"2001:db8::11\"",
        )
    })
}

/// One host's address: a VIP, a real server, a DIP. The unspecified address, multicast and
/// broadcast are refused (IPVS would take some of them and never deliver).
pub fn host_address(value: &Value) -> Result<IpAddr, Problem> {
    let address = ip_address(value)?;
    let broadcast = matches!(address, IpAddr::V4(v4) if v4.is_broadcast());
    if address.is_unspecified() || address.is_multicast() || broadcast {
        return Err(Problem::new(format!("{address} is not one host's address")).help(
            "VIPs, real servers and the DIP are unicast addresses: not 0.0.0.0 or ::, multicast or broadcast",
        ));
    }
    Ok(address)
}

pub fn cidr(value: &Value) -> Result<ipnet::IpNet, Problem> {
    let text = string(value)?;
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| {
            Problem::new(format!("\"{text}\" is not a CIDR prefix"))
                .help("write a prefix like \"10.96.0.0/12\" or \"2001:db8::/64\"")
        })
}

pub fn duration(value: &Value) -> Result<Duration, Problem> {
    let text = string(value)?;
    parse_duration(&text).ok_or_else(|| {
        Problem::new(format!("\"{text}\" is not a duration"))
            .help("write a number with a unit: \"500ms\", \"10s\", \"2m\", \"1h\"")
    })
}

/// `"90s"`, `"2m"`, `"1h30m"`, `"500ms"`: Go/Terraform duration syntax, non-negative.
pub fn parse_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            _ => return None,
        };
        // Checked: a duration too long for the clock is an error, never a panic.
        total = total.checked_add(Duration::try_from_secs_f64(seconds).ok()?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

pub fn string_list(value: &Value) -> Result<Vec<String>, Problem> {
    match value {
        Value::Array(items) => items.iter().map(string).collect(),
        other => Err(
            Problem::new(format!("expected a list, found a {}", type_name(other)))
                .help("write a list of strings, e.g. [\"a\", \"b\"]"),
        ),
    }
}

/// A keyword from a fixed set, with "did you mean" for typos.
pub fn keyword<T: Copy>(
    all: &'static [(&'static str, T)],
    what: &'static str,
) -> impl Fn(&Value) -> Result<T, Problem> {
    move |value| {
        let text = string(value)?;
        all.iter()
            .find(|(name, _)| *name == text)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names = all.iter().map(|(name, _)| *name);
                let help = match suggest(&text, names.clone()) {
                    Some(near) => format!("did you mean \"{near}\"?"),
                    None => format!("one of: {}", names.collect::<Vec<_>>().join(", ")),
                };
                Problem::new(format!("unknown {what} \"{text}\"")).help(help)
            })
    }
}

pub fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Number(n) => n.to_string(),
        other => format!("a {}", type_name(other)),
    }
}

/// Interface names as the kernel accepts them, restricted to characters that need no
/// quoting anywhere (they end up in remote commands).
pub fn interface_name(value: &Value) -> Result<String, Problem> {
    let name = string(value)?;
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(name)
    } else {
        Err(Problem::new(format!(
            "\"{}\" is not a valid interface name",
            name.escape_default()
        ))
        .help("interface names have 1 to 15 characters: letters, digits, `_`, `.`, `-`"))
    }
}

/// Sysctl names in dotted form (`net.ipv4.vs.expire_nodest_conn`), safe to put in a path.
/// A director sysctl: a well-formed name in the network tree.
pub fn sysctl_name(name: &str) -> Result<(), Problem> {
    if !crate::director::is_sysctl_name(name) {
        return Err(Problem::new(format!(
            "\"{}\" is not a sysctl name",
            name.escape_default()
        ))
        .help("write sysctl names in dotted form, e.g. \"net.ipv4.vs.expire_nodest_conn\""));
    }
    if !crate::director::is_director_sysctl(name) {
        return Err(Problem::new(format!("{name} is outside the net. tree")).help(
            "lvsform sets network sysctls (net.*) only; set others in the host's own configuration",
        ));
    }
    Ok(())
}

/// A sysctl value: a number or a plain word, nothing a shell or a path could misread.
pub fn sysctl_value(value: &Value) -> Result<String, Problem> {
    let text = string(value)?;
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-: ".contains(c));
    if ok {
        Ok(text)
    } else {
        Err(Problem::new(format!(
            "\"{}\" is not a plain sysctl value",
            text.escape_default()
        ))
        .help("sysctl values are numbers or words made of letters, digits, `_`, `.`, `-`, `:`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        let too_long = "10000000000000000000s10000000000000000000s";
        for bad in ["", "10", "s", "-5s", "10x", "1.2.3s", too_long, "1e400s"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hostile_names_are_rejected() {
        for bad in [
            "eth0;reboot",
            "$(id)",
            "`id`",
            "a\nb",
            "../x",
            "",
            "averyveryverylongname",
        ] {
            assert!(interface_name(&Value::from(bad)).is_err(), "{bad:?}");
        }
        assert!(interface_name(&Value::from("eth0.100")).is_ok());
        for bad in [
            "net.ipv4/../../x",
            "net..x",
            "net.$(id)",
            "single",
            "net.a b",
        ] {
            assert!(sysctl_name(bad).is_err(), "{bad:?}");
        }
        for bad in ["1;reboot", "$(id)", "`id`", "1\n2", "a/b"] {
            assert!(sysctl_value(&Value::from(bad)).is_err(), "{bad:?}");
        }
    }
}
