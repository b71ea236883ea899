//! Parsers of attribute values that several blocks share.

use super::*;

pub(super) fn fwmark(value: &Value) -> Result<u32, Problem> {
    body::integer(1, i64::from(u32::MAX))(value).map(|n| n as u32)
}

pub(super) fn list_of<T>(
    value: &Value,
    item: impl Fn(&Value) -> Result<T, Problem>,
) -> Result<Vec<T>, Problem> {
    match value {
        Value::Array(items) => items.iter().map(item).collect(),
        other => Err(Problem::new(format!(
            "expected a list, found a {}",
            type_name(other)
        ))),
    }
}

pub(super) fn depool(value: &Value) -> Result<Depool, Problem> {
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

/// An IPv4 netmask (`255.255.255.0`) or an IPv6 prefix length (`64` or `"/64"`).
pub(super) fn netmask(value: &Value) -> Result<IpNetmask, Problem> {
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
