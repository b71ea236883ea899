//! Plain facts about values that the evaluator, the functions and the decoders share.

use hcl::Value;

pub type Map = hcl::Map<String, Value>;

pub fn as_f64(n: hcl::Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// An integer when the value is whole and fits, a float otherwise; `None` for NaN/infinity.
pub fn number_from_f64(f: f64) -> Option<hcl::Number> {
    if !f.is_finite() {
        return None;
    }
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(hcl::Number::from(f as i64))
    } else {
        hcl::Number::from_f64(f)
    }
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// The closest candidate to a misspelt name, if one is close enough to be a likely typo.
pub fn suggest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(1) && *c != name)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}
