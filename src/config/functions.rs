//! The built-in functions of the language. hcl-rs has none; these follow Terraform's
//! definitions of the same names.

use super::value::{Map, as_f64, number_from_f64, suggest, type_name};
use hcl::Value;
use ipnet::IpNet;
use std::net::IpAddr;

pub struct Failure {
    pub message: String,
    pub help: Option<String>,
    pub unknown: bool,
}

impl Failure {
    fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            help: None,
            unknown: false,
        }
    }

    fn help(mut self, help: impl Into<String>) -> Failure {
        self.help = Some(help.into());
        self
    }
}

type Func = fn(&str, Vec<Value>) -> Result<Value, Failure>;

/// Name, accepted argument counts (min, max), implementation, usage.
const FUNCTIONS: &[(&str, usize, usize, Func, &str)] = &[
    ("cidrhost", 2, 2, cidrhost, "cidrhost(prefix, hostnum)"),
    (
        "cidrsubnet",
        3,
        3,
        cidrsubnet,
        "cidrsubnet(prefix, newbits, netnum)",
    ),
    ("concat", 0, usize::MAX, concat, "concat(list, ...)"),
    ("contains", 2, 2, contains, "contains(list, value)"),
    ("format", 1, usize::MAX, format, "format(spec, values...)"),
    ("join", 2, 2, join, "join(separator, list)"),
    ("keys", 1, 1, keys, "keys(map)"),
    ("length", 1, 1, length, "length(list, map or string)"),
    ("lookup", 3, 3, lookup, "lookup(map, key, default)"),
    ("lower", 1, 1, lower, "lower(string)"),
    ("merge", 0, usize::MAX, merge, "merge(map, ...)"),
    ("range", 1, 3, range, "range([start,] limit [, step])"),
    ("split", 2, 2, split, "split(separator, string)"),
    ("tonumber", 1, 1, tonumber, "tonumber(value)"),
    ("tostring", 1, 1, tostring, "tostring(value)"),
    ("upper", 1, 1, upper, "upper(string)"),
    ("values", 1, 1, values, "values(map)"),
];

pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|f| f.0)
}

pub fn call(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let Some(&(_, min, max, func, usage)) = FUNCTIONS.iter().find(|f| f.0 == name) else {
        let help = match suggest(name, names()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!(
                "available functions: {}",
                names().collect::<Vec<_>>().join(", ")
            ),
        };
        return Err(Failure {
            unknown: true,
            ..Failure::new(format!("unknown function `{name}`")).help(help)
        });
    };
    if args.len() < min || args.len() > max {
        return Err(Failure::new(format!(
            "`{name}` takes {} argument{}, got {}",
            if min == max {
                min.to_string()
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            },
            if max == 1 { "" } else { "s" },
            args.len()
        ))
        .help(format!("usage: {usage}")));
    }
    func(name, args).map_err(|f| match f.help {
        Some(_) => f,
        None => f.help(format!("usage: {usage}")),
    })
}

fn string(name: &str, value: Value) -> Result<String, Failure> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(Failure::new(format!(
            "`{name}` expects a string, got a {}",
            type_name(&other)
        ))),
    }
}

fn integer(name: &str, value: &Value) -> Result<i64, Failure> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        Failure::new(format!(
            "`{name}` expects a whole number, got {}",
            describe(value)
        ))
    })
}

fn list(name: &str, value: Value) -> Result<Vec<Value>, Failure> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(Failure::new(format!(
            "`{name}` expects a list, got a {}",
            type_name(&other)
        ))),
    }
}

fn map(name: &str, value: Value) -> Result<Map, Failure> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Failure::new(format!(
            "`{name}` expects a map, got a {}",
            type_name(&other)
        ))),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Number(n) => n.to_string(),
        other => format!("a {}", type_name(other)),
    }
}

fn first(args: Vec<Value>) -> Value {
    args.into_iter().next().unwrap_or(Value::Null)
}

fn lower(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    Ok(Value::String(string(name, first(args))?.to_lowercase()))
}

fn upper(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    Ok(Value::String(string(name, first(args))?.to_uppercase()))
}

fn tostring(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    match first(args) {
        Value::Null => Ok(Value::Null),
        value => Ok(Value::String(string(name, value)?)),
    }
}

fn tonumber(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    match first(args) {
        Value::Null => Ok(Value::Null),
        Value::Number(n) => Ok(Value::Number(n)),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(number_from_f64)
            .map(Value::Number)
            .ok_or_else(|| Failure::new(format!("`{name}` cannot convert \"{s}\" to a number"))),
        other => Err(Failure::new(format!(
            "`{name}` cannot convert a {} to a number",
            type_name(&other)
        ))),
    }
}

fn concat(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let mut out = Vec::new();
    for arg in args {
        out.extend(list(name, arg)?);
    }
    Ok(Value::Array(out))
}

fn merge(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let mut out = Map::new();
    for arg in args {
        if !arg.is_null() {
            out.extend(map(name, arg)?);
        }
    }
    Ok(Value::Object(out))
}

fn keys(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let mut keys: Vec<String> = map(name, first(args))?.into_keys().collect();
    keys.sort();
    Ok(Value::Array(keys.into_iter().map(Value::String).collect()))
}

fn values(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let mut entries: Vec<(String, Value)> = map(name, first(args))?.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Value::Array(entries.into_iter().map(|e| e.1).collect()))
}

fn length(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let n = match first(args) {
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        Value::String(s) => s.chars().count(),
        other => {
            return Err(Failure::new(format!(
                "`{name}` expects a list, map or string, got a {}",
                type_name(&other)
            )));
        }
    };
    Ok(Value::from(n as u64))
}

fn lookup(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let mut args = args.into_iter();
    let (table, key, default) = (args.next(), args.next(), args.next());
    let mut table = map(name, table.unwrap_or_default())?;
    let key = string(name, key.unwrap_or_default())?;
    Ok(table
        .swap_remove(&key)
        .unwrap_or_else(|| default.unwrap_or_default()))
}

fn contains(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let mut args = args.into_iter();
    let items = list(name, args.next().unwrap_or_default())?;
    let needle = args.next().unwrap_or_default();
    Ok(Value::Bool(items.contains(&needle)))
}

fn join(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let mut args = args.into_iter();
    let separator = string(name, args.next().unwrap_or_default())?;
    let parts = list(name, args.next().unwrap_or_default())?
        .into_iter()
        .map(|v| string(name, v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(parts.join(&separator)))
}

fn split(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let mut args = args.into_iter();
    let separator = string(name, args.next().unwrap_or_default())?;
    let text = string(name, args.next().unwrap_or_default())?;
    if separator.is_empty() {
        return Err(Failure::new(format!(
            "`{name}` needs a non-empty separator"
        )));
    }
    Ok(Value::Array(
        text.split(separator.as_str()).map(Value::from).collect(),
    ))
}

/// Bounds `range` so that a typo cannot exhaust memory.
const RANGE_LIMIT: usize = 1_000_000;

fn range(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let numbers = args
        .iter()
        .map(|a| match a {
            Value::Number(n) => Ok(as_f64(*n)),
            other => Err(Failure::new(format!(
                "`{name}` expects numbers, got {}",
                describe(other)
            ))),
        })
        .collect::<Result<Vec<f64>, _>>()?;
    let (start, limit, step) = match numbers[..] {
        [limit] => (0.0, limit, 1.0),
        [start, limit] => (start, limit, if limit < start { -1.0 } else { 1.0 }),
        [start, limit, step] => (start, limit, step),
        _ => unreachable!("arity is checked before the call"),
    };
    if step == 0.0 || (limit - start) * step < 0.0 && start != limit {
        return Err(Failure::new(format!(
            "`{name}` step {step} never reaches {limit} from {start}"
        )));
    }
    let count = ((limit - start) / step).ceil().max(0.0);
    if count > RANGE_LIMIT as f64 {
        return Err(Failure::new(format!(
            "`{name}` would make {count} elements; the limit is {RANGE_LIMIT}"
        )));
    }
    Ok(Value::Array(
        (0..count as usize)
            .filter_map(|i| number_from_f64(start + step * i as f64).map(Value::Number))
            .collect(),
    ))
}

fn prefix(name: &str, value: Value) -> Result<IpNet, Failure> {
    let text = string(name, value)?;
    text.parse().map_err(|_| {
        Failure::new(format!(
            "`{name}`: \"{text}\" is not an address prefix in CIDR notation"
        ))
        .help("write it like \"10.1.0.0/24\" or \"2001:db8::/64\"")
    })
}

fn host_bits(net: &IpNet) -> u32 {
    u32::from(net.max_prefix_len() - net.prefix_len())
}

fn cidrhost(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let mut args = args.into_iter();
    let net = prefix(name, args.next().unwrap_or_default())?;
    let hostnum = integer(name, &args.next().unwrap_or_default())?;
    // 2^bits hosts; at 128 bits every u64 fits, and 2^128 itself does not fit a u128.
    let size = 1u128.checked_shl(host_bits(&net));
    let magnitude = u128::from(hostnum.unsigned_abs());
    let offset = match (hostnum < 0, size) {
        (false, Some(size)) if magnitude < size => Some(magnitude),
        (false, None) => Some(magnitude),
        (true, Some(size)) if magnitude <= size => Some(size - magnitude),
        (true, None) => Some(magnitude.wrapping_neg()),
        _ => None,
    };
    let Some(offset) = offset else {
        return Err(Failure::new(format!(
            "`{name}`: prefix {net} has no host number {hostnum}"
        )));
    };
    Ok(Value::String(
        offset_address(net.network(), offset).to_string(),
    ))
}

fn cidrsubnet(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let mut args = args.into_iter();
    let net = prefix(name, args.next().unwrap_or_default())?;
    let newbits = integer(name, &args.next().unwrap_or_default())?;
    let netnum = integer(name, &args.next().unwrap_or_default())?;
    let new_len = i64::from(net.prefix_len()) + newbits;
    if newbits < 0 || new_len > i64::from(net.max_prefix_len()) {
        return Err(Failure::new(format!(
            "`{name}`: {net} cannot be extended by {newbits} bits"
        )));
    }
    if netnum < 0 || (newbits < 64 && netnum >= 1i64 << newbits) {
        return Err(Failure::new(format!(
            "`{name}`: {newbits} new bits cannot number subnet {netnum}"
        )));
    }
    let shift = u32::from(net.max_prefix_len()) - new_len as u32;
    let base = offset_address(
        net.network(),
        (netnum as u128).checked_shl(shift).unwrap_or(0),
    );
    let subnet = IpNet::new(base, new_len as u8).expect("prefix length was checked");
    Ok(Value::String(subnet.to_string()))
}

fn offset_address(base: IpAddr, offset: u128) -> IpAddr {
    match base {
        IpAddr::V4(a) => std::net::Ipv4Addr::from((u32::from(a) as u128 + offset) as u32).into(),
        IpAddr::V6(a) => std::net::Ipv6Addr::from(u128::from(a).wrapping_add(offset)).into(),
    }
}

/// Terraform's `format`: verbs `%s %d %f %v %q %x %%`, with optional `-`, `0`, width and
/// precision.
fn format(name: &str, args: Vec<Value>) -> Result<Value, Failure> {
    let mut args = args.into_iter();
    let spec = string(name, args.next().unwrap_or_default())?;
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut zero = false;
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => left = true,
                '0' => zero = true,
                _ => break,
            }
            chars.next();
        }
        let digits = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        let width = digits(&mut chars).unwrap_or(0).min(1024);
        let precision = if chars.peek() == Some(&'.') {
            chars.next();
            Some(digits(&mut chars).unwrap_or(0).min(64))
        } else {
            None
        };
        let verb = chars
            .next()
            .ok_or_else(|| Failure::new(format!("`{name}`: the spec ends inside a `%` verb")))?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let value = args.next().ok_or_else(|| {
            Failure::new(format!(
                "`{name}`: not enough values for the spec \"{spec}\""
            ))
        })?;
        let text = match (verb, &value) {
            ('s' | 'v', Value::String(s)) => s.clone(),
            ('s' | 'v', Value::Number(n)) => n.to_string(),
            ('s' | 'v', Value::Bool(b)) => b.to_string(),
            ('q', v) => format!("\"{}\"", string(name, v.clone())?.escape_default()),
            ('d', v) => integer(name, v)?.to_string(),
            ('x', v) => format!("{:x}", integer(name, v)?),
            ('f', Value::Number(n)) => format!("{:.*}", precision.unwrap_or(6), as_f64(*n)),
            ('s' | 'v' | 'f', v) => {
                return Err(Failure::new(format!(
                    "`{name}`: %{verb} cannot format {}",
                    describe(v)
                )));
            }
            (other, _) => {
                return Err(Failure::new(format!("`{name}`: unknown verb %{other}"))
                    .help("supported verbs: %s %d %f %v %q %x %%"));
            }
        };
        let pad = width.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            let fill = if zero && verb != 's' { '0' } else { ' ' };
            out.extend(std::iter::repeat_n(fill, pad));
            out.push_str(&text);
        }
    }
    if args.next().is_some() {
        return Err(Failure::new(format!(
            "`{name}`: more values than the spec \"{spec}\" uses"
        )));
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str, args: Vec<Value>) -> Value {
        call(name, args).unwrap_or_else(|f| panic!("{name} failed: {}", f.message))
    }

    fn err(name: &str, args: Vec<Value>) -> String {
        match call(name, args) {
            Ok(v) => panic!("{name} should fail, returned {v:?}"),
            Err(f) => f.message,
        }
    }

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    fn n(x: i64) -> Value {
        Value::from(x)
    }

    fn obj(entries: &[(&str, Value)]) -> Value {
        Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn format_verbs() {
        assert_eq!(ok("format", vec![s("web%d"), n(3)]), s("web3"));
        assert_eq!(
            ok("format", vec![s("%03d|%-4s|%s"), n(7), s("ab"), s("c")]),
            s("007|ab  |c")
        );
        assert_eq!(
            ok(
                "format",
                vec![
                    s("%.2f %v %q %x %%"),
                    Value::from(1.5),
                    Value::Bool(true),
                    s("a\"b"),
                    n(255)
                ]
            ),
            s("1.50 true \"a\\\"b\" ff %")
        );
        assert!(err("format", vec![s("%d %d"), n(1)]).contains("not enough values"));
        assert!(err("format", vec![s("%d"), n(1), n(2)]).contains("more values"));
        assert!(err("format", vec![s("%d"), s("x")]).contains("whole number"));
        assert!(err("format", vec![s("%y"), n(1)]).contains("unknown verb"));
    }

    #[test]
    fn case_and_conversion() {
        assert_eq!(ok("lower", vec![s("WeB")]), s("web"));
        assert_eq!(ok("upper", vec![s("WeB")]), s("WEB"));
        assert_eq!(ok("tostring", vec![n(80)]), s("80"));
        assert_eq!(ok("tostring", vec![Value::Bool(false)]), s("false"));
        assert_eq!(ok("tonumber", vec![s("443")]), n(443));
        assert_eq!(ok("tonumber", vec![s("2.5")]), Value::from(2.5));
        assert!(err("tonumber", vec![s("eighty")]).contains("cannot convert"));
        assert!(err("tostring", vec![Value::Array(vec![])]).contains("expects a string"));
    }

    #[test]
    fn collections() {
        let a = Value::Array(vec![n(1), n(2)]);
        let b = Value::Array(vec![n(3)]);
        assert_eq!(
            ok("concat", vec![a.clone(), b]),
            Value::Array(vec![n(1), n(2), n(3)])
        );
        assert!(err("concat", vec![a.clone(), n(1)]).contains("expects a list"));
        let m1 = obj(&[("a", n(1)), ("b", n(2))]);
        let m2 = obj(&[("b", n(9)), ("c", n(3))]);
        assert_eq!(
            ok("merge", vec![m1.clone(), m2]),
            obj(&[("a", n(1)), ("b", n(9)), ("c", n(3))])
        );
        assert_eq!(
            ok("keys", vec![obj(&[("z", n(1)), ("a", n(2))])]),
            Value::Array(vec![s("a"), s("z")])
        );
        assert_eq!(
            ok("values", vec![obj(&[("z", n(1)), ("a", n(2))])]),
            Value::Array(vec![n(2), n(1)])
        );
        assert_eq!(ok("length", vec![a.clone()]), n(2));
        assert_eq!(ok("length", vec![s("héllo")]), n(5));
        assert_eq!(ok("lookup", vec![m1.clone(), s("b"), n(0)]), n(2));
        assert_eq!(ok("lookup", vec![m1, s("x"), n(0)]), n(0));
        assert_eq!(ok("contains", vec![a.clone(), n(2)]), Value::Bool(true));
        assert_eq!(ok("contains", vec![a, n(5)]), Value::Bool(false));
        assert_eq!(
            ok("join", vec![s(","), Value::Array(vec![s("a"), n(1)])]),
            s("a,1")
        );
        assert_eq!(
            ok("split", vec![s(","), s("a,b")]),
            Value::Array(vec![s("a"), s("b")])
        );
    }

    #[test]
    fn range_forms_and_limits() {
        assert_eq!(
            ok("range", vec![n(3)]),
            Value::Array(vec![n(0), n(1), n(2)])
        );
        assert_eq!(
            ok("range", vec![n(1), n(4)]),
            Value::Array(vec![n(1), n(2), n(3)])
        );
        assert_eq!(
            ok("range", vec![n(10), n(4), n(-3)]),
            Value::Array(vec![n(10), n(7)])
        );
        assert_eq!(ok("range", vec![n(0)]), Value::Array(vec![]));
        assert!(err("range", vec![n(0), n(5), n(0)]).contains("never reaches"));
        assert!(err("range", vec![n(100_000_000)]).contains("limit"));
        assert!(err("range", vec![]).contains("takes 1 to 3 arguments"));
    }

    #[test]
    fn cidr_functions() {
        assert_eq!(
            ok("cidrhost", vec![s("10.1.0.0/24"), n(11)]),
            s("10.1.0.11")
        );
        assert_eq!(
            ok("cidrhost", vec![s("10.1.0.0/24"), n(-2)]),
            s("10.1.0.254")
        );
        assert_eq!(
            ok("cidrhost", vec![s("2001:db8::/64"), n(17)]),
            s("2001:db8::11")
        );
        assert!(err("cidrhost", vec![s("10.1.0.0/30"), n(4)]).contains("no host number 4"));
        assert!(err("cidrhost", vec![s("10.1.0.0"), n(1)]).contains("CIDR"));
        assert_eq!(ok("cidrhost", vec![s("::/0"), n(1)]), s("::1"));
        assert_eq!(
            ok("cidrhost", vec![s("::/0"), n(-1)]),
            s("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        );
        assert_eq!(
            ok("cidrhost", vec![s("0.0.0.0/0"), n(-1)]),
            s("255.255.255.255")
        );
        assert_eq!(
            ok("cidrhost", vec![s("10.0.0.0/24"), n(-256)]),
            s("10.0.0.0")
        );
        assert!(err("cidrhost", vec![s("10.0.0.0/24"), n(-257)]).contains("no host number"));
        assert_eq!(ok("cidrsubnet", vec![s("::/0"), n(0), n(0)]), s("::/0"));
        assert_eq!(
            ok("cidrsubnet", vec![s("10.0.0.0/16"), n(8), n(2)]),
            s("10.0.2.0/24")
        );
        assert!(err("cidrsubnet", vec![s("10.0.0.0/16"), n(2), n(4)]).contains("cannot number"));
        assert!(
            err("cidrsubnet", vec![s("10.0.0.0/16"), n(20), n(0)]).contains("cannot be extended")
        );
    }

    #[test]
    fn unknown_function_suggests() {
        let failure = call("lowr", vec![]).map(|_| ()).expect_err("unknown");
        assert!(failure.unknown);
        assert_eq!(failure.help.as_deref(), Some("did you mean `lower`?"));
    }
}
