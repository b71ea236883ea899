//! Traversals: attribute access, indexes and splats over evaluated values.

use super::*;

impl<'a> Scope<'a> {
    pub(super) fn traversal(&self, traversal: &hcl::edit::expr::Traversal) -> EvalResult<Value> {
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

    pub(super) fn var(&self, name: &str, span: Option<Range<usize>>) -> EvalResult<&'a Value> {
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
    pub(super) fn lookup<'v>(
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

    pub(super) fn index<'v>(
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
}
