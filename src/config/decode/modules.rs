//! Module instances and `for_each`: what each instance of a block sees.

use super::*;

/// Module instances in one configuration: far more than any real one has, few enough that
/// modules calling modules several times cannot multiply without bound.
const MAX_MODULE_INSTANCES: usize = 10_000;

impl<'m> Decoder<'m, '_> {
    /// The name label of a block and its `for_each` instances.
    pub(super) fn named_instances(
        &mut self,
        scope: &Scope,
        block: &Block,
    ) -> Option<(String, Vec<Instance>)> {
        let name = Reader::new(scope, self.diags).labels(block, &["name"])?[0].to_string();
        Some((name, self.instances(scope, block)?))
    }

    /// `for_each` instances of a block: one `None` without `for_each`; a map gives its
    /// entries in key order, a list of strings gives each string as key and value.
    pub(super) fn instances(&mut self, scope: &Scope, block: &Block) -> Option<Vec<Instance>> {
        let mut reader = Reader::new(scope, self.diags);
        let Some(attr) = block.body.get_attribute("for_each") else {
            return Some(vec![None]);
        };
        let Spanned { value, span } = reader.eval_attribute(attr)?;
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Some(entries.into_iter().map(Some).collect())
            }
            Value::Array(items) => {
                let mut out = Vec::new();
                let mut seen = std::collections::HashSet::new();
                for item in items {
                    let key = match item {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        other => {
                            reader
                                .error(
                                    span,
                                    format!(
                                        "`for_each` over a list needs strings, found a {}",
                                        type_name(&other)
                                    ),
                                )
                                .help = Some(
                                "use a map (each.key, each.value) or a list of strings".into(),
                            );
                            return None;
                        }
                    };
                    if !seen.insert(key.clone()) {
                        reader
                            .error(
                                span.clone(),
                                format!("`for_each` list holds \"{key}\" twice"),
                            )
                            .help = Some("each instance needs a unique key".into());
                        return None;
                    }
                    out.push(Some((key.clone(), Value::String(key))));
                }
                out.sort_by(|a, b| a.as_ref().map(|x| &x.0).cmp(&b.as_ref().map(|x| &x.0)));
                Some(out)
            }
            other => {
                reader
                    .error(
                        span,
                        format!(
                            "`for_each` needs a map or a list of strings, found a {}",
                            type_name(&other)
                        ),
                    )
                    .help = Some("use a map (each.key, each.value) or a list of strings".into());
                None
            }
        }
    }

    pub(super) fn module(
        &mut self,
        scope: &Scope,
        block: &Block,
        called: usize,
        parent: Option<&Address>,
    ) {
        let module = &self.modules.modules[called];
        let declarations = declarations(module, self.diags);
        let Some((name, instances)) = self.named_instances(scope, block) else {
            return;
        };
        for instance in instances {
            self.instances += 1;
            if self.instances > MAX_MODULE_INSTANCES {
                Reader::new(scope, self.diags)
                    .error(
                        block_span(block),
                        format!("the configuration instantiates more than {MAX_MODULE_INSTANCES} modules"),
                    )
                    .help = Some("modules that call modules several times multiply: flatten the calls, or use for_each on resources".into());
                return;
            }
            let scope = &scope.for_instance(instance.as_ref().map(|(k, v)| (k.as_str(), v)));
            let key = instance.as_ref().map(|(k, _)| k.as_str());
            let address = Address::block(parent, "module", &name, key);
            let mut reader = Reader::new(scope, self.diags);
            if let Some(values) = module_inputs(&mut reader, block, &name, &declarations) {
                self.instance(called, Some(&address), &values);
            }
        }
    }
}

/// The inputs a module block gives its module, checked against its variables (defaults
/// filled in); none when any is wrong or missing (each reported).
fn module_inputs(
    reader: &mut Reader,
    block: &Block,
    name: &str,
    declarations: &[Declaration],
) -> Option<Map> {
    let mut values = Map::new();
    let mut complete = true;
    for attr in block.body.attributes() {
        let input = attr.key.as_str();
        if input == "source" || input == "for_each" {
            continue;
        }
        let Some(decl) = declarations.iter().find(|d| d.name == input) else {
            let help = match suggest(input, declarations.iter().map(|d| d.name.as_str())) {
                Some(near) => format!("did you mean `{near}`?"),
                None if declarations.is_empty() => "this module declares no variables".to_string(),
                None => format!(
                    "the module's variables: {}",
                    declarations
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let span = attr.key.span().unwrap_or(0..0);
            reader
                .error(span, format!("unknown input `{input}` for module `{name}`"))
                .help = Some(help);
            complete = false;
            continue;
        };
        let Some(Spanned { value, span }) = reader.eval_attribute(attr) else {
            complete = false;
            continue;
        };
        match vars::convert(value, &decl.ty) {
            Ok(value) => {
                values.insert(input.to_string(), value);
            }
            Err(problem) => {
                reader
                    .error(
                        span,
                        format!("wrong type for module input `{input}`: {problem}"),
                    )
                    .help = Some(format!("the module declares `{input}` as {}", decl.ty));
                complete = false;
            }
        }
    }
    for decl in declarations {
        if values.contains_key(&decl.name) || block.body.get_attribute(&decl.name).is_some() {
            continue;
        }
        match &decl.default {
            Some(default) => {
                values.insert(decl.name.clone(), default.clone());
            }
            None => {
                reader
                    .error(
                        block_span(block),
                        format!("module `{name}` needs the input `{}`", decl.name),
                    )
                    .help = Some(format!(
                    "add {} = … to the module block (declared as {})",
                    decl.name, decl.ty
                ));
                complete = false;
            }
        }
    }
    complete.then_some(values)
}
