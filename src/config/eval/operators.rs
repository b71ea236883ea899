//! Operators: arithmetic, comparison and logic, with the type errors they raise.

use super::*;

impl<'a> Scope<'a> {
    pub(super) fn binary(
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

    pub(super) fn number(&self, expr: &Expression, value: Value) -> EvalResult<hcl::Number> {
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

    pub(super) fn type_error(&self, expr: &Expression, expected: &str, got: &Value) -> Diag {
        self.error(
            expr.span(),
            format!("expected a {expected}, found a {}", type_name(got)),
        )
        .help(format!("this expression must give a {expected}"))
    }

    pub(super) fn string_key(&self, expr: &Expression, key: Value) -> EvalResult<String> {
        match key {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(self.type_error(expr, "string key", &other).into()),
        }
    }
}

/// Checked arithmetic: integer operations stay exact; division and remainder by zero and
/// overflow are errors, never panics.
pub(super) fn arith(
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
