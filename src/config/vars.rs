//! Input variables: type constraints, conversion, and the order in which values are taken.
//!
//! Precedence, lowest first (as in Terraform): the `default`, `LVSFORM_VAR_<name>`
//! environment variables, `lvsform.vars.hcl`, then `--var-file` and `--var` in the order
//! they appear on the command line.

use super::body::{Reader, Schema, Spanned, block_span};
use super::eval::{EvalError, Limits, Locals, Scope};
use super::files::{VARS_FILE, parse_file};
use super::value::{Map, suggest, type_name};
use crate::diag::{Diag, Diagnostics, SourceFile};
use hcl::Value;
use hcl::edit::Span;
use hcl::edit::expr::Expression;
use hcl::edit::structure::Block;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Any,
    String,
    Number,
    Bool,
    List(Box<Type>),
    Map(Box<Type>),
}

impl std::fmt::Display for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Map(t) => write!(f, "map({t})"),
        }
    }
}

/// Reads a type constraint: `string`, `number`, `bool`, `any`, `list(T)`, `map(T)`.
pub fn parse_type(expr: &Expression) -> Option<Type> {
    if let Some(name) = expr.as_variable() {
        return match name.as_str() {
            "string" => Some(Type::String),
            "number" => Some(Type::Number),
            "bool" => Some(Type::Bool),
            "any" => Some(Type::Any),
            _ => None,
        };
    }
    let call = expr.as_func_call()?;
    let mut args = call.args.iter();
    let inner = parse_type(args.next()?)?;
    if args.next().is_some() {
        return None;
    }
    match call.name.name.as_str() {
        "list" | "set" => Some(Type::List(Box::new(inner))),
        "map" => Some(Type::Map(Box::new(inner))),
        _ => None,
    }
}

/// Why a value cannot be a variable's value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TypeError {
    #[error("\"{0}\" is not a number")]
    NotANumber(String),
    #[error("element {index}: {inner}")]
    Element { index: usize, inner: Box<TypeError> },
    #[error("key \"{key}\": {inner}")]
    Key { key: String, inner: Box<TypeError> },
    #[error("null is not a {0}")]
    Null(Type),
    #[error("expected {expected}, found a {found}")]
    Mismatch { expected: Type, found: &'static str },
    #[error("cannot parse \"{text}\": {message}")]
    Unparsable { text: String, message: String },
    /// The evaluator's message for a value given as text.
    #[error("{0}")]
    Evaluation(String),
    #[error("cannot evaluate \"{0}\"")]
    Unevaluable(String),
}

/// Converts a value to a type the way Terraform does for primitives (numbers and bools
/// become strings and back); anything else is a type error.
pub fn convert(value: Value, ty: &Type) -> Result<Value, TypeError> {
    match (ty, value) {
        (Type::Any, v) | (Type::String, v @ Value::String(_)) => Ok(v),
        (Type::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (Type::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
        (Type::Number, v @ Value::Number(_)) => Ok(v),
        (Type::Number, Value::String(s)) => match s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(super::value::number_from_f64)
        {
            Some(n) => Ok(Value::Number(n)),
            None => Err(TypeError::NotANumber(s)),
        },
        (Type::Bool, v @ Value::Bool(_)) => Ok(v),
        (Type::Bool, Value::String(s)) if s == "true" || s == "false" => {
            Ok(Value::Bool(s == "true"))
        }
        (Type::List(inner), Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                convert(item, inner).map_err(|e| TypeError::Element {
                    index,
                    inner: Box::new(e),
                })
            })
            .collect::<Result<_, _>>()
            .map(Value::Array),
        (Type::Map(inner), Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| match convert(v, inner) {
                Ok(v) => Ok((k, v)),
                Err(e) => Err(TypeError::Key {
                    key: k,
                    inner: Box::new(e),
                }),
            })
            .collect::<Result<_, _>>()
            .map(Value::Object),
        (ty, Value::Null) => Err(TypeError::Null(ty.clone())),
        (ty, v) => Err(TypeError::Mismatch {
            expected: ty.clone(),
            found: type_name(&v),
        }),
    }
}

/// A `variable` block.
pub struct Declaration<'a> {
    pub name: String,
    pub ty: Type,
    pub default: Option<Value>,
    pub block: &'a Block,
    pub file: Arc<SourceFile>,
}

const VARIABLE: Schema = Schema {
    attributes: &["type", "default", "description", "sensitive", "nullable"],
    blocks: &[],
};

/// Reads a `variable` block; its `default` may use functions but no other names.
pub fn declare<'a>(
    block: &'a Block,
    file: &Arc<SourceFile>,
    diags: &mut Diagnostics,
) -> Option<Declaration<'a>> {
    let empty = Map::new();
    let limits = Limits::default();
    let locals = Locals::new(Default::default(), &limits);
    let scope = Scope::new(file, &empty, &locals);
    let mut reader = Reader::new(&scope, diags);
    reader.check(&block.body, "a variable block", &VARIABLE);
    let name = reader.labels(block, &["name"])?.remove(0).to_string();
    let ty = match block.body.get_attribute("type") {
        None => Type::Any,
        Some(attr) => match parse_type(&attr.value) {
            Some(ty) => ty,
            None => {
                reader
                    .error(attr.value.span().unwrap_or(0..0), "unknown type constraint")
                    .help = Some("use string, number, bool, any, list(TYPE) or map(TYPE)".into());
                return None;
            }
        },
    };
    let default = match reader.value(&block.body, "default") {
        Some(Spanned {
            value: Value::Null, ..
        })
        | None => None,
        Some(Spanned { value, span }) => {
            match convert(value, &ty) {
                Ok(value) => Some(value),
                Err(problem) => {
                    reader.error(span, format!("the default of variable `{name}` does not match its type: {problem}"))
                    .help = Some(format!("give a default of type {ty}, or change the type"));
                    return None;
                }
            }
        }
    };
    Some(Declaration {
        name,
        ty,
        default,
        block,
        file: file.clone(),
    })
}

/// A command-line source of values, in command-line order.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum VarArg {
    /// `--var NAME=VALUE`
    Pair(String),
    /// `--var-file FILE`
    File(PathBuf),
}

/// One assignment with where it came from, before conversion.
enum Raw {
    /// From the command line or the environment: a string that is parsed as HCL for
    /// non-string types.
    Text { text: String, origin: String },
    /// From a vars file: an evaluated value with its place.
    Value {
        value: Value,
        file: Arc<SourceFile>,
        span: std::ops::Range<usize>,
    },
}

/// Resolves every root variable from its sources; reports missing and ill-typed values.
pub fn resolve(
    declarations: &[Declaration],
    root: &Path,
    args: &[VarArg],
    env: &[(String, String)],
    diags: &mut Diagnostics,
) -> Map {
    let raw = assignments(declarations, root, args, env, diags);
    let mut values = Map::new();
    for decl in declarations {
        // The last assignment wins: `raw` is in order of precedence.
        let assigned = raw
            .iter()
            .rev()
            .find(|(name, _)| *name == decl.name)
            .map(|(_, raw)| raw);
        if let Some(value) = value_of(decl, assigned, diags) {
            values.insert(decl.name.clone(), value);
        }
    }
    values
}

/// Every assignment to a declared variable, lowest precedence first: environment,
/// the variables file, then `--var-file` and `--var` in command-line order.
fn assignments(
    declarations: &[Declaration],
    root: &Path,
    args: &[VarArg],
    env: &[(String, String)],
    diags: &mut Diagnostics,
) -> Vec<(String, Raw)> {
    let mut raw: Vec<(String, Raw)> = Vec::new();
    for (key, text) in env {
        if let Some(name) = key.strip_prefix("LVSFORM_VAR_")
            && declarations.iter().any(|d| d.name == name)
        {
            raw.push((
                name.to_string(),
                Raw::Text {
                    text: text.clone(),
                    origin: format!("environment variable {key}"),
                },
            ));
        }
    }
    let vars_file = root.join(VARS_FILE);
    if vars_file.is_file() {
        read_vars_file(&vars_file, declarations, &mut raw, diags);
    }
    for arg in args {
        match arg {
            VarArg::File(path) => read_vars_file(path, declarations, &mut raw, diags),
            VarArg::Pair(pair) => match pair.split_once('=') {
                Some((name, text)) if declarations.iter().any(|d| d.name == name) => {
                    raw.push((
                        name.to_string(),
                        Raw::Text {
                            text: text.to_string(),
                            origin: format!("--var {name}"),
                        },
                    ));
                }
                Some((name, _)) => {
                    let mut diag = Diag::error(format!(
                        "--var sets `{name}`, which no variable block declares"
                    ));
                    if let Some(near) = suggest(name, declarations.iter().map(|d| d.name.as_str()))
                    {
                        diag = diag.help(format!("did you mean `{near}`?"));
                    }
                    diags.push(diag);
                }
                None => diags.push(Diag::error(format!(
                    "--var \"{pair}\" is not of the form NAME=VALUE"
                ))),
            },
        }
    }
    raw
}

/// A variable's value: its assignment converted to its type, or its default.
fn value_of(decl: &Declaration, assigned: Option<&Raw>, diags: &mut Diagnostics) -> Option<Value> {
    match assigned {
        Some(Raw::Value { value, file, span }) => match convert(value.clone(), &decl.ty) {
            Ok(v) => Some(v),
            Err(problem) => {
                diags.push(
                    Diag::error(format!(
                        "wrong type for variable `{}`: {problem}",
                        decl.name
                    ))
                    .at(file, span.clone())
                    .help(format!("`{}` is declared as {}", decl.name, decl.ty)),
                );
                None
            }
        },
        Some(Raw::Text { text, origin }) => match text_value(text, &decl.ty) {
            Ok(v) => Some(v),
            Err(problem) => {
                diags.push(
                    Diag::error(format!(
                        "wrong type for variable `{}` from {origin}: {problem}",
                        decl.name
                    ))
                    .help(format!("`{}` is declared as {}", decl.name, decl.ty)),
                );
                None
            }
        },
        None => match &decl.default {
            Some(default) => Some(default.clone()),
            None => {
                diags.push(
                    Diag::error(format!("variable `{}` has no value", decl.name))
                        .at(&decl.file, block_span(decl.block))
                        .label("no default")
                        .help(format!(
                            "set it with --var {0}=VALUE, in {VARS_FILE}, with LVSFORM_VAR_{0}, or give it a default",
                            decl.name
                        )),
                );
                None
            }
        },
    }
}

/// A value given as text: literal for strings, an HCL expression otherwise.
fn text_value(text: &str, ty: &Type) -> Result<Value, TypeError> {
    if *ty == Type::String {
        return Ok(Value::String(text.to_string()));
    }
    let expr = hcl::edit::parser::parse_expr(text).map_err(|e| TypeError::Unparsable {
        text: text.to_string(),
        message: e.message().to_string(),
    })?;
    let file = SourceFile::new("value", text.to_string());
    let empty = Map::new();
    let limits = Limits::default();
    let locals = Locals::new(Default::default(), &limits);
    let value = match Scope::new(&file, &empty, &locals).eval(&expr) {
        Ok(value) => value,
        Err(EvalError::At(diag)) => return Err(TypeError::Evaluation(diag.message)),
        Err(EvalError::Reported) => return Err(TypeError::Unevaluable(text.to_string())),
    };
    convert(value, ty)
}

fn read_vars_file(
    path: &Path,
    declarations: &[Declaration],
    raw: &mut Vec<(String, Raw)>,
    diags: &mut Diagnostics,
) {
    let Some(parsed) = parse_file(path, diags) else {
        return;
    };
    let empty = Map::new();
    let limits = Limits::default();
    let locals = Locals::new(Default::default(), &limits);
    let scope = Scope::new(&parsed.source, &empty, &locals);
    let mut reader = Reader::new(&scope, diags);
    for block in parsed.body.blocks() {
        reader
            .error(
                super::body::block_span(block),
                "a vars file holds only `name = value` assignments",
            )
            .help = Some("declare variables in a *.lvs.hcl file; set them here".into());
    }
    for attr in parsed.body.attributes() {
        let name = attr.key.as_str();
        if !declarations.iter().any(|d| d.name == name) {
            let span = attr.key.span().unwrap_or(0..0);
            let help = match suggest(name, declarations.iter().map(|d| d.name.as_str())) {
                Some(near) => format!("did you mean `{near}`?"),
                None => "declare it with a `variable` block, or remove this line".into(),
            };
            reader
                .error(
                    span,
                    format!("`{name}` is set here but no variable block declares it"),
                )
                .help = Some(help);
            continue;
        }
        if let Some(Spanned { value, span }) = reader.eval_attribute(attr) {
            raw.push((
                name.to_string(),
                Raw::Value {
                    value,
                    file: parsed.source.clone(),
                    span,
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(text: &str) -> Option<Type> {
        parse_type(&hcl::edit::parser::parse_expr(text).expect("parses"))
    }

    #[test]
    fn type_constraints() {
        assert_eq!(ty("string"), Some(Type::String));
        assert_eq!(
            ty("map(list(number))"),
            Some(Type::Map(Box::new(Type::List(Box::new(Type::Number)))))
        );
        assert_eq!(ty("strng"), None);
        assert_eq!(ty("list(string, number)"), None);
    }

    #[test]
    fn conversions() {
        assert_eq!(
            convert(Value::from(80), &Type::String),
            Ok(Value::from("80"))
        );
        assert_eq!(
            convert(Value::from("80"), &Type::Number),
            Ok(Value::from(80))
        );
        assert!(convert(Value::from("eighty"), &Type::Number).is_err());
        assert!(
            convert(
                Value::Array(vec![Value::from("x")]),
                &Type::List(Box::new(Type::Number))
            )
            .unwrap_err()
            .to_string()
            .starts_with("element 0: \"x\" is not a number")
        );
        assert_eq!(
            text_value("[1, 2]", &Type::List(Box::new(Type::Number))),
            Ok(Value::Array(vec![1.into(), 2.into()]))
        );
        assert_eq!(text_value("a b", &Type::String), Ok(Value::from("a b")));
        assert!(text_value("{", &Type::Map(Box::new(Type::String))).is_err());
    }
}
