//! The OpenAPI document as published (`/openapi.json` and `openapi/openapi.json`): poem-openapi's,
//! with what client generators stumble on rewritten. A documented field whose type is a named
//! enum comes out as `allOf: [{$ref}, {description}]`, and `allOf` over a non-object makes
//! openapi-python-client drop the whole schema and every operation that uses it ("Cannot take
//! allOf a non-object"). Such a field becomes `{$ref, description}`: the same type, with its
//! description beside the reference (which OpenAPI 3.1 reads and 3.0 tools ignore).
//!
//! poem-openapi writes no OpenAPI links; they are added here from the paths alone. A `POST` on a
//! collection that answers with an object carrying an `id` (or a required field that does) links to every operation on
//! `collection/{x}` and below whose path parameters it can fill: `x` from `$response.body#/id`
//! and the collection's own from the request. Readers and stateful testers follow them from
//! `org_create` to `chatbot_create` to `conversation_create` to `message_create`.

mod constraints;

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
    declare_constraints(&mut document);
    add_links(&mut document);
    let mut json = serde_json::to_string_pretty(&document).unwrap_or_else(|_| spec.to_owned());
    json.push('\n');
    json
}

/// Merges the domain's rules ([`constraints`]) into the request schemas and query parameters.
fn declare_constraints(document: &mut Value) {
    bound_unsigned(document);
    if let Some(schemas) = document.pointer_mut("/components/schemas") {
        for (schema, property, rules) in constraints::properties() {
            if let Some(target) = schemas.pointer_mut(&format!("/{schema}/properties/{property}")) {
                constraints::merge(target, &rules);
            }
        }
    }
    let parameters = constraints::query_parameters();
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let Some(list) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for parameter in list {
            if parameter.get("in").and_then(Value::as_str) != Some("query") {
                continue;
            }
            let name = parameter
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if let Some((_, rules)) = parameters.iter().find(|(n, _)| *n == name)
                && let Some(schema) = parameter.get_mut("schema")
            {
                constraints::merge(schema, rules);
            }
        }
    }
}

/// States the range of every unsigned integer (`format: uint32`, `uint64`), which generators do
/// not read from the format: the server refuses a negative or larger number when parsing.
fn bound_unsigned(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let bound = match object.get("format").and_then(Value::as_str) {
                Some("uint32") => Some(u64::from(u32::MAX)),
                Some("uint64") => Some(u64::MAX),
                _ => None,
            };
            if let Some(maximum) = bound
                && object.get("type").and_then(Value::as_str) == Some("integer")
            {
                object.entry("minimum").or_insert(Value::from(0));
                object.entry("maximum").or_insert(Value::from(maximum));
            }
            object.values_mut().for_each(bound_unsigned);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_unsigned),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
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

/// The parameter a path template's segment names: `org_id` of `{org_id}`.
fn param_name(segment: &str) -> Option<&str> {
    segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
}

/// The parameters of a path template: `{org_id}` and `{chatbot_id}` of
/// `/v1/orgs/{org_id}/chatbots/{chatbot_id}`.
fn template_params(template: &str) -> Vec<&str> {
    template.split('/').filter_map(param_name).collect()
}

/// The component `schema` refers to, when it is `{"$ref": "#/components/schemas/…"}`.
fn referenced<'a>(schemas: &'a Value, schema: &Value) -> Option<&'a Value> {
    let name = schema
        .get("$ref")?
        .as_str()?
        .strip_prefix("#/components/schemas/")?;
    schemas.get(name)
}

/// Adds `links` to the success response of each create operation (see the module's text).
fn add_links(document: &mut Value) {
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return;
    };
    let no_schemas = Value::Null;
    let schemas = document
        .pointer("/components/schemas")
        .unwrap_or(&no_schemas);
    // (path of the create operation, its success status, the links).
    let mut additions = Vec::new();
    for (template, item) in paths {
        let Some(responses) = item.pointer("/post/responses").and_then(Value::as_object) else {
            continue;
        };
        let Some((status, response)) = responses
            .iter()
            .find(|(status, _)| matches!(status.as_str(), "200" | "201" | "202"))
        else {
            continue;
        };
        let Some(id) = response
            .get("content")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(_, media)| media.get("schema"))
            .find_map(|schema| id_pointer(schemas, schema))
        else {
            continue;
        };
        // `/documents/text` creates into `/documents`.
        let collection = if paths.keys().any(|p| is_member_path(p, template)) {
            template.as_str()
        } else {
            match template.rsplit_once('/') {
                Some((parent, last)) if !last.starts_with('{') => parent,
                _ => continue,
            }
        };
        let own = template_params(collection);
        let mut links = Map::new();
        for (target, target_item) in paths {
            if !is_member_path(target, collection) {
                continue;
            }
            let params = template_params(target);
            let Some(id_param) = params.get(own.len()) else {
                continue;
            };
            if params.len() != own.len() + 1 {
                continue;
            }
            let mut parameters = Map::new();
            for param in &own {
                parameters.insert(
                    format!("path.{param}"),
                    Value::String(format!("$request.path.{param}")),
                );
            }
            parameters.insert(
                format!("path.{id_param}"),
                Value::String(format!("$response.body#{id}")),
            );
            for operation in target_item
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, op)| op)
            {
                let Some(operation_id) = operation.get("operationId").and_then(Value::as_str)
                else {
                    continue;
                };
                let mut link = Map::new();
                link.insert(
                    "operationId".to_owned(),
                    Value::String(operation_id.to_owned()),
                );
                link.insert("parameters".to_owned(), Value::Object(parameters.clone()));
                link.insert(
                    "description".to_owned(),
                    Value::String(format!("`{id_param}` is the created object's `id`.")),
                );
                links.insert(operation_id.to_owned(), Value::Object(link));
            }
        }
        if !links.is_empty() {
            additions.push((template.clone(), status.clone(), links));
        }
    }
    for (template, status, links) in additions {
        if let Some(response) = document
            .get_mut("paths")
            .and_then(|paths| paths.get_mut(&template))
            .and_then(|item| item.pointer_mut(&format!("/post/responses/{status}")))
            .and_then(Value::as_object_mut)
        {
            response.insert("links".to_owned(), Value::Object(links));
        }
    }
}

/// Where the created object's id is in a response of `schema`: `/id`, or `/conversation/id` when
/// the object comes wrapped in a field (a started conversation and its welcome message).
fn id_pointer(schemas: &Value, schema: &Value) -> Option<String> {
    // A reference, or a documented one (`allOf: [{$ref}, {description}]`).
    let resolve = |schema: &Value| {
        referenced(schemas, schema).or_else(|| referenced(schemas, schema.pointer("/allOf/0")?))
    };
    let object = resolve(schema)?;
    let properties = object.get("properties")?.as_object()?;
    if properties.contains_key("id") {
        return Some("/id".to_owned());
    }
    let required = object.get("required")?.as_array()?;
    properties.iter().find_map(|(name, property)| {
        let inner = resolve(property)?;
        (required.iter().any(|r| r == name) && inner.pointer("/properties/id").is_some())
            .then(|| format!("/{name}/id"))
    })
}

/// Whether `path` is `collection/{x}` or below it.
fn is_member_path(path: &str, collection: &str) -> bool {
    path.strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix("/{"))
        .is_some()
}

/// The paths of the spec with their methods, for the `Allow` header of a 405 and for naming the
/// path parameter a request got wrong.
#[derive(Debug, Default)]
pub(crate) struct Methods {
    /// Each path template as segments with its methods, `GET, POST`.
    routes: Vec<(Vec<Segment>, String)>,
    /// The JSON request body schema of each `(path template index, METHOD)`.
    bodies: std::collections::HashMap<(usize, String), Value>,
    /// The spec's `components/schemas`, which the body schemas refer to.
    schemas: Value,
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
        let mut bodies = std::collections::HashMap::new();
        let routes = document["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(index, (template, item))| {
                for (method, operation) in item.as_object().into_iter().flatten() {
                    let json = operation
                        .pointer("/requestBody/content")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                        .find(|(media, _)| media.starts_with("application/json"))
                        .and_then(|(_, media)| media.get("schema"));
                    if let Some(schema) = json {
                        bodies.insert((index, method.to_ascii_uppercase()), schema.clone());
                    }
                }
                let segments = template
                    .split('/')
                    .map(|s| match param_name(s) {
                        Some(name) => Segment::Param(name.to_owned()),
                        None => Segment::Literal(s.to_owned()),
                    })
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
        let schemas = document
            .pointer("/components/schemas")
            .cloned()
            .unwrap_or_default();
        Self {
            routes,
            bodies,
            schemas,
        }
    }

    /// Checks a JSON request body against the shape its operation declares: every value of the
    /// declared JSON type, and `null` only where declared nullable. poem-openapi's parser is
    /// laxer (it takes `false` for a string, as `"false"`, and `null` for an absent field), so
    /// without this the server would accept bodies its own spec forbids. `Ok` when the path,
    /// method or body is not one this can judge (the parser then has its say).
    pub(crate) fn check_body(&self, method: &str, path: &str, body: &[u8]) -> Result<(), String> {
        let Some(index) = self.route_index(path) else {
            return Ok(());
        };
        let Some(schema) = self.bodies.get(&(index, method.to_owned())) else {
            return Ok(());
        };
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return Ok(());
        };
        self.check_value(schema, &value, "", 0)
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        referenced(&self.schemas, schema).unwrap_or(schema)
    }

    /// Checks `value` at `at` (a field path like `messages[0].role`; empty for the whole body).
    fn check_value(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        depth: usize,
    ) -> Result<(), String> {
        // Deeper than any body the API declares: leave the rest to the parser.
        if depth > 16 {
            return Ok(());
        }
        let schema = self.resolve(schema);
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            for part in parts {
                self.check_value(part, value, at, depth + 1)?;
            }
        }
        let what = if at.is_empty() {
            "the body".to_owned()
        } else {
            format!("`{at}`")
        };
        let Some(expected) = schema.get("type").and_then(Value::as_str) else {
            return Ok(());
        };
        if value.is_null() {
            if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
                return Ok(());
            }
            return Err(format!("{what} must not be null (leave it out instead)"));
        }
        let (fits, article) = match expected {
            "string" => (value.is_string(), "a"),
            "integer" => (value.is_i64() || value.is_u64(), "an"),
            "number" => (value.is_number(), "a"),
            "boolean" => (value.is_boolean(), "a"),
            "array" => (value.is_array(), "an"),
            "object" => (value.is_object(), "an"),
            _ => (true, ""),
        };
        if !fits {
            return Err(format!("{what} must be {article} {expected}"));
        }
        if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
            for (i, item) in values.iter().enumerate() {
                self.check_value(items, item, &format!("{at}[{i}]"), depth + 1)?;
            }
        }
        if let (Some(properties), Some(fields)) = (
            schema.get("properties").and_then(Value::as_object),
            value.as_object(),
        ) {
            for (name, field) in fields {
                if let Some(property) = properties.get(name) {
                    let at = if at.is_empty() {
                        name.clone()
                    } else {
                        format!("{at}.{name}")
                    };
                    self.check_value(property, field, &at, depth + 1)?;
                }
            }
        }
        Ok(())
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
        self.route_index(path)
            .and_then(|index| self.routes.get(index))
    }

    fn route_index(&self, path: &str) -> Option<usize> {
        let parts: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .enumerate()
            .filter(|(_, (segments, _))| {
                segments.len() == parts.len()
                    && segments.iter().zip(&parts).all(|(s, p)| match s {
                        Segment::Literal(literal) => literal == p,
                        Segment::Param(_) => true,
                    })
            })
            .max_by_key(|(_, (segments, _))| {
                segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count()
            })
            .map(|(index, _)| index)
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
    fn create_operations_link_to_the_operations_on_what_they_created() {
        let created = serde_json::json!({"201": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Doc"}}}}});
        let spec = serde_json::json!({
            "components": {"schemas": {
                "Doc": {"type": "object", "properties": {"id": {"type": "string"}}},
                "Hit": {"type": "object", "properties": {"score": {"type": "number"}}},
                "Started": {"type": "object", "required": ["chat"], "properties": {
                    "chat": {"allOf": [{"$ref": "#/components/schemas/Doc"}, {"description": "It."}]}}}
            }},
            "paths": {
                "/orgs/{org_id}/docs": {"post": {"operationId": "doc_create", "responses": created}},
                "/orgs/{org_id}/docs/text": {"post": {"operationId": "doc_text", "responses": created}},
                "/orgs/{org_id}/docs/{doc_id}": {
                    "get": {"operationId": "doc_get"}, "delete": {"operationId": "doc_delete"}},
                "/orgs/{org_id}/docs/{doc_id}/pages/{page_id}": {"get": {"operationId": "page_get"}},
                "/orgs/{org_id}/chats": {"post": {"operationId": "chat_create", "responses": {"201": {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Started"}}}}}}},
                "/orgs/{org_id}/chats/{chat_id}/messages": {"get": {"operationId": "message_list"}},
                "/orgs/{org_id}/search": {"post": {"operationId": "search", "responses": {"200": {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Hit"}}}}}}}
            }
        });
        let published: Value = serde_json::from_str(&published(&spec.to_string())).unwrap();
        let links = &published["paths"]["/orgs/{org_id}/docs"]["post"]["responses"]["201"]["links"];
        assert_eq!(
            links["doc_get"]["parameters"],
            serde_json::json!({"path.org_id": "$request.path.org_id", "path.doc_id": "$response.body#/id"})
        );
        assert_eq!(links["doc_delete"]["operationId"], "doc_delete");
        // A deeper path needs an id the create does not give.
        assert!(links.get("page_get").is_none());
        // A create on a literal below the collection links into the collection.
        let text =
            &published["paths"]["/orgs/{org_id}/docs/text"]["post"]["responses"]["201"]["links"];
        assert_eq!(text["doc_get"], links["doc_get"]);
        // An id inside a field of the answer.
        assert_eq!(
            published["paths"]["/orgs/{org_id}/chats"]["post"]["responses"]["201"]["links"]["message_list"]
                ["parameters"]["path.chat_id"],
            "$response.body#/chat/id"
        );
        // What creates nothing with an id links nowhere.
        assert!(
            published["paths"]["/orgs/{org_id}/search"]["post"]["responses"]["200"]
                .get("links")
                .is_none()
        );
    }

    #[test]
    fn every_declared_rule_lands_on_a_property_of_the_published_spec() {
        let spec: Value = serde_json::from_str(&crate::openapi_json()).unwrap();
        for (schema, property, rules) in constraints::properties() {
            let target = spec
                .pointer(&format!(
                    "/components/schemas/{schema}/properties/{property}"
                ))
                .unwrap_or_else(|| panic!("{schema}.{property} is not in the spec"));
            for (key, value) in rules.as_object().unwrap() {
                if key != "items" {
                    assert_eq!(&target[key], value, "{schema}.{property}.{key}");
                }
            }
        }
    }

    #[test]
    fn bodies_must_have_the_declared_json_types() {
        let spec = serde_json::json!({
            "components": {"schemas": {
                "Item": {"type": "object", "properties": {"n": {"type": "integer"}}},
                "Req": {"type": "object", "properties": {
                    "name": {"type": "string"},
                    "model": {"type": "string", "nullable": true},
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                    "anything": {}
                }}
            }},
            "paths": {"/things/{id}": {"patch": {"requestBody": {"content": {
                "application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/Req"}}
            }}}}}
        });
        let methods = Methods::of(&spec.to_string());
        let check = |body: &str| methods.check_body("PATCH", "/things/x", body.as_bytes());
        assert_eq!(
            check(r#"{"name": false}"#),
            Err("`name` must be a string".to_owned())
        );
        assert_eq!(
            check(r#"{"name": null}"#),
            Err("`name` must not be null (leave it out instead)".to_owned())
        );
        assert_eq!(
            check(r#"{"items": [{"n": 1}, {"n": "2"}]}"#),
            Err("`items[1].n` must be an integer".to_owned())
        );
        assert_eq!(check(r#"[]"#), Err("the body must be an object".to_owned()));
        assert_eq!(
            check(r#"{"name": "a", "model": null, "anything": [1], "extra": 1}"#),
            Ok(())
        );
        // What this cannot judge is left to the parser.
        assert_eq!(check("not json"), Ok(()));
        assert_eq!(
            methods.check_body("GET", "/things/x", br#"{"name": 1}"#),
            Ok(())
        );
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
