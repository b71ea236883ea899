//! The expression evaluator, over `hcl::edit` expressions so that every error points at the
//! sub-expression that caused it.
//!
//! hcl-rs ships an evaluator, but it panics on `5 % 0` and its errors carry no spans; ours
//! never panics on user input and knows where everything is.

mod for_expr;
mod operators;
mod template;
mod traversal;

use operators::arith;

use super::functions;
use super::value::{Map, as_f64, number_from_f64, suggest, type_name};
use crate::diag::{Diag, SourceFile};
use hcl::Value;
use hcl::edit::Span;
use hcl::edit::expr::{
    BinaryOperator, Expression, ForExpr, FuncCall, ObjectKey, TraversalOperator, UnaryOp,
    UnaryOperator,
};
use hcl::edit::template::{Directive, Element, Strip, Template};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

/// Why an evaluation failed. `Reported` means the cause was already reported elsewhere
/// (a broken local referenced from many places is reported once, at its definition).
#[derive(Debug)]
pub enum EvalError {
    At(Box<Diag>),
    Reported,
}

impl From<Diag> for EvalError {
    fn from(diag: Diag) -> Self {
        EvalError::At(Box::new(diag))
    }
}

pub type EvalResult<T> = Result<T, EvalError>;

/// What one configuration may cost to evaluate, whatever it says: no expression may nest
/// (through operators or local values) deeper than the stack allows, and for-expressions
/// together may make only so many values.
#[derive(Debug, Default)]
pub struct Limits {
    depth: Cell<usize>,
    values: Cell<usize>,
}

/// Nesting far beyond any real configuration, well within the stack `config::load` gives
/// evaluation.
pub const MAX_DEPTH: usize = 1_000;
/// Values made by for-expressions in one load: many times a configuration of 50,000 real
/// servers, a few hundred megabytes at most.
pub const MAX_VALUES: usize = 2_000_000;

/// The `local` values of one module, evaluated on first use.
pub struct Locals<'a> {
    definitions: HashMap<String, (&'a Expression, Arc<SourceFile>)>,
    values: RefCell<HashMap<String, LocalSlot>>,
    limits: &'a Limits,
}

#[derive(Clone)]
enum LocalSlot {
    Evaluating,
    Done(Rc<Value>),
    Failed,
}

impl<'a> Locals<'a> {
    pub fn new(
        definitions: HashMap<String, (&'a Expression, Arc<SourceFile>)>,
        limits: &'a Limits,
    ) -> Self {
        Locals {
            definitions,
            values: RefCell::default(),
            limits,
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.definitions.keys().map(String::as_str)
    }
}

/// What names mean while evaluating one expression.
pub struct Scope<'a> {
    pub file: &'a Arc<SourceFile>,
    pub vars: &'a Map,
    pub locals: &'a Locals<'a>,
    /// `each.key` and `each.value` inside a `for_each` block.
    pub each: Option<(&'a str, &'a Value)>,
    /// Names bound by enclosing `for` expressions and template directives.
    bindings: Vec<(String, Value)>,
}

/// Where a traversal starts: borrowed from the scope when the value lives there.
enum Root<'v> {
    Borrowed(&'v Value),
    Shared(Rc<Value>),
    Owned(Value),
}

impl Root<'_> {
    fn get(&self) -> &Value {
        match self {
            Root::Borrowed(v) => v,
            Root::Shared(v) => v,
            Root::Owned(v) => v,
        }
    }
}

impl<'a> Scope<'a> {
    pub fn new(file: &'a Arc<SourceFile>, vars: &'a Map, locals: &'a Locals<'a>) -> Self {
        Scope {
            file,
            vars,
            locals,
            each: None,
            bindings: Vec::new(),
        }
    }

    /// The scope of one `for_each` instance: `each` as given, or the enclosing one when the
    /// block has no `for_each`.
    pub fn for_instance<'b>(&'b self, each: Option<(&'b str, &'b Value)>) -> Scope<'b> {
        Scope {
            file: self.file,
            vars: self.vars,
            locals: self.locals,
            each: each.or(self.each),
            bindings: self.bindings.clone(),
        }
    }

    fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Diag {
        Diag::error(message).at(self.file, span.unwrap_or(0..0))
    }

    /// Evaluates every local once, reporting each failure at its definition.
    pub fn evaluate_all_locals(&self, report: &mut dyn FnMut(Diag)) {
        let mut names: Vec<&String> = self.locals.definitions.keys().collect();
        names.sort();
        for name in names {
            if let Err(EvalError::At(diag)) = self.local(name, None) {
                report(*diag);
            }
        }
    }

    fn local(&self, name: &str, span: Option<Range<usize>>) -> EvalResult<Rc<Value>> {
        let slot = self.locals.values.borrow().get(name).cloned();
        match slot {
            Some(LocalSlot::Done(value)) => return Ok(value),
            Some(LocalSlot::Failed) => return Err(EvalError::Reported),
            Some(LocalSlot::Evaluating) => {
                return Err(self
                    .error(span, format!("local.{name} refers to itself"))
                    .label("cycle")
                    .help("a local value cannot depend on its own value, directly or through other locals")
                    .into());
            }
            None => {}
        }
        let Some((expr, file)) = self.locals.definitions.get(name) else {
            let mut err = self
                .error(span, format!("unknown local value `local.{name}`"))
                .label("not declared in a `locals` block");
            if let Some(near) = suggest(name, self.locals.names()) {
                err = err.help(format!("did you mean `local.{near}`?"));
            }
            return Err(err.into());
        };
        self.locals
            .values
            .borrow_mut()
            .insert(name.to_string(), LocalSlot::Evaluating);
        let result = Scope::new(file, self.vars, self.locals)
            .eval(expr)
            .map(Rc::new);
        let slot = match &result {
            Ok(value) => LocalSlot::Done(value.clone()),
            Err(_) => LocalSlot::Failed,
        };
        self.locals
            .values
            .borrow_mut()
            .insert(name.to_string(), slot);
        result
    }

    pub fn eval(&self, expr: &Expression) -> EvalResult<Value> {
        let depth = &self.locals.limits.depth;
        if depth.get() >= MAX_DEPTH {
            return Err(self
                .error(
                    expr.span(),
                    format!("this expression nests deeper than {MAX_DEPTH} levels"),
                )
                .help("local values that refer to each other, or operators, nest too deep here: build the value in fewer steps")
                .into());
        }
        depth.set(depth.get() + 1);
        let value = self.eval_nested(expr);
        depth.set(depth.get() - 1);
        value
    }

    fn eval_nested(&self, expr: &Expression) -> EvalResult<Value> {
        let span = expr.span();
        Ok(match expr {
            Expression::Null(_) => Value::Null,
            Expression::Bool(b) => Value::Bool(*b.value()),
            Expression::Number(n) => Value::Number(*n.value()),
            Expression::String(s) => Value::String(s.value().clone()),
            Expression::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.eval(item))
                    .collect::<EvalResult<_>>()?,
            ),
            Expression::Object(object) => {
                let mut map = Map::new();
                for (key, value) in object.iter() {
                    let key = match key {
                        ObjectKey::Ident(ident) => ident.value().to_string(),
                        ObjectKey::Expression(key_expr) => {
                            self.string_key(key_expr, self.eval(key_expr)?)?
                        }
                    };
                    map.insert(key, self.eval(value.expr())?);
                }
                Value::Object(map)
            }
            Expression::StringTemplate(template) => self.template(template, true)?,
            Expression::HeredocTemplate(heredoc) => self.template(&heredoc.template, false)?,
            Expression::Parenthesis(inner) => self.eval(inner.inner())?,
            Expression::Variable(name) => self.variable(name.value().as_str(), span)?,
            Expression::Conditional(cond) => match self.eval(&cond.cond_expr)? {
                Value::Bool(true) => self.eval(&cond.true_expr)?,
                Value::Bool(false) => self.eval(&cond.false_expr)?,
                other => return Err(self.type_error(&cond.cond_expr, "bool", &other).into()),
            },
            Expression::FuncCall(call) => self.call(call, span)?,
            Expression::Traversal(traversal) => self.traversal(traversal)?,
            Expression::UnaryOp(op) => self.unary(op, span)?,
            Expression::BinaryOp(op) => {
                let lhs = self.eval(&op.lhs_expr)?;
                let rhs = self.eval(&op.rhs_expr)?;
                self.binary(
                    span,
                    *op.operator.value(),
                    (&op.lhs_expr, lhs),
                    (&op.rhs_expr, rhs),
                )?
            }
            Expression::ForExpr(for_expr) => self.for_expr(for_expr)?,
        })
    }

    /// A function call: its arguments evaluated (a final list expanded with `...`).
    fn call(&self, call: &FuncCall, span: Option<Range<usize>>) -> EvalResult<Value> {
        let name = call.name.name.value().as_str();
        let mut args = Vec::with_capacity(call.args.len());
        for arg in call.args.iter() {
            args.push(self.eval(arg)?);
        }
        if call.args.expand_final() {
            match args.pop() {
                Some(Value::Array(rest)) => args.extend(rest),
                _ => {
                    return Err(self
                        .error(span, "only a list can be expanded with `...`")
                        .help("put `...` after a list argument: f(list...)")
                        .into());
                }
            }
        }
        if !call.name.namespace.is_empty() {
            return Err(self
                .error(span, "namespaced functions are not supported")
                .help(format!(
                    "available functions: {}",
                    functions::names().collect::<Vec<_>>().join(", ")
                ))
                .into());
        }
        Ok(functions::call(name, args).map_err(|failure| {
            let mut err = self.error(call.name.name.span(), failure.message);
            if let Some(help) = failure.help {
                err = err.help(help);
            }
            if failure.unknown {
                err = err.label("unknown function");
            }
            err
        })?)
    }

    fn unary(&self, op: &UnaryOp, span: Option<Range<usize>>) -> EvalResult<Value> {
        let value = self.eval(&op.expr)?;
        match (op.operator.value(), value) {
            (UnaryOperator::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
            (UnaryOperator::Neg, Value::Number(n)) => {
                arith(span, self, BinaryOperator::Minus, 0.into(), n)
            }
            (UnaryOperator::Not, other) => Err(self.type_error(&op.expr, "bool", &other).into()),
            (UnaryOperator::Neg, other) => Err(self.type_error(&op.expr, "number", &other).into()),
        }
    }

    fn variable(&self, name: &str, span: Option<Range<usize>>) -> EvalResult<Value> {
        if let Some((_, value)) = self.bindings.iter().rev().find(|(n, _)| n == name) {
            return Ok(value.clone());
        }
        match name {
            "var" => Ok(Value::Object(self.vars.clone())),
            "each" => match self.each {
                Some((key, value)) => Ok(Value::Object(Map::from_iter([
                    ("key".to_string(), Value::from(key)),
                    ("value".to_string(), value.clone()),
                ]))),
                None => Err(self
                    .error(
                        span,
                        "`each` is only available inside a block with `for_each`",
                    )
                    .help(
                        "add for_each to the enclosing virtual_server, real_server or module block",
                    )
                    .into()),
            },
            "local" => Err(self
                .error(span, "`local` must be followed by a name: local.NAME")
                .into()),
            _ => {
                let mut err = self
                    .error(span, format!("unknown variable `{name}`"))
                    .label("not defined here");
                let bound = self.bindings.iter().map(|(n, _)| n.as_str());
                err = match suggest(name, bound.chain(["var", "local", "each"])) {
                    Some(near) => err.help(format!("did you mean `{near}`?")),
                    None => err.help(format!(
                        "input variables are referenced as `var.{name}`, local values as `local.{name}`"
                    )),
                };
                Err(err.into())
            }
        }
    }
}

/// Points an error that has no place of its own at the given span.
fn relocate(err: EvalError, span: Option<Range<usize>>) -> EvalError {
    match (err, span) {
        (EvalError::At(mut diag), Some(span)) => {
            if let Some(loc) = &mut diag.location
                && loc.span.is_empty()
            {
                loc.span = span;
            }
            EvalError::At(diag)
        }
        (err, _) => err,
    }
}

fn join(a: Option<Range<usize>>, b: Option<Range<usize>>) -> Option<Range<usize>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.start..b.end),
        (a, b) => a.or(b),
    }
}
