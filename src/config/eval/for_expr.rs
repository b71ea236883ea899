//! For-expressions over lists and objects.

use super::*;

impl<'a> Scope<'a> {
    pub(super) fn for_expr(&self, for_expr: &ForExpr) -> EvalResult<Value> {
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
    pub(super) fn iterate(
        &self,
        expr: &Expression,
        value: Value,
    ) -> EvalResult<Vec<(Value, Value)>> {
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

    pub(super) fn child(&self) -> Scope<'a> {
        Scope {
            file: self.file,
            vars: self.vars,
            locals: self.locals,
            each: self.each,
            bindings: self.bindings.clone(),
        }
    }
}
