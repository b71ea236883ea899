//! The expression evaluator, over `hcl::edit` expressions so that every error points at the
//! sub-expression that caused it.
//!
//! hcl-rs ships an evaluator, but it panics on `5 % 0` and its errors carry no spans; ours
//! never panics on user input and knows where everything is.

use super::functions;
use super::value::{Map, as_f64, number_from_f64, suggest, type_name};
use crate::diag::{Diag, SourceFile};
use hcl::Value;
use hcl::edit::Span;
use hcl::edit::expr::{
    BinaryOperator, Expression, ForExpr, ObjectKey, TraversalOperator, UnaryOperator,
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
            Expression::FuncCall(call) => {
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
                functions::call(name, args).map_err(|failure| {
                    let mut err = self.error(call.name.name.span(), failure.message);
                    if let Some(help) = failure.help {
                        err = err.help(help);
                    }
                    if failure.unknown {
                        err = err.label("unknown function");
                    }
                    err
                })?
            }
            Expression::Traversal(traversal) => self.traversal(traversal)?,
            Expression::UnaryOp(op) => {
                let value = self.eval(&op.expr)?;
                match (op.operator.value(), value) {
                    (UnaryOperator::Not, Value::Bool(b)) => Value::Bool(!b),
                    (UnaryOperator::Neg, Value::Number(n)) => {
                        arith(span.clone(), self, BinaryOperator::Minus, 0.into(), n)?
                    }
                    (UnaryOperator::Not, other) => {
                        return Err(self.type_error(&op.expr, "bool", &other).into());
                    }
                    (UnaryOperator::Neg, other) => {
                        return Err(self.type_error(&op.expr, "number", &other).into());
                    }
                }
            }
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

    fn traversal(&self, traversal: &hcl::edit::expr::Traversal) -> EvalResult<Value> {
        let mut operators = traversal.operators.iter().peekable();
        // `var.x`, `local.x` and `each.value` are resolved by name, so that unknown names get
        // a precise message, locals are evaluated lazily, and nothing is copied but the
        // result.
        let root_name = traversal.expr.as_variable().map(|v| v.as_str());
        let shadowed = root_name.is_some_and(|n| self.bindings.iter().any(|(b, _)| b == n));
        let first = operators.peek().map(|op| op.value());
        let root = match (root_name, first, self.each) {
            (Some("local"), Some(TraversalOperator::GetAttr(name)), _) if !shadowed => {
                let span = join(traversal.expr.span(), name.span());
                operators.next();
                Root::Shared(self.local(name.as_str(), span)?)
            }
            (Some("var"), Some(TraversalOperator::GetAttr(name)), _) if !shadowed => {
                let span = join(traversal.expr.span(), name.span());
                operators.next();
                Root::Borrowed(self.var(name.as_str(), span)?)
            }
            (Some("each"), Some(TraversalOperator::GetAttr(name)), Some((key, value)))
                if !shadowed && matches!(name.as_str(), "key" | "value") =>
            {
                operators.next();
                if name.as_str() == "key" {
                    Root::Owned(Value::from(key))
                } else {
                    Root::Borrowed(value)
                }
            }
            _ => Root::Owned(self.eval(&traversal.expr)?),
        };
        let operators: Vec<_> = operators.collect();
        let mut current = root.get();
        for (i, op) in operators.iter().enumerate() {
            let span = op.span().or_else(|| traversal.span());
            if let TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) = op.value() {
                let items = match current {
                    Value::Array(items) => items.iter().collect(),
                    Value::Null => Vec::new(),
                    other => vec![other],
                };
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let mut item = item;
                    for op in &operators[i + 1..] {
                        item = self.lookup(op, item)?;
                    }
                    out.push(item.clone());
                }
                return Ok(Value::Array(out));
            }
            current = self.lookup(op, current).map_err(|e| relocate(e, span))?;
        }
        Ok(current.clone())
    }

    fn var(&self, name: &str, span: Option<Range<usize>>) -> EvalResult<&'a Value> {
        self.vars.get(name).ok_or_else(|| {
            let mut err = self
                .error(span, format!("unknown variable `var.{name}`"))
                .label("no `variable` block declares it");
            err = match suggest(name, self.vars.keys().map(String::as_str)) {
                Some(near) => err.help(format!("did you mean `var.{near}`?")),
                None => err.help(format!(
                    "declare it: variable \"{name}\" {{ type = string }}"
                )),
            };
            err.into()
        })
    }

    /// One step of a traversal, on a borrowed value.
    fn lookup<'v>(
        &self,
        op: &hcl::edit::Decorated<TraversalOperator>,
        value: &'v Value,
    ) -> EvalResult<&'v Value> {
        let span = op.span();
        match op.value() {
            TraversalOperator::GetAttr(name) => match value {
                Value::Object(map) => map.get(name.as_str()).ok_or_else(|| {
                    let err =
                        self.error(span, format!("object has no attribute `{}`", name.as_str()));
                    match suggest(name.as_str(), map.keys().map(String::as_str)) {
                        Some(near) => err.help(format!("did you mean `{near}`?")).into(),
                        None => err
                            .help(format!(
                                "its attributes: {}",
                                map.keys().cloned().collect::<Vec<_>>().join(", ")
                            ))
                            .into(),
                    }
                }),
                other => Err(self
                    .error(
                        span,
                        format!(
                            "cannot read attribute `{}` of a {}",
                            name.as_str(),
                            type_name(other)
                        ),
                    )
                    .help("only maps have attributes")
                    .into()),
            },
            TraversalOperator::Index(index_expr) => {
                let index = self.eval(index_expr)?;
                self.index(value, &index, index_expr.span())
            }
            TraversalOperator::LegacyIndex(index) => {
                self.index(value, &Value::from(*index.value()), span)
            }
            TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => Err(self
                .error(span, "nested splat expressions are not supported")
                .help("use a for expression: [for x in list : x.attr]")
                .into()),
        }
    }

    fn index<'v>(
        &self,
        value: &'v Value,
        index: &Value,
        span: Option<Range<usize>>,
    ) -> EvalResult<&'v Value> {
        match (value, index) {
            (Value::Array(items), Value::Number(n)) => {
                let len = items.len();
                n.as_u64()
                    .and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| items.get(i))
                    .ok_or_else(|| {
                        self.error(
                            span,
                            format!("index {n} is out of range for a list of {len}"),
                        )
                        .help("list indices start at 0")
                        .into()
                    })
            }
            (Value::Object(map), Value::String(key)) => map.get(key).ok_or_else(|| {
                let err = self.error(span, format!("no key \"{key}\" in this map"));
                match suggest(key, map.keys().map(String::as_str)) {
                    Some(near) => err.help(format!("did you mean \"{near}\"?")).into(),
                    None => err
                        .help("use lookup(map, key, default) for keys that may be missing")
                        .into(),
                }
            }),
            (value, index) => Err(self
                .error(
                    span,
                    format!(
                        "cannot index a {} with a {}",
                        type_name(value),
                        type_name(index)
                    ),
                )
                .help("index lists with numbers and maps with strings")
                .into()),
        }
    }

    fn binary(
        &self,
        span: Option<Range<usize>>,
        op: BinaryOperator,
        (lhs_expr, lhs): (&Expression, Value),
        (rhs_expr, rhs): (&Expression, Value),
    ) -> EvalResult<Value> {
        use BinaryOperator::*;
        match op {
            Eq => Ok(Value::Bool(lhs == rhs)),
            NotEq => Ok(Value::Bool(lhs != rhs)),
            And | Or => match (lhs, rhs) {
                (Value::Bool(a), Value::Bool(b)) => {
                    Ok(Value::Bool(if op == And { a && b } else { a || b }))
                }
                (Value::Bool(_), other) => Err(self.type_error(rhs_expr, "bool", &other).into()),
                (other, _) => Err(self.type_error(lhs_expr, "bool", &other).into()),
            },
            _ => {
                let a = self.number(lhs_expr, lhs)?;
                let b = self.number(rhs_expr, rhs)?;
                let (x, y) = (as_f64(a), as_f64(b));
                match op {
                    Less => Ok(Value::Bool(x < y)),
                    LessEq => Ok(Value::Bool(x <= y)),
                    Greater => Ok(Value::Bool(x > y)),
                    GreaterEq => Ok(Value::Bool(x >= y)),
                    _ => arith(span, self, op, a, b),
                }
            }
        }
    }

    fn number(&self, expr: &Expression, value: Value) -> EvalResult<hcl::Number> {
        match value {
            Value::Number(n) => Ok(n),
            Value::String(s) => s
                .parse::<f64>()
                .ok()
                .and_then(number_from_f64)
                .ok_or_else(|| self.type_error(expr, "number", &Value::String(s)).into()),
            other => Err(self.type_error(expr, "number", &other).into()),
        }
    }

    fn type_error(&self, expr: &Expression, expected: &str, got: &Value) -> Diag {
        self.error(
            expr.span(),
            format!("expected a {expected}, found a {}", type_name(got)),
        )
        .help(format!("this expression must give a {expected}"))
    }

    fn string_key(&self, expr: &Expression, key: Value) -> EvalResult<String> {
        match key {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(self.type_error(expr, "string key", &other).into()),
        }
    }

    fn for_expr(&self, for_expr: &ForExpr) -> EvalResult<Value> {
        let intro = &for_expr.intro;
        let collection = self.eval(&intro.collection_expr)?;
        let entries = self.iterate(&intro.collection_expr, collection)?;
        let key_name = intro.key_var.as_ref().map(|k| k.value().to_string());
        let value_name = intro.value_var.value().to_string();
        let mut list = Vec::new();
        let mut object = Map::new();
        for (key, value) in entries {
            let made = &self.locals.limits.values;
            if made.get() >= MAX_VALUES {
                return Err(self
                    .error(
                        for_expr.span(),
                        format!("for-expressions make more than {MAX_VALUES} values"),
                    )
                    .help("the configuration builds far larger collections than any director holds: look for nested for-expressions over large ranges")
                    .into());
            }
            made.set(made.get() + 1);
            let mut scope = self.child();
            if let Some(name) = &key_name {
                scope.bindings.push((name.clone(), key));
            }
            scope.bindings.push((value_name.clone(), value));
            if let Some(cond) = &for_expr.cond {
                match scope.eval(&cond.expr)? {
                    Value::Bool(true) => {}
                    Value::Bool(false) => continue,
                    other => return Err(self.type_error(&cond.expr, "bool", &other).into()),
                }
            }
            let item = scope.eval(&for_expr.value_expr)?;
            match &for_expr.key_expr {
                None => list.push(item),
                Some(key_expr) => {
                    let key = scope.string_key(key_expr, scope.eval(key_expr)?)?;
                    if for_expr.grouping {
                        match object
                            .entry(key)
                            .or_insert_with(|| Value::Array(Vec::new()))
                        {
                            Value::Array(group) => group.push(item),
                            _ => unreachable!("grouping entries are always lists"),
                        }
                    } else if object.contains_key(&key) {
                        return Err(self
                            .error(
                                key_expr.span(),
                                format!("duplicate key \"{key}\" in a for expression"),
                            )
                            .help("use `...` after the value to group values by key")
                            .into());
                    } else {
                        object.insert(key, item);
                    }
                }
            }
        }
        Ok(if for_expr.key_expr.is_some() {
            Value::Object(object)
        } else {
            Value::Array(list)
        })
    }

    /// Keys and values of a collection: indices for lists, keys in lexical order for maps
    /// (as Terraform iterates them).
    fn iterate(&self, expr: &Expression, value: Value) -> EvalResult<Vec<(Value, Value)>> {
        match value {
            Value::Array(items) => Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::from(i as u64), v))
                .collect()),
            Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(entries
                    .into_iter()
                    .map(|(k, v)| (Value::String(k), v))
                    .collect())
            }
            other => Err(self.type_error(expr, "list or map", &other).into()),
        }
    }

    fn child(&self) -> Scope<'a> {
        Scope {
            file: self.file,
            vars: self.vars,
            locals: self.locals,
            each: self.each,
            bindings: self.bindings.clone(),
        }
    }

    /// A quoted template that is a single interpolation yields its value unconverted
    /// (`"${var.port}"` is a number), as in HCL.
    fn template(&self, template: &Template, quoted: bool) -> EvalResult<Value> {
        if quoted && let Some(Element::Interpolation(interp)) = single_element(template) {
            return self.eval(&interp.expr);
        }
        let mut out = String::new();
        self.render(template, &mut out, &mut false)?;
        Ok(Value::String(out))
    }

    /// Renders template elements, honouring `~` strip markers: `strip_next` asks the next
    /// literal to drop its leading white space.
    fn render(
        &self,
        template: &Template,
        out: &mut String,
        strip_next: &mut bool,
    ) -> EvalResult<()> {
        for element in template.iter() {
            match element {
                Element::Literal(text) => {
                    let text = text.value().as_str();
                    out.push_str(if std::mem::take(strip_next) {
                        text.trim_start()
                    } else {
                        text
                    });
                }
                Element::Interpolation(interp) => {
                    strip_before(out, interp.strip);
                    let value = self.eval(&interp.expr)?;
                    out.push_str(&self.to_text(&interp.expr, value)?);
                    *strip_next = strips_after(interp.strip);
                }
                Element::Directive(directive) => match directive.as_ref() {
                    Directive::If(if_dir) => {
                        strip_before(out, if_dir.if_expr.strip);
                        let branch = match self.eval(&if_dir.if_expr.cond_expr)? {
                            Value::Bool(true) => {
                                *strip_next = strips_after(if_dir.if_expr.strip);
                                Some(&if_dir.if_expr.template)
                            }
                            Value::Bool(false) => if_dir.else_expr.as_ref().map(|e| {
                                *strip_next = strips_after(e.strip);
                                &e.template
                            }),
                            other => {
                                return Err(self
                                    .type_error(&if_dir.if_expr.cond_expr, "bool", &other)
                                    .into());
                            }
                        };
                        if let Some(branch) = branch {
                            self.render(branch, out, strip_next)?;
                        }
                        strip_before(out, if_dir.endif_expr.strip);
                        *strip_next = strips_after(if_dir.endif_expr.strip);
                    }
                    Directive::For(for_dir) => {
                        let intro = &for_dir.for_expr;
                        strip_before(out, intro.strip);
                        let collection = self.eval(&intro.collection_expr)?;
                        for (key, value) in self.iterate(&intro.collection_expr, collection)? {
                            let mut scope = self.child();
                            if let Some(k) = &intro.key_var {
                                scope.bindings.push((k.value().to_string(), key));
                            }
                            scope
                                .bindings
                                .push((intro.value_var.value().to_string(), value));
                            *strip_next = strips_after(intro.strip);
                            scope.render(&intro.template, out, strip_next)?;
                            strip_before(out, for_dir.endfor_expr.strip);
                        }
                        *strip_next = strips_after(for_dir.endfor_expr.strip);
                    }
                },
            }
        }
        Ok(())
    }

    fn to_text(&self, expr: &Expression, value: Value) -> EvalResult<String> {
        match value {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(self
                .error(
                    expr.span(),
                    format!("cannot interpolate a {} into a string", type_name(&other)),
                )
                .help("only strings, numbers and bools go into a template; use join() for lists")
                .into()),
        }
    }
}

fn single_element(template: &Template) -> Option<&Element> {
    let mut elements = template.iter();
    match (elements.next(), elements.next()) {
        (Some(element), None) => Some(element),
        _ => None,
    }
}

fn strip_before(out: &mut String, strip: Strip) {
    if matches!(strip, Strip::Start | Strip::Both) {
        out.truncate(out.trim_end().len());
    }
}

fn strips_after(strip: Strip) -> bool {
    matches!(strip, Strip::End | Strip::Both)
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

/// Checked arithmetic: integer operations stay exact; division and remainder by zero and
/// overflow are errors, never panics.
fn arith(
    span: Option<Range<usize>>,
    scope: &Scope,
    op: BinaryOperator,
    a: hcl::Number,
    b: hcl::Number,
) -> EvalResult<Value> {
    use BinaryOperator::*;
    if matches!(op, Div | Mod) && as_f64(b) == 0.0 {
        let what = if op == Div { "division" } else { "remainder" };
        return Err(scope
            .error(span, format!("{what} by zero"))
            .label("the right-hand side is 0")
            .help("guard the divisor, e.g. n == 0 ? 0 : x / n")
            .into());
    }
    let exact = match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => match op {
            Plus => x.checked_add(y),
            Minus => x.checked_sub(y),
            Mul => x.checked_mul(y),
            Mod => x.checked_rem(y),
            Div if x.checked_rem(y) == Some(0) => x.checked_div(y),
            _ => None,
        },
        _ => None,
    };
    if let Some(n) = exact {
        return Ok(Value::from(n));
    }
    let (x, y) = (as_f64(a), as_f64(b));
    let f = match op {
        Plus => x + y,
        Minus => x - y,
        Mul => x * y,
        Div => x / y,
        Mod => x % y,
        _ => unreachable!("only arithmetic operators reach arith"),
    };
    number_from_f64(f).map(Value::Number).ok_or_else(|| {
        scope
            .error(span, "arithmetic overflow")
            .help("numbers must stay within ±9.2e18")
            .into()
    })
}
