//! A local fake of Microsoft's services for tests (feature `testsuite`), answering as the
//! Microsoft identity platform and Graph document it: a token endpoint whose refresh
//! tokens rotate (and can be revoked), and a small stateful Graph (`graph.rs`) with
//! generated messages, events, contacts, To Do tasks and drive files. Its delta queries
//! page through the items and end with a delta link, from which the next round reads the
//! changes tests make ([`FakeMicrosoft::add`], [`FakeMicrosoft::change`],
//! [`FakeMicrosoft::remove`]) until [`FakeMicrosoft::expire_delta_links`] makes old links
//! answer 410. Every Graph route takes only the access tokens the token endpoint issued;
//! a drive file's content redirects to a pre-authenticated download that refuses any
//! `Authorization`. Change-notification subscriptions (`subscriptions.rs`) are validated
//! with Graph's handshake, held, and notified on demand. Point the production clients at
//! [`FakeMicrosoft::base_url`]; nothing else changes.

mod graph;
mod subscriptions;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::DataType;
use graph::{CONTACT_FOLDER, Graph, INBOX, Round};
pub use subscriptions::FakeSubscription;

/// What the fake has seen, and how it answers.
#[derive(Debug, Default)]
pub struct FakeMicrosoft {
    /// Where it listens: `http://127.0.0.1:PORT`, the Graph URL and the token endpoint's
    /// origin.
    pub base_url: String,
    /// Refresh tokens the token endpoint was asked to redeem, in order.
    pub seen: Mutex<Vec<String>>,
    /// Refresh tokens it refuses from now on.
    pub revoked: Mutex<Vec<String>>,
    /// `expires_in` of the access tokens it grants.
    pub lifetime_secs: Mutex<i64>,
    /// Messages in the mailbox's inbox at the start.
    pub messages: usize,
    /// Calendar events at the start.
    pub events: usize,
    /// Contacts at the start, every other one in a contact folder besides the default.
    pub contacts: usize,
    /// To Do lists (at least one).
    pub todo_lists: usize,
    /// To Do tasks per list at the start.
    pub tasks_per_list: usize,
    /// Drive files at the start: Word, Excel and PowerPoint files in turn.
    pub files: usize,
    /// Items per page, of delta queries (fewer when the request's `Prefer:
    /// odata.maxpagesize` asks) and of collections.
    pub page_size: usize,
    /// How long each delta page takes.
    pub page_delay: Duration,
    /// Delta pages served (the same page may be served again after a resume).
    pub pages_served: Mutex<usize>,
    /// Change-notification subscriptions Graph holds (`fake/subscriptions.rs`).
    pub subscriptions: Mutex<Vec<FakeSubscription>>,
    graph: Mutex<Graph>,
}

impl FakeMicrosoft {
    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        format!("{}/common/oauth2/v2.0/token", self.base_url)
    }

    /// The live items of `data_type`, as Graph writes them in delta pages.
    pub fn items(&self, data_type: DataType) -> Vec<Value> {
        self.graph().items(data_type)
    }

    /// Adds an item of `data_type` (a message to the inbox, a contact to the default
    /// folder, a task to the first list); returns its id.
    pub fn add(&self, data_type: DataType) -> String {
        self.graph().add(data_type)
    }

    /// Edits the item `id` of `data_type`: its title changes (a file's modification
    /// time).
    ///
    /// # Panics
    /// When there is no such item.
    pub fn change(&self, data_type: DataType, id: &str) {
        self.graph().touch(data_type, id, false);
    }

    /// Removes the item `id` of `data_type`.
    ///
    /// # Panics
    /// When there is no such item.
    pub fn remove(&self, data_type: DataType, id: &str) {
        self.graph().touch(data_type, id, true);
    }

    /// Makes a To Do list holding one task; its id and the task's.
    pub fn add_todo_list(&self) -> (String, String) {
        self.graph().add_todo_list()
    }

    /// Deletes the To Do list `list` with its tasks (its delta query then answers 404).
    pub fn remove_todo_list(&self, list: &str) {
        self.graph().remove_todo_list(list);
    }

    /// Makes every delta link issued so far, and the next links of the rounds they
    /// started, answer 410 `syncStateNotFound`.
    pub fn expire_delta_links(&self) {
        self.graph().expire_delta_links();
    }

    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph
            .lock()
            .expect("the fake's locks are never poisoned")
    }
}

async fn token(
    State(fake): State<Arc<FakeMicrosoft>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    let count = {
        let mut seen = fake
            .seen
            .lock()
            .expect("the fake's locks are never poisoned");
        seen.push(presented.clone());
        seen.len()
    };
    let scope = form.get("scope").map(String::as_str).unwrap_or_default();
    if !scope.starts_with("offline_access https://graph.microsoft.com/") {
        let error = serde_json::json!({
            "error": "invalid_scope",
            "error_description": format!("AADSTS70011: The provided scope {scope:?} is not valid.")
        });
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    if fake
        .revoked
        .lock()
        .expect("the fake's locks are never poisoned")
        .contains(&presented)
    {
        let error = serde_json::json!({
            "error": "invalid_grant",
            "error_description": "AADSTS50173: The provided grant has expired due to it being revoked."
        });
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    axum::Json(serde_json::json!({
        "access_token": format!("access-{count}"),
        "token_type": "Bearer",
        "expires_in": *fake.lifetime_secs.lock().expect("the fake's locks are never poisoned"),
        "refresh_token": format!("refresh-{count}"),
    }))
    .into_response()
}

/// Lets a Graph request through when it carries an access token the token endpoint
/// issued (`Bearer access-N`), else answers 401 as Graph does.
async fn require_access_token(
    State(fake): State<Arc<FakeMicrosoft>>,
    request: Request,
    next: Next,
) -> Response {
    let issued = fake
        .seen
        .lock()
        .expect("the fake's locks are never poisoned")
        .len();
    let valid = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer access-"))
        .and_then(|count| count.parse::<usize>().ok())
        .is_some_and(|count| (1..=issued).contains(&count));
    if !valid {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        );
    }
    next.run(request).await
}

/// A Graph error answer.
fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The value of the query parameter `name` (`$skiptoken`, written `%24skiptoken` too).
fn query_param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()?.split('&').find_map(|part| {
        let (key, value) = part.split_once('=')?;
        (key.replace("%24", "$") == name).then_some(value)
    })
}

/// A page of the delta query of resource `scope` of `data_type` at `uri`.
async fn delta(
    fake: &FakeMicrosoft,
    data_type: DataType,
    scope: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Response {
    tokio::time::sleep(fake.page_delay).await;
    *fake
        .pages_served
        .lock()
        .expect("the fake's locks are never poisoned") += 1;
    let graph = fake.graph();
    let round = match (
        query_param(uri, "$deltatoken"),
        query_param(uri, "$skiptoken"),
    ) {
        (Some(token), _) => graph::version(token).map(|since| graph.round(Some(since))),
        (None, Some(skiptoken)) => Round::from_skiptoken(skiptoken),
        (None, None) => Some(graph.round(None)),
    };
    let Some(round) = round else {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "Unreadable token.");
    };
    if round.since.is_some_and(|since| graph.is_expired(since)) {
        return graph_error(
            StatusCode::GONE,
            "syncStateNotFound",
            "The sync state generation is not found; start a new sync.",
        );
    }
    let is_start = round.since.is_none() && round.offset == 0;
    if data_type == DataType::Calendars
        && is_start
        && (query_param(uri, "startDateTime").is_none()
            || query_param(uri, "endDateTime").is_none())
    {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        );
    }
    // `Prefer: odata.maxpagesize=N` asks for smaller pages, never larger ones.
    let asked = headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|part| part.trim().strip_prefix("odata.maxpagesize="))
        .and_then(|size| size.trim().parse::<usize>().ok());
    let page_size = asked.map_or(fake.page_size, |asked| asked.min(fake.page_size));
    let page = graph.page(data_type, scope, round, page_size);
    let link = |query: String| format!("{}{}?{query}", fake.base_url, uri.path());
    let mut answer = json!({"value": page.items});
    match page.next {
        Some(next) => {
            answer["@odata.nextLink"] = link(format!("$skiptoken={}", next.skiptoken())).into()
        }
        None => {
            answer["@odata.deltaLink"] =
                link(format!("$deltatoken={}", graph::token(round.until))).into()
        }
    }
    axum::Json(answer).into_response()
}

/// A page of the collection `values` at `uri`, `page_size` items a page.
fn collection(fake: &FakeMicrosoft, uri: &Uri, values: Vec<Value>) -> Response {
    let start: usize = query_param(uri, "$skiptoken")
        .and_then(|offset| offset.parse().ok())
        .unwrap_or(0);
    let end = (start + fake.page_size.max(1)).min(values.len());
    let mut answer = json!({"value": values.get(start..end).unwrap_or_default()});
    if end < values.len() {
        answer["@odata.nextLink"] =
            format!("{}{}?$skiptoken={end}", fake.base_url, uri.path()).into();
    }
    axum::Json(answer).into_response()
}

/// A mail folder of the fake: `inbox` (with the messages and a child folder), `archive`
/// and the inbox's `receipts`.
fn mail_folder(id: &str, children: usize) -> Value {
    json!({"id": id, "displayName": id, "childFolderCount": children})
}

async fn mail_folders(State(fake): State<Arc<FakeMicrosoft>>, uri: Uri) -> Response {
    collection(
        &fake,
        &uri,
        vec![mail_folder(INBOX, 1), mail_folder("archive", 0)],
    )
}

async fn child_mail_folders(
    State(fake): State<Arc<FakeMicrosoft>>,
    Path(folder): Path<String>,
    uri: Uri,
) -> Response {
    let children = if folder == INBOX {
        vec![mail_folder("receipts", 0)]
    } else {
        Vec::new()
    };
    collection(&fake, &uri, children)
}

async fn contact_folders(State(fake): State<Arc<FakeMicrosoft>>, uri: Uri) -> Response {
    let folder = json!({"id": CONTACT_FOLDER, "displayName": "Friends"});
    collection(&fake, &uri, vec![folder])
}

async fn todo_lists(State(fake): State<Arc<FakeMicrosoft>>, uri: Uri) -> Response {
    let lists = fake
        .graph()
        .todo_lists()
        .iter()
        .map(|id| json!({"id": id, "displayName": format!("List {id}"), "wellknownListName": "none"}))
        .collect();
    collection(&fake, &uri, lists)
}

/// The content of a drive file: a redirect to its pre-authenticated download URL.
async fn file_content(State(fake): State<Arc<FakeMicrosoft>>, Path(id): Path<String>) -> Response {
    if fake.graph().file(&id).is_none() {
        return graph_error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "The resource could not be found.",
        );
    }
    let location = format!("{}/download/{id}?sig={}", fake.base_url, signature(&id));
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// A pre-authenticated download: the signature is the credential, and a request that
/// carries a token anyway is refused, as leaking it would be a bug.
async fn download(
    State(fake): State<Arc<FakeMicrosoft>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if headers.contains_key(header::AUTHORIZATION) {
        return (
            StatusCode::BAD_REQUEST,
            "a pre-authenticated download takes no Authorization",
        )
            .into_response();
    }
    if query_param(&uri, "sig") != Some(signature(&id).as_str()) {
        return StatusCode::FORBIDDEN.into_response();
    }
    match fake.graph().file(&id) {
        Some((_, bytes)) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn signature(id: &str) -> String {
    format!("fake-signature-of-{id}")
}

/// Starts the fake on a free loopback port of the current tokio runtime, with
/// `configure` setting the mailbox up (10 items a page, one To Do list, tokens for an
/// hour, unless it says otherwise).
///
/// # Panics
/// When no loopback port can be bound.
pub async fn start(configure: impl FnOnce(&mut FakeMicrosoft)) -> Arc<FakeMicrosoft> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port is free");
    let mut fake = FakeMicrosoft {
        base_url: format!(
            "http://{}",
            listener
                .local_addr()
                .expect("a bound listener has an address")
        ),
        lifetime_secs: Mutex::new(3599),
        page_size: 10,
        todo_lists: 1,
        ..FakeMicrosoft::default()
    };
    configure(&mut fake);
    fake.graph = Mutex::new(Graph::new(
        &[
            (DataType::Emails, fake.messages),
            (DataType::Calendars, fake.events),
            (DataType::Contacts, fake.contacts),
            (
                DataType::Todos,
                fake.todo_lists.max(1) * fake.tasks_per_list,
            ),
            (DataType::Files, fake.files),
        ],
        fake.todo_lists,
    ));
    let fake = Arc::new(fake);
    let graph_routes = Router::new()
        .route("/v1.0/me/mailFolders", get(mail_folders))
        .route(
            "/v1.0/me/mailFolders/{folder}/childFolders",
            get(child_mail_folders),
        )
        .route(
            "/v1.0/me/mailFolders/{folder}/messages/delta",
            get(
                |State(fake): State<Arc<FakeMicrosoft>>,
                 Path(folder): Path<String>,
                 headers: HeaderMap,
                 uri: Uri| async move {
                    delta(&fake, DataType::Emails, &folder, &headers, &uri).await
                },
            ),
        )
        .route(
            "/v1.0/me/calendarView/delta",
            get(
                |State(fake): State<Arc<FakeMicrosoft>>, headers: HeaderMap, uri: Uri| async move {
                    delta(&fake, DataType::Calendars, "", &headers, &uri).await
                },
            ),
        )
        .route("/v1.0/me/contactFolders", get(contact_folders))
        .route(
            "/v1.0/me/contacts/delta",
            get(
                |State(fake): State<Arc<FakeMicrosoft>>, headers: HeaderMap, uri: Uri| async move {
                    delta(&fake, DataType::Contacts, "", &headers, &uri).await
                },
            ),
        )
        .route(
            "/v1.0/me/contactFolders/{folder}/contacts/delta",
            get(
                |State(fake): State<Arc<FakeMicrosoft>>,
                 Path(folder): Path<String>,
                 headers: HeaderMap,
                 uri: Uri| async move {
                    delta(&fake, DataType::Contacts, &folder, &headers, &uri).await
                },
            ),
        )
        .route("/v1.0/me/todo/lists", get(todo_lists))
        .route(
            "/v1.0/me/todo/lists/{list}/tasks/delta",
            get(
                |State(fake): State<Arc<FakeMicrosoft>>,
                 Path(list): Path<String>,
                 headers: HeaderMap,
                 uri: Uri| async move {
                    if !fake.graph().todo_lists().contains(&list) {
                        return graph_error(
                            StatusCode::NOT_FOUND,
                            "ErrorItemNotFound",
                            "The specified object was not found in the store.",
                        );
                    }
                    delta(&fake, DataType::Todos, &list, &headers, &uri).await
                },
            ),
        )
        .route(
            "/v1.0/me/drive/root/delta",
            get(
                |State(fake): State<Arc<FakeMicrosoft>>, headers: HeaderMap, uri: Uri| async move {
                    delta(&fake, DataType::Files, "", &headers, &uri).await
                },
            ),
        )
        .route("/v1.0/me/drive/items/{id}/content", get(file_content))
        .route_layer(middleware::from_fn_with_state(
            fake.clone(),
            require_access_token,
        ));
    let app = Router::new()
        .route("/common/oauth2/v2.0/token", post(token))
        .route("/download/{id}", get(download))
        .merge(graph_routes)
        .merge(subscriptions::routes())
        .with_state(fake.clone());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "the fake Microsoft server stopped");
        }
    });
    fake
}
