//! The OpenAPI document as published (`/openapi.json` and `openapi/openapi.json`): poem-openapi's,
//! with what client generators stumble on rewritten. A documented field whose type is a named
//! enum comes out as `allOf: [{$ref}, {description}]`, and `allOf` over a non-object makes
//! openapi-python-client drop the whole schema and every operation that uses it ("Cannot take
//! allOf a non-object"). Such a field becomes `{$ref, description}`: the same type, with its
//! description beside the reference (which OpenAPI 3.1 reads and 3.0 tools ignore).

use serde_json::{Map, Value};

/// `spec` (poem-openapi's JSON) with enum-typed fields referenced directly.
#[must_use]
pub(crate) fn published(spec: &str) -> String {
    let Ok(mut document) = serde_json::from_str::<Value>(spec) else {
        return spec.to_owned();
    };
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return spec.to_owned();
    };
    let objects: std::collections::HashSet<String> = schemas
        .iter()
        .filter(|(_, schema)| schema.get("type").and_then(Value::as_str) == Some("object"))
        .map(|(name, _)| format!("#/components/schemas/{name}"))
        .collect();
    for schema in schemas.values_mut() {
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for property in properties.values_mut() {
            if let Some(direct) = direct_reference(property, &objects) {
                *property = direct;
            }
        }
    }
    let mut json = serde_json::to_string_pretty(&document).unwrap_or_else(|_| spec.to_owned());
    json.push('\n');
    json
}

/// `{$ref, description}` for a property that is `allOf` of one reference to a non-object and a
/// description.
fn direct_reference(
    property: &Value,
    objects: &std::collections::HashSet<String>,
) -> Option<Value> {
    let [reference, described] = property.get("allOf")?.as_array()?.as_slice() else {
        return None;
    };
    let target = reference.get("$ref")?.as_str()?;
    if objects.contains(target) || reference.as_object()?.len() != 1 {
        return None;
    }
    let mut direct = Map::new();
    direct.insert("$ref".to_owned(), Value::String(target.to_owned()));
    for (key, value) in described.as_object()? {
        direct.insert(key.clone(), value.clone());
    }
    // Anything else beside the allOf (a default, say) stays.
    for (key, value) in property.as_object()? {
        if key != "allOf" {
            direct.insert(key.clone(), value.clone());
        }
    }
    Some(Value::Object(direct))
}

/// The paths of the spec with their methods, for the `Allow` header of a 405 and for naming the
/// path parameter a request got wrong.
#[derive(Debug, Default)]
pub(crate) struct Methods {
    /// Each path template as segments with its methods, `GET, POST`.
    routes: Vec<(Vec<Segment>, String)>,
}

/// One segment of a path template.
#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// A parameter, by name.
    Param(String),
}

impl Methods {
    /// The paths and methods of `spec` (the published JSON).
    pub(crate) fn of(spec: &str) -> Self {
        let document: Value = serde_json::from_str(spec).unwrap_or_default();
        let routes = document["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(template, item)| {
                let segments = template
                    .split('/')
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(name) => Segment::Param(name.to_owned()),
                            None => Segment::Literal(s.to_owned()),
                        },
                    )
                    .collect();
                let declared: Vec<String> = item
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(method, _)| method.to_ascii_uppercase())
                    .collect();
                // In one order whatever the spec's.
                let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
                    .into_iter()
                    .filter(|m| declared.iter().any(|d| d == m))
                    .collect::<Vec<_>>()
                    .join(", ");
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods of the path template `path` matches (the one with the most literal segments
    /// when several do: `/documents/text` before `/documents/{document_id}`).
    pub(crate) fn allowed(&self, path: &str) -> Option<&str> {
        self.route(path).map(|(_, methods)| methods.as_str())
    }

    /// The name of the first path parameter of `path` that is not a UUID (every path parameter
    /// of the API is an id), to name it in the error instead of the framework's `param2`.
    pub(crate) fn malformed_id(&self, path: &str) -> Option<&str> {
        let (segments, _) = self.route(path)?;
        segments
            .iter()
            .zip(path.split('/'))
            .find_map(|(segment, part)| match segment {
                Segment::Param(name) if uuid::Uuid::parse_str(part).is_err() => Some(name.as_str()),
                Segment::Param(_) | Segment::Literal(_) => None,
            })
    }

    /// The route `path` matches: the one with the most literal segments when several do.
    fn route(&self, path: &str) -> Option<&(Vec<Segment>, String)> {
        let parts: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .filter(|(segments, _)| {
                segments.len() == parts.len()
                    && segments.iter().zip(&parts).all(|(s, p)| match s {
                        Segment::Literal(literal) => literal == p,
                        Segment::Param(_) => true,
                    })
            })
            .max_by_key(|(segments, _)| {
                segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_enum_fields_reference_their_enum_directly() {
        let spec = serde_json::json!({
            "openapi": "3.0.0",
            "components": {"schemas": {
                "Role": {"type": "string", "enum": ["owner", "member"]},
                "User": {"type": "object", "properties": {"id": {"type": "string"}}},
                "Invite": {"type": "object", "properties": {
                    "role": {"allOf": [{"$ref": "#/components/schemas/Role"}, {"description": "The role."}]},
                    "by": {"allOf": [{"$ref": "#/components/schemas/User"}, {"description": "Who."}]},
                    "note": {"type": "string"}
                }}
            }}
        });
        let published: Value = serde_json::from_str(&published(&spec.to_string())).unwrap();
        let properties = &published["components"]["schemas"]["Invite"]["properties"];
        assert_eq!(
            properties["role"],
            serde_json::json!({"$ref": "#/components/schemas/Role", "description": "The role."})
        );
        // References to objects keep their allOf, which generators read; the rest is untouched.
        assert_eq!(
            properties["by"],
            spec["components"]["schemas"]["Invite"]["properties"]["by"]
        );
        assert_eq!(properties["note"], serde_json::json!({"type": "string"}));
    }

    #[test]
    fn methods_are_found_by_path_template() {
        let spec = serde_json::json!({"paths": {
            "/v1/orgs": {"post": {}, "get": {}},
            "/v1/orgs/{org_id}/documents/{document_id}": {"get": {}, "delete": {}},
            "/v1/orgs/{org_id}/documents/text": {"post": {}}
        }});
        let methods = Methods::of(&spec.to_string());
        assert_eq!(methods.allowed("/v1/orgs"), Some("GET, POST"));
        assert_eq!(
            methods.allowed("/v1/orgs/x/documents/y"),
            Some("GET, DELETE")
        );
        assert_eq!(methods.allowed("/v1/orgs/x/documents/text"), Some("POST"));
        assert_eq!(methods.allowed("/v1/nothing"), None);
        let id = "00000000-0000-0000-0000-000000000000";
        assert_eq!(
            methods.malformed_id(&format!("/v1/orgs/{id}/documents/nope")),
            Some("document_id")
        );
        assert_eq!(
            methods.malformed_id(&format!("/v1/orgs/x/documents/{id}")),
            Some("org_id")
        );
        assert_eq!(
            methods.malformed_id(&format!("/v1/orgs/{id}/documents/{id}")),
            None
        );
    }
}
