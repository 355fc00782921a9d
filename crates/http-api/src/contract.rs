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
}
