//! String templates and heredocs: interpolations, directives and their strip markers.

use super::*;

impl<'a> Scope<'a> {
    /// A quoted template that is a single interpolation yields its value unconverted
    /// (`"${var.port}"` is a number), as in HCL.
    pub(super) fn template(&self, template: &Template, quoted: bool) -> EvalResult<Value> {
        if quoted && let Some(Element::Interpolation(interp)) = single_element(template) {
            return self.eval(&interp.expr);
        }
        let mut out = String::new();
        self.render(template, &mut out, &mut false)?;
        Ok(Value::String(out))
    }

    /// Renders template elements, honouring `~` strip markers: `strip_next` asks the next
    /// literal to drop its leading white space.
    pub(super) fn render(
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

    pub(super) fn to_text(&self, expr: &Expression, value: Value) -> EvalResult<String> {
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

pub(super) fn single_element(template: &Template) -> Option<&Element> {
    let mut elements = template.iter();
    match (elements.next(), elements.next()) {
        (Some(element), None) => Some(element),
        _ => None,
    }
}

pub(super) fn strip_before(out: &mut String, strip: Strip) {
    if matches!(strip, Strip::Start | Strip::Both) {
        out.truncate(out.trim_end().len());
    }
}

pub(super) fn strips_after(strip: Strip) -> bool {
    matches!(strip, Strip::End | Strip::Both)
}
