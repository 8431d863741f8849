//! Every environment variable Switchyard reads, declared in one place.

/// Path of the TOML configuration file.
pub const CONFIG: &str = "SWITCHYARD_CONFIG";
/// Data directory of the embedded engines.
pub const DATA_DIR: &str = "SWITCHYARD_DATA_DIR";
/// Address `serve` listens on.
pub const LISTEN: &str = "SWITCHYARD_LISTEN";
/// Base URL of a running `serve`, for `import`.
pub const SERVER: &str = "SWITCHYARD_SERVER";
/// How long `import` retries a batch while the server or bus is unavailable (`5m`; `0`
/// sends each batch once), as `--retry-for` and `[import] retry_for`.
pub const IMPORT_RETRY_FOR: &str = "SWITCHYARD_IMPORT_RETRY_FOR";
/// Log filter, in `tracing_subscriber::EnvFilter` syntax (falls back to `RUST_LOG`).
pub const LOG: &str = "SWITCHYARD_LOG";
/// URL of the bus (`nats://…`, `amqp://…`); unset means the embedded bus.
pub const BUS: &str = "SWITCHYARD_BUS";
/// PEM file of the CA that signed the bus server's certificate (`tls://`, `amqps://`).
pub const BUS_CA_FILE: &str = "SWITCHYARD_BUS_CA_FILE";
/// Keeps deployments sharing servers apart: the NATS stream prefix or the RabbitMQ
/// exchange, the Redis key prefix (`{namespace}:`) and the outbox's PostgreSQL schema.
pub const BUS_NAMESPACE: &str = "SWITCHYARD_BUS_NAMESPACE";
/// The secret that signs and checks live-stream tokens (`GET /v1/stream`), 32 bytes or
/// more; without it the stream is closed.
pub const NOTIFIER_SECRET: &str = "SWITCHYARD_NOTIFIER_SECRET";
/// Endpoint of the search engine (Vespa, `http://…`); unset means the embedded index.
pub const SEARCH: &str = "SWITCHYARD_SEARCH";
/// URL of the state store (`redis://…`); unset means the embedded store.
pub const STATE: &str = "SWITCHYARD_STATE";
/// PEM file of the CA that signed the Redis server's certificate (`rediss://`).
pub const STATE_CA_FILE: &str = "SWITCHYARD_STATE_CA_FILE";
/// The ecosystem's name for a Redis URL, read when `SWITCHYARD_STATE` is unset.
pub const REDIS_URL: &str = "REDIS_URL";
/// URL of the outbox database (`postgres://…`); unset means the embedded outbox.
pub const OUTBOX: &str = "SWITCHYARD_OUTBOX";
/// The HS256 secret of JWTs (`[auth.jwt]` with `algorithm = "HS256"`), 32 bytes or more.
pub const JWT_SECRET: &str = "SWITCHYARD_JWT_SECRET";
/// The credential (`sy_…` API token or JWT) the CLI sends to a running server; without
/// it, a CLI that can write the data directory mints itself a short-lived admin token.
pub const TOKEN: &str = "SWITCHYARD_TOKEN";
/// PEM file of the CA that signed the PostgreSQL server's certificate (like the URL's
/// `sslrootcert`).
pub const OUTBOX_CA_FILE: &str = "SWITCHYARD_OUTBOX_CA_FILE";
/// PEM file of the CA that signed the Vespa endpoint's certificate (`https://`).
pub const SEARCH_CA_FILE: &str = "SWITCHYARD_SEARCH_CA_FILE";
/// Microsoft Graph's base URL (`https://graph.microsoft.com`), as
/// `[providers.microsoft] graph_url`; tests and private clouds point it elsewhere.
pub const MICROSOFT_GRAPH_URL: &str = "SWITCHYARD_MICROSOFT_GRAPH_URL";
/// Microsoft's OAuth2 token endpoint, as `[providers.microsoft] token_url`.
pub const MICROSOFT_TOKEN_URL: &str = "SWITCHYARD_MICROSOFT_TOKEN_URL";
/// The application's client id at Microsoft, as `[providers.microsoft] client_id`;
/// without one, Microsoft accounts cannot be connected.
pub const MICROSOFT_CLIENT_ID: &str = "SWITCHYARD_MICROSOFT_CLIENT_ID";
/// The application's client secret at Microsoft, as `[providers.microsoft]
/// client_secret`.
pub const MICROSOFT_CLIENT_SECRET: &str = "SWITCHYARD_MICROSOFT_CLIENT_SECRET";
/// The mailer's SMTP server (`smtp://host:port`, `smtps://…` for implicit TLS), as
/// `[mailer] smtp_url`; set, it also puts the mailer in the default roles of `serve`.
/// The mailer itself reads it with `SWITCHYARD_SMTP_USERNAME` and
/// `SWITCHYARD_SMTP_PASSWORD`, its login (`switchyard_mailer::MailerConfig::with_env`).
pub const SMTP_URL: &str = switchyard_mailer::SMTP_URL_ENV;
/// Whether identity events are also copied, in the legacy shape, to the legacy fanout
/// exchange `smtp_send_email_exc` (`true` or `false`), as `[identity] dual_publish`
/// [default: true].
pub const ENABLE_DUAL_PUBLISH: &str = "ENABLE_DUAL_PUBLISH";
/// Seconds a verification code is accepted, as `[identity] verification_code_ttl_secs`
/// [default: 600].
pub const VERIFICATION_CODE_TTL_SECS: &str = "SWITCHYARD_VERIFICATION_CODE_TTL_SECS";
/// The public URL of this server's `/v1/webhooks/microsoft`, where Graph delivers change
/// notifications, as `[providers.microsoft] webhook_url`.
pub const MICROSOFT_WEBHOOK_URL: &str = "SWITCHYARD_MICROSOFT_WEBHOOK_URL";
/// Seconds between two polls of every Microsoft integration for changes, as
/// `[providers.microsoft] poll_interval_secs` [default: 300].
pub const MICROSOFT_POLL_SECS: &str = "SWITCHYARD_MICROSOFT_POLL_SECS";
/// The key that seals provider credentials at rest: base64 of 32 random bytes
/// (`openssl rand -base64 32`). Without it, an embedded server keeps its own key in
/// `{data_dir}/auth/encryption.key`.
pub const ENCRYPTION_KEY: &str = "SWITCHYARD_ENCRYPTION_KEY";
/// Former encryption keys, comma-separated, that still open what they sealed while it
/// is sealed again with the current key (key rotation).
pub const PREVIOUS_ENCRYPTION_KEYS: &str = "SWITCHYARD_PREVIOUS_ENCRYPTION_KEYS";
