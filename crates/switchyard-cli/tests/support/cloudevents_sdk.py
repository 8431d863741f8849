"""Sends Switchyard email events to `POST /v1/events` with the official CloudEvents SDK
for Python (PyPI `cloudevents`, 2.x) as the client: in binary and in structured content
mode, through the SDK's HTTP binding (`cloudevents.core.bindings.http`) and through its
1.x API, kept in 2.x under `cloudevents.v1` (`CloudEvent`, `to_binary`,
`to_structured`). Run by crates/switchyard-cli/tests/cloudevents_http.rs:

    python3 cloudevents_sdk.py BASE_URL TOKEN USER

Prints one JSON line per request: the client, the mode, the event id, the item id, the
subject sent, the HTTP status and the answer.
"""

import http.client
import json
import sys
import urllib.parse
from datetime import datetime, timezone

from cloudevents.core.bindings import http as binding
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1 import conversion as v1_conversion
from cloudevents.v1 import http as v1_http

base_url, token, user = sys.argv[1:4]


def email(item_id, subject, body_text):
    """The data of a Switchyard email event of USER."""
    return {
        "operation": "create",
        "batch_id": "python-sdk",
        "last_updated": "2024-05-01T10:00:00Z",
        "sync_timestamp": "2024-05-01T10:00:01Z",
        "sync_type": "streaming",
        "provider": "python-sdk",
        "user_id": user,
        "item": {"id": item_id, "subject": subject, "body_text": body_text},
    }


def post(headers, body):
    """POSTs one request to /v1/events: (status, answer as JSON)."""
    url = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    # http.client adds no Content-Type of its own: a binary-mode event without
    # `datacontenttype` goes without one, as the SDK made it.
    connection.request(
        "POST",
        "/v1/events",
        body=body,
        headers={**headers, "Authorization": f"Bearer {token}"},
    )
    response = connection.getresponse()
    text = response.read().decode("utf-8")
    connection.close()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


def report(client, mode, event_id, item_id, subject, status, answer):
    print(
        json.dumps(
            {
                "client": client,
                "mode": mode,
                "id": event_id,
                "item": item_id,
                "subject": subject,
                "status": status,
                "answer": answer,
            }
        ),
        flush=True,
    )


# The SDK's HTTP binding: it percent-encodes header values, so the attributes may hold
# any text.
for mode, event_id, item_id, subject, attributes in [
    (
        "binary",
        "py-binary-1",
        "py-kingfisher",
        "Kingfisher report",
        {"datacontenttype": "application/json", "subject": 'Grüße, 100 % "binär" €'},
    ),
    # No datacontenttype: the SDK sends no Content-Type, and the body is read as JSON.
    ("binary", "py-binary-2", "py-heron", "Heron sightings", {}),
    (
        "structured",
        "py-structured-1",
        "py-osprey",
        "Osprey nest",
        {"datacontenttype": "application/json", "subject": 'Grüße, 100 % "strukturiert"'},
    ),
]:
    event = CloudEvent(
        attributes={
            "id": event_id,
            "source": "switchyard://test/python-sdk",
            "type": "switchyard.office.email",
            "time": datetime(2024, 5, 1, 10, 0, 1, tzinfo=timezone.utc),
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            **attributes,
        },
        data=email(item_id, subject, f"{subject}: notes from the python sdk"),
    )
    convert = binding.to_binary if mode == "binary" else binding.to_structured
    message = convert(event, JSONFormat())
    status, answer = post(message.headers, message.body)
    report("binding", mode, event_id, item_id, subject, status, answer)

# The SDK's 1.x API: header values as they are, so plain ASCII here.
for mode, event_id, item_id, subject in [
    ("binary", "py-v1-binary-1", "py-puffin", "Puffin colony"),
    ("structured", "py-v1-structured-1", "py-gannet", "Gannet dive"),
]:
    event = v1_http.CloudEvent(
        {
            "id": event_id,
            "source": "switchyard://test/python-sdk-v1",
            "type": "switchyard.office.email",
            "datacontenttype": "application/json",
            "subject": subject,
        },
        email(item_id, subject, f"{subject}: notes from the python sdk"),
    )
    convert = v1_conversion.to_binary if mode == "binary" else v1_conversion.to_structured
    headers, body = convert(event)
    status, answer = post(headers, body)
    report("v1", mode, event_id, item_id, subject, status, answer)
