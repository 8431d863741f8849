//! `components.schemas` of the AsyncAPI document: every payload schema and the `$defs` it
//! brings, hoisted to the top so each `$ref` resolves from the document root.
//!
//! A generated payload schema is a standalone JSON Schema: a `$schema` key, its own types
//! under `$defs`, and refs like `#/$defs/Mailbox` (or `#` for the root itself) that only
//! resolve inside that schema. Here the root and each `$def` become components, the refs are
//! rewritten to `#/components/schemas/{name}` and `$schema` is dropped. Components with the
//! same name and shape are shared between events; when a name is taken by a different shape,
//! this event's component is renamed `{message}.{name}`.

use serde_json::{Map, Value};

use crate::key;

const COMPONENT_PREFIX: &str = "#/components/schemas/";

/// The schemas gathered so far, by component name.
#[derive(Debug, Default)]
pub(crate) struct SchemaComponents {
    schemas: Map<String, Value>,
}

/// One schema of a payload before it is placed: the root or a `$def`.
struct Local {
    /// Its name when nothing collides.
    name: String,
    /// Whether it moved to `{message}.{name}` because `name` holds another shape.
    renamed: bool,
    schema: Value,
}

impl SchemaComponents {
    /// Adds the payload `schema` of message `message_id`, whose root is named `root_name`,
    /// and returns the `$ref` of its root.
    pub(crate) fn add(&mut self, message_id: &str, root_name: &str, mut schema: Value) -> String {
        let defs = match schema.as_object_mut() {
            Some(root) => {
                root.remove("$schema");
                match root.remove("$defs") {
                    Some(Value::Object(defs)) => defs,
                    _ => Map::new(),
                }
            }
            None => Map::new(),
        };
        // Index 0 is the root; a `$def` named like the root starts out renamed.
        let mut locals = vec![Local {
            name: key(root_name),
            renamed: false,
            schema,
        }];
        let mut pointers = vec![String::new()];
        for (name, def) in defs {
            let renamed = key(&name) == locals[0].name;
            pointers.push(format!("/$defs/{}", escape_pointer(&name)));
            locals.push(Local {
                name: key(&name),
                renamed,
                schema: def,
            });
        }

        // Renaming one schema changes the refs inside the others, which may then differ
        // from a shared component they matched before: repeat until nothing moves.
        loop {
            let names: Vec<String> = locals
                .iter()
                .map(|local| match local.renamed {
                    true => format!("{message_id}.{}", local.name),
                    false => local.name.clone(),
                })
                .collect();
            let rewritten: Vec<Value> = locals
                .iter()
                .map(|local| rewrite_refs(local.schema.clone(), &pointers, &names))
                .collect();
            let mut moved = false;
            for (local, schema) in locals.iter_mut().zip(&rewritten) {
                let taken = self
                    .schemas
                    .get(&local.name)
                    .is_some_and(|held| held != schema);
                if !local.renamed && taken {
                    local.renamed = true;
                    moved = true;
                }
            }
            if !moved {
                let root = format!("{COMPONENT_PREFIX}{}", names[0]);
                for (name, schema) in names.into_iter().zip(rewritten) {
                    self.schemas.insert(name, schema);
                }
                return root;
            }
        }
    }

    /// The gathered schemas, for `components.schemas`.
    pub(crate) fn into_map(self) -> Map<String, Value> {
        self.schemas
    }
}

/// Rewrites every local `$ref` of `schema` (`#`, `#/$defs/{name}`, and pointers below them)
/// to the component that now holds its target; `pointers[i]` is placed under `names[i]`.
fn rewrite_refs(mut schema: Value, pointers: &[String], names: &[String]) -> Value {
    match &mut schema {
        Value::Object(object) => {
            for (field, value) in object.iter_mut() {
                let rewritten = match (field.as_str(), &*value) {
                    ("$ref", Value::String(reference)) => {
                        relocate(reference, pointers, names).map(Value::String)
                    }
                    _ => None,
                };
                *value = match rewritten {
                    Some(rewritten) => rewritten,
                    None => rewrite_refs(value.take(), pointers, names),
                };
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = rewrite_refs(item.take(), pointers, names);
            }
        }
        _ => {}
    }
    schema
}

/// The new address of a local `reference`, or `None` when it is not local.
fn relocate(reference: &str, pointers: &[String], names: &[String]) -> Option<String> {
    let pointer = reference.strip_prefix('#')?;
    // The longest matching pointer wins, so `/$defs/A` is not taken for the root `` prefix.
    let (index, rest) = pointers
        .iter()
        .enumerate()
        .filter_map(|(index, target)| {
            let rest = pointer.strip_prefix(target.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((index, rest))
        })
        .max_by_key(|(index, _)| pointers[*index].len())?;
    Some(format!("{COMPONENT_PREFIX}{}{rest}", names[index]))
}

/// A JSON pointer reference token (RFC 6901).
fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(schemas: &[(&str, &str, Value)], expected_refs: &[&str], expected: Value) {
        let mut components = SchemaComponents::default();
        let refs: Vec<String> = schemas
            .iter()
            .map(|(message, root, schema)| components.add(message, root, schema.clone()))
            .collect();
        assert_eq!(refs, expected_refs);
        assert_eq!(Value::Object(components.into_map()), expected);
    }

    #[test]
    fn defs_are_hoisted_and_schema_dropped() {
        check(
            &[(
                "a.created",
                "Created",
                json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "title": "Created",
                    "properties": {
                        "item": {"$ref": "#/$defs/Item"},
                        "parent": {"$ref": "#"},
                        "name": {"$ref": "#/$defs/Item/properties/name"}
                    },
                    "$defs": {"Item": {"properties": {"name": {"type": "string"}}}}
                }),
            )],
            &["#/components/schemas/Created"],
            json!({
                "Created": {
                    "title": "Created",
                    "properties": {
                        "item": {"$ref": "#/components/schemas/Item"},
                        "parent": {"$ref": "#/components/schemas/Created"},
                        "name": {"$ref": "#/components/schemas/Item/properties/name"}
                    }
                },
                "Item": {"properties": {"name": {"type": "string"}}}
            }),
        );
    }

    #[test]
    fn identical_schemas_are_shared() {
        let schema = json!({"properties": {"item": {"$ref": "#/$defs/Item"}}, "$defs": {"Item": {"type": "string"}}});
        check(
            &[("a", "Event", schema.clone()), ("b", "Event", schema)],
            &["#/components/schemas/Event", "#/components/schemas/Event"],
            json!({
                "Event": {"properties": {"item": {"$ref": "#/components/schemas/Item"}}},
                "Item": {"type": "string"}
            }),
        );
    }

    #[test]
    fn a_different_shape_under_a_taken_name_is_renamed_with_its_dependents() {
        let first = json!({"properties": {"item": {"$ref": "#/$defs/Item"}}, "$defs": {"Item": {"type": "string"}}});
        let second = json!({"properties": {"item": {"$ref": "#/$defs/Item"}}, "$defs": {"Item": {"type": "integer"}}});
        check(
            &[("a", "Event", first), ("b", "Event", second)],
            &["#/components/schemas/Event", "#/components/schemas/b.Event"],
            json!({
                "Event": {"properties": {"item": {"$ref": "#/components/schemas/Item"}}},
                "Item": {"type": "string"},
                "b.Event": {"properties": {"item": {"$ref": "#/components/schemas/b.Item"}}},
                "b.Item": {"type": "integer"}
            }),
        );
    }

    #[test]
    fn foreign_refs_are_kept() {
        check(
            &[(
                "a",
                "Event",
                json!({"$ref": "https://example.com/schema.json"}),
            )],
            &["#/components/schemas/Event"],
            json!({"Event": {"$ref": "https://example.com/schema.json"}}),
        );
    }
}
