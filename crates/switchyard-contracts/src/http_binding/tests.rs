//! HTTP binding tests: binary-mode decoding case by case, the conformance scenarios of the
//! CloudEvents conformance project (`tests/fixtures/cloudevents/conformance`: raw HTTP
//! requests with the attributes and data a receiver must read, and events given in both
//! binary and structured mode, which must decode to equal envelopes), and a round trip
//! of an envelope with every attribute set.

use serde_json::{Value, json};

use super::*;

/// The conformance material copied from the CloudEvents conformance project.
fn conformance(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/cloudevents/conformance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn binary(headers: &[(&str, &str)], body: &str) -> Result<Envelope, ContractError> {
    Envelope::from_http_binary(
        headers
            .iter()
            .map(|(name, value)| (*name, value.as_bytes())),
        body.as_bytes(),
    )
}

const REQUIRED: [(&str, &str); 4] = [
    ("ce-specversion", "1.0"),
    ("ce-id", "1234"),
    ("ce-source", "/mycontext"),
    ("ce-type", "com.example.someevent"),
];

/// Decodes the required headers plus `extra` with `body` and compares the envelope with
/// the structured-mode event `expected` (the required attributes added to it).
fn check(extra: &[(&str, &str)], body: &str, expected: Value) {
    let headers: Vec<(&str, &str)> = REQUIRED.iter().chain(extra).copied().collect();
    let envelope = binary(&headers, body).unwrap_or_else(|err| panic!("{extra:?}: {err}"));
    let mut structured = json!({
        "specversion": "1.0", "id": "1234", "source": "/mycontext", "type": "com.example.someevent"
    });
    structured
        .as_object_mut()
        .unwrap()
        .extend(expected.as_object().unwrap().clone());
    assert_eq!(
        envelope,
        Envelope::from_json_value(structured).unwrap(),
        "{extra:?}"
    );
}

/// Decodes the required headers plus `extra` with `body`, expecting an error on `field`.
fn check_error(extra: &[(&str, &str)], body: &str, field: &str) {
    let headers: Vec<(&str, &str)> = REQUIRED
        .iter()
        .filter(|(name, _)| !extra.iter().any(|(other, _)| other == name))
        .chain(extra.iter().filter(|(_, value)| !value.is_empty()))
        .copied()
        .collect();
    let err = binary(&headers, body).expect_err(&format!("{extra:?} is refused"));
    assert_eq!(err.field(), Some(field), "{extra:?}: {err}");
}

#[test]
fn content_modes_follow_the_content_type() {
    use HttpContentMode::*;
    for (content_type, mode) in [
        (Some("application/cloudevents+json"), Structured),
        (
            Some("application/cloudevents+json; charset=utf-8"),
            Structured,
        ),
        (Some("Application/CloudEvents+JSON"), Structured),
        (Some("application/cloudevents+avro"), Structured),
        (Some("application/cloudevents-batch+json"), Batched),
        (
            Some("application/cloudevents-batch+json; charset=UTF-8"),
            Batched,
        ),
        (Some("application/json"), Binary),
        (Some("text/plain"), Binary),
        (None, Binary),
    ] {
        assert_eq!(HttpContentMode::of(content_type), mode, "{content_type:?}");
    }
    for (content_type, json) in [
        ("application/json", true),
        ("application/json; charset=utf-8", true),
        ("application/vnd.example+json", true),
        ("text/plain", false),
        ("application/jsonx", false),
        ("+json", false),
    ] {
        assert_eq!(is_json_content_type(content_type), json, "{content_type}");
    }
    assert!(has_attribute_headers(["host", "CE-ID"]));
    assert!(!has_attribute_headers(["host", "content-type", "cex"]));
}

#[test]
fn binary_mode_gives_the_structured_envelope() {
    let data = r#"{"message": "Hello World!"}"#;
    check(
        &[("content-type", "application/json")],
        data,
        json!({"datacontenttype": "application/json", "data": {"message": "Hello World!"}}),
    );
    // Header names are case-insensitive; attributes are lowercase.
    check(
        &[
            ("CE-Subject", "item-1"),
            (
                "Ce-Traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
        ],
        "",
        json!({"subject": "item-1", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}),
    );
    // Without Content-Type the body is read as JSON (the JSON format's default), and
    // the event has no datacontenttype.
    check(&[], "[1, 2]", json!({"data": [1, 2]}));
    // No body, no data; whitespace is no body for JSON.
    check(
        &[("content-type", "application/json")],
        " \n",
        json!({"datacontenttype": "application/json"}),
    );
    // Other headers are not attributes.
    check(
        &[
            ("host", "example.com"),
            ("authorization", "Bearer x"),
            ("content-length", "2"),
        ],
        "{}",
        json!({"data": {}}),
    );
    // Integer attributes are integers, other extensions strings.
    check(
        &[
            ("ce-schemaversion", "2"),
            ("ce-datasize", "10"),
            ("ce-sequence", "5"),
        ],
        "",
        json!({"schemaversion": 2, "datasize": 10, "sequence": "5"}),
    );
}

#[test]
fn header_values_are_unquoted_then_percent_decoded() {
    // The binding's own example.
    check(
        &[("ce-subject", "Euro%20%E2%82%AC%20%F0%9F%98%80")],
        "",
        json!({"subject": "Euro € 😀"}),
    );
    // Lowercase hex, and characters encoded without need.
    check(
        &[("ce-subject", "%e2%82%ac%41")],
        "",
        json!({"subject": "€A"}),
    );
    // A double-quoted value (older senders): unescaped first, then decoded.
    check(
        &[("ce-subject", r#""a b\"c\\d%25""#)],
        "",
        json!({"subject": r#"a b"c\d%"#}),
    );
    // Percent-decoding happens once.
    check(
        &[("ce-subject", "100%2525")],
        "",
        json!({"subject": "100%25"}),
    );
}

#[test]
fn data_follows_the_content_type() {
    check(
        &[("content-type", "text/plain; charset=utf-8")],
        "Hello, 🌎!",
        json!({"datacontenttype": "text/plain; charset=utf-8", "data": "Hello, 🌎!"}),
    );
    check(
        &[("content-type", "application/xml")],
        "<msg/>",
        json!({"datacontenttype": "application/xml", "data": "<msg/>"}),
    );
    check(
        &[("content-type", "application/octet-stream")],
        "\u{1}\u{2}",
        json!({"datacontenttype": "application/octet-stream", "data_base64": "AQI="}),
    );
    check(
        &[("content-type", "application/vnd.example+json")],
        r#""text""#,
        json!({"datacontenttype": "application/vnd.example+json", "data": "text"}),
    );
    let envelope = Envelope::from_http_binary(
        REQUIRED
            .iter()
            .map(|(name, value)| (*name, value.as_bytes()))
            .chain([("content-type", b"text/plain".as_slice())]),
        &[0xff, 0xfe],
    )
    .unwrap();
    assert_eq!(
        envelope.extensions["data_base64"],
        json!("//4="),
        "not UTF-8: bytes"
    );
    assert_eq!(envelope.data, None);
}

#[test]
fn errors_name_the_header() {
    for required in ["ce-id", "ce-source", "ce-specversion", "ce-type"] {
        check_error(&[(required, "")], "", required);
    }
    check_error(&[("ce-specversion", "0.3")], "", "ce-specversion");
    check_error(&[("ce-time", "yesterday")], "", "ce-time");
    check_error(&[("ce-traceparent", "00-xyz")], "", "ce-traceparent");
    check_error(&[("ce-schemaversion", "two")], "", "ce-schemaversion");
    check_error(&[("ce-bad_name", "x")], "", "ce-bad_name");
    check_error(&[("ce-subject", "%C0%A0")], "", "ce-subject");
    check_error(
        &[("ce-datacontenttype", "application/json")],
        "",
        "ce-datacontenttype",
    );
    check_error(&[("ce-data", "{}")], "", "ce-data");
    check_error(&[("ce-data_base64", "AQI=")], "", "ce-data_base64");
    check_error(
        &[("ce-subject", "a"), ("CE-SUBJECT", "b")],
        "",
        "ce-subject",
    );
    check_error(&[("content-type", "application/json")], "{", "data");
    check_error(&[], "not json", "data");
}

#[test]
fn an_envelope_with_every_attribute_survives_binary_mode() {
    let mut original = Envelope::new(
        "switchyard.office.email",
        "switchyard://import/mbox",
        json!({"item": {"id": "m-1", "subject": "Grüße \"100%\""}}),
    );
    original.subject = Some("Grüße aus Köln, 100% \"echt\"".into());
    original.correlationid = Some("job 42".into());
    original.userid = Some("alice@example.com".into());
    original.partitionkey = Some("alice".into());
    original.schemaversion = Some(3);
    original.dataref = Some("office:alice:emails:m-1".into());
    original.datasize = Some(123_456);
    original.datasha256 = Some("ab".repeat(32));
    original
        .extensions
        .insert("tracestate".into(), json!("vendor=1,other=2"));
    let Value::Object(members) = serde_json::to_value(&original).unwrap() else {
        panic!("an envelope is an object");
    };
    let mut headers = Vec::new();
    for (name, value) in &members {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        match name.as_str() {
            "data" => {}
            "datacontenttype" => headers.push(("Content-Type".to_string(), text)),
            _ => headers.push((format!("ce-{name}"), encode_header_value(&text))),
        }
    }
    let body = serde_json::to_vec(&original.data).unwrap();
    let decoded = Envelope::from_http_binary(
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
        &body,
    )
    .unwrap();
    assert_eq!(decoded, original);
}

/// Percent-encodes a header value as the binding says a sender must: space, `"`, `%`
/// and everything outside printable ASCII.
fn encode_header_value(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        if (0x21..=0x7e).contains(&byte) && byte != b'"' && byte != b'%' {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The scenarios of `http-protocol-binding.feature`: each raw request, for each content
/// type of its examples, decodes to the attributes and data the scenario names.
#[test]
fn the_http_conformance_scenarios_decode_as_specified() {
    let feature = conformance("http-protocol-binding.feature");
    let mut checked = 0;
    for scenario in feature.split("Scenario Outline:").skip(1) {
        let blocks = doc_strings(scenario);
        let [request, data] = blocks.as_slice() else {
            panic!("a scenario has a request and its data: {scenario}");
        };
        let attributes = table_after(scenario, "Then the attributes are:");
        let examples = table_after(scenario, "Examples:");
        for example in &examples[1..] {
            let content_type = &example[0];
            let request = request.replace("<contentType>", content_type);
            let (head, body) = request
                .split_once("\n\n")
                .expect("headers, blank line, body");
            let headers: Vec<(&str, &str)> = head
                .lines()
                .skip(1) // the request line
                .map(|line| {
                    let (name, value) = line.split_once(':').expect("a header line");
                    (name.trim(), value.trim())
                })
                .collect();
            let envelope = match HttpContentMode::of(Some(content_type)) {
                HttpContentMode::Binary => binary(&headers, body),
                HttpContentMode::Structured => Envelope::from_json_slice(body.as_bytes()),
                HttpContentMode::Batched => panic!("no batch scenario is expected"),
            }
            .unwrap_or_else(|err| panic!("{content_type}: {err}"));
            let json = serde_json::to_value(&envelope).unwrap();
            for row in &attributes[1..] {
                let expected = row[1].replace("<contentType>", content_type);
                assert_eq!(json[&row[0]], json!(expected), "{content_type}: {}", row[0]);
            }
            let expected: Value = serde_json::from_str(data).unwrap();
            assert_eq!(envelope.data, Some(expected), "{content_type}");
            checked += 1;
        }
    }
    assert_eq!(checked, 4, "two scenarios of two content types each");
}

/// The events of the conformance YAML files: given in binary mode (as the conformance
/// tool sends them: attributes and extensions as `ce-` headers, `datacontenttype` as
/// Content-Type, `Data` as the body), each decodes to the envelope of the same event in
/// structured mode (the JSON format: JSON data as a value, text as a string).
#[test]
fn the_conformance_events_decode_alike_in_binary_and_structured_mode() {
    let mut checked = 0;
    for file in ["v1.yaml", "v1_minimum.yaml"] {
        for event in yaml_documents(&conformance(file)) {
            let attributes = event.map("ContextAttributes");
            let mut headers = Vec::new();
            let mut structured = Map::new();
            let mut content_type = None;
            for (name, value) in attributes {
                match (name.as_str(), value) {
                    ("Extensions", Yaml::Map(extensions)) => {
                        for (name, value) in extensions {
                            let text = value.text().to_string();
                            headers.push((format!("ce-{name}"), encode_header_value(&text)));
                            structured.insert(name.clone(), Value::String(text));
                        }
                    }
                    ("datacontenttype", value) => {
                        content_type = Some(value.text().to_string());
                        headers.push(("Content-Type".into(), value.text().to_string()));
                        structured.insert(name.clone(), json!(value.text()));
                    }
                    (_, value) => {
                        headers.push((format!("ce-{name}"), encode_header_value(value.text())));
                        structured.insert(name.clone(), json!(value.text()));
                    }
                }
            }
            let body = event.text_of("Data");
            let data = match content_type.as_deref() {
                None => serde_json::from_str(body).unwrap(),
                Some(content_type) if is_json_content_type(content_type) => {
                    serde_json::from_str(body).unwrap()
                }
                Some(_) => Value::String(body.to_string()),
            };
            structured.insert("data".into(), data);
            let from_binary = Envelope::from_http_binary(
                headers
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_bytes())),
                body.as_bytes(),
            )
            .unwrap_or_else(|err| panic!("{file}: {err}"));
            let from_structured = Envelope::from_json_value(Value::Object(structured))
                .unwrap_or_else(|err| panic!("{file}: {err}"));
            assert_eq!(from_binary, from_structured, "{file}");
            checked += 1;
        }
    }
    assert_eq!(
        checked, 8,
        "two events of v1.yaml and six of v1_minimum.yaml"
    );
}

/// The doc strings (`"""` blocks) of a Gherkin scenario, without their indentation.
fn doc_strings(scenario: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Vec<&str>)> = None;
    for line in scenario.lines() {
        let indent = line.len() - line.trim_start().len();
        match (line.trim() == "\"\"\"", open.take()) {
            (true, None) => open = Some((indent, Vec::new())),
            (true, Some((_, lines))) => blocks.push(lines.join("\n")),
            (false, Some((indent, mut lines))) => {
                lines.push(line.get(indent..).unwrap_or_default());
                open = Some((indent, lines));
            }
            (false, None) => {}
        }
    }
    blocks
}

/// The rows (cells trimmed) of the Gherkin table following the line `heading`.
fn table_after(scenario: &str, heading: &str) -> Vec<Vec<String>> {
    scenario
        .lines()
        .skip_while(|line| line.trim() != heading)
        .skip(1)
        .take_while(|line| line.trim().starts_with('|'))
        .map(|line| {
            let cells = line.trim().trim_matches('|');
            cells
                .split('|')
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

/// The block-style YAML of the conformance files: nested maps, plain or double-quoted
/// scalars and `|` literal blocks.
#[derive(Debug)]
enum Yaml {
    Text(String),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    fn text(&self) -> &str {
        match self {
            Yaml::Text(text) => text,
            Yaml::Map(_) => panic!("a map where text was expected"),
        }
    }

    fn get(&self, key: &str) -> &Yaml {
        match self {
            Yaml::Map(entries) => entries
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value)
                .unwrap_or_else(|| panic!("no `{key}`")),
            Yaml::Text(_) => panic!("text where a map was expected"),
        }
    }

    fn map(&self, key: &str) -> &[(String, Yaml)] {
        match self.get(key) {
            Yaml::Map(entries) => entries,
            Yaml::Text(_) => panic!("`{key}` is not a map"),
        }
    }

    fn text_of(&self, key: &str) -> &str {
        self.get(key).text()
    }
}

/// The documents of a YAML stream separated by `---`.
fn yaml_documents(text: &str) -> Vec<Yaml> {
    text.split("\n---")
        .map(|document| {
            let lines: Vec<&str> = document.lines().collect();
            Yaml::Map(yaml_map(&lines, &mut 0, 0))
        })
        .collect()
}

fn yaml_map(lines: &[&str], position: &mut usize, indent: usize) -> Vec<(String, Yaml)> {
    let indent_of = |line: &str| line.len() - line.trim_start().len();
    let mut entries = Vec::new();
    while let Some(line) = lines.get(*position) {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            *position += 1;
            continue;
        }
        if indent_of(line) < indent {
            break;
        }
        let (key, rest) = line.split_once(':').expect("a `key: value` line");
        let (key, rest) = (key.trim().to_string(), rest.trim());
        *position += 1;
        let value = if rest == "|" {
            let block: Vec<&str> = lines[*position..]
                .iter()
                .take_while(|next| next.trim().is_empty() || indent_of(next) > indent_of(line))
                .copied()
                .collect();
            *position += block.len();
            let block_indent = block
                .iter()
                .filter(|line| !line.trim().is_empty())
                .map(|line| indent_of(line))
                .min()
                .unwrap_or(0);
            let text: String = block
                .iter()
                .map(|line| format!("{}\n", line.get(block_indent..).unwrap_or_default()))
                .collect();
            Yaml::Text(text.trim_end_matches('\n').to_string() + "\n")
        } else if rest.is_empty() {
            let child = lines
                .get(*position)
                .map_or(indent + 1, |next| indent_of(next));
            Yaml::Map(yaml_map(lines, position, child))
        } else {
            Yaml::Text(rest.trim_matches('"').to_string())
        };
        entries.push((key, value));
    }
    entries
}
