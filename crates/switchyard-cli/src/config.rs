//! Configuration: the optional TOML file and its defaults. Flags and environment variables
//! (declared in `env_vars.rs`, parsed by clap) override the file, which overrides defaults.
//!
//! ```toml
//! version = 1
//! data_dir = "switchyard-data"
//! listen = "127.0.0.1:8080"
//!
//! [indexer]
//! batch_size = 50
//! commit_batch_size = 1000
//! ack_deadline_secs = 120
//! max_retries = 3
//! backoff_ms = [1000, 5000, 15000]
//!
//! [idempotency]
//! office_data_ttl_secs = 604800
//! idempotency_ttl_secs = 86400
//! batch_ttl_secs = 259200
//! fragment_ttl_secs = 2592000
//!
//! [claim_check]
//! threshold_bytes = 262144
//!
//! [state]
//! cleanup_interval_secs = 600
//!
//! [chunking]
//! max_fragment_chars = 2000
//! rows_per_fragment = 50
//! max_bytes_in_flight = 16777216
//!
//! # `switchyard import`: how long a batch is retried while the server or bus is
//! # unavailable, and what one imported file may cost before it is rejected (the
//! # defaults, far above real office data).
//! [import]
//! retry_for = "5m"                         # 0 sends each batch once
//! max_email_bytes = 67108864               # an .eml, or one message of an .mbox
//! max_mime_depth = 64                      # nesting of multiparts and attached messages
//! max_ics_bytes = 16777216                 # one .ics file
//! max_vcf_bytes = 16777216                 # one .vcf file
//! max_document_bytes = 268435456           # all parts of a .docx/.pptx/spreadsheet, inflated
//! max_document_parts = 10000               # zip entries of one document
//! max_compression_ratio = 100              # inflated / compressed, per part …
//! compression_ratio_floor_bytes = 1048576  # … once it inflates past this
//! max_sheet_rows = 1048576                 # rows of one worksheet
//! max_sheet_cells = 20000000               # cells of one worksheet, laid out
//! [http]
//! max_body_bytes = 33554432          # larger bodies get 413
//! request_timeout_secs = 60          # every route but the live stream
//! allowed_origins = []               # CORS: pages of these origins may call the API
//! allowed_hosts = []                 # Host names served [default: localhost names
//!                                    # when listening on loopback, else any]
//! rate_limit_per_second = 100        # per principal; 429 with Retry-After beyond
//! rate_limit_burst = 200
//!
//! [mailer]                           # the mailer role (`--roles mailer`)
//! smtp_url = "smtp://127.0.0.1:2525" # or SWITCHYARD_SMTP_URL; smtps:// for implicit TLS
//! tls = "starttls"                   # none | opportunistic | starttls (smtp://), implicit (smtps://)
//! from = "Example <no-reply@example.com>"
//! timeout_ms = 10000
//! # credentials: SWITCHYARD_SMTP_USERNAME and SWITCHYARD_SMTP_PASSWORD, never in the file
//!
//! [identity]
//! dual_publish = true                # ENABLE_DUAL_PUBLISH wins; also to smtp_send_email_exc
//! verification_code_ttl_secs = 600
//!
//! [auth]
//! audit_log = "switchyard-data/audit/audit.jsonl"   # [default: in the data directory]
//!
//! [providers.microsoft]              # connected Microsoft 365 accounts
//! client_id = "00001111-aaaa-2222-bbbb-3333cccc4444"   # or SWITCHYARD_MICROSOFT_CLIENT_ID
//! # client_secret, graph_url, token_url: better SWITCHYARD_MICROSOFT_* in the environment
//!
//! [auth.jwt]                         # JWTs of the product's identity provider
//! issuer = "https://id.example.com/"
//! audience = "switchyard"
//! algorithm = "RS256"                # HS256 takes its secret from SWITCHYARD_JWT_SECRET
//! jwks_url = "https://id.example.com/.well-known/jwks.json"   # or jwks_file = "…"
//! user_claim = "sub"
//! scope_claim = "scope"              # switchyard:read|write|admin
//! default_scope = "write"
//! ```

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use switchyard_auth::JwtConfig;
use switchyard_chunking::ChunkingConfig;
use switchyard_contacts::ContactsConfig;
use switchyard_contracts::{KeyClass, MAX_PAYLOAD_BYTES};
use switchyard_identity::IdentitySettings;
use switchyard_indexer::IndexerConfig;
use switchyard_mailer::MailerConfig;
use switchyard_notifier::NotifierConfig;
use switchyard_office::ImportLimits;
use switchyard_runtime::KeyTtls;

use crate::api::{HttpSettings, RateLimit};
use crate::backends::{EngineCaFiles, EngineUrls};
use crate::env_vars;

/// The configuration file, as written by the user.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Format version of the file; only `1` exists.
    pub version: Option<u32>,
    /// Where the embedded engines keep their data.
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTP API.
    pub listen: Option<SocketAddr>,
    /// The search indexer consumers.
    #[serde(default)]
    pub indexer: Option<IndexerConfig>,
    /// Time-to-live of idempotency keys and claim-check blobs per key class.
    #[serde(default)]
    pub idempotency: IdempotencyFileConfig,
    /// Large payloads stored by reference.
    #[serde(default)]
    pub claim_check: ClaimCheckFileConfig,
    /// The state store.
    #[serde(default)]
    pub state: StateFileConfig,
    /// External engines by URL; absent ones are embedded.
    #[serde(default)]
    pub engines: EnginesFileConfig,
    /// Subscription management.
    #[serde(default)]
    pub subscriptions: SubscriptionsFileConfig,
    /// How documents are cut into fragments.
    #[serde(default)]
    pub chunking: Option<ChunkingConfig>,
    /// Contact discovery: weights, half-life, publish threshold, ignored addresses,
    /// retention.
    #[serde(default)]
    pub contacts: Option<ContactsConfig>,
    /// The live notifier: journal retention, heartbeats.
    #[serde(default)]
    pub notifier: Option<NotifierConfig>,
    /// `switchyard import`: retries and what one imported file may cost.
    #[serde(default)]
    pub import: ImportFileConfig,
    /// The HTTP API's guards.
    #[serde(default)]
    pub http: HttpFileConfig,
    /// Credentials and the audit log.
    #[serde(default)]
    pub auth: AuthFileConfig,
    /// The providers accounts can be connected from.
    #[serde(default)]
    pub providers: ProvidersFileConfig,
    /// The identity flows: dual publish, verification codes.
    #[serde(default)]
    pub identity: IdentityFileConfig,
    /// The mailer role's SMTP server and sender (credentials only from the environment).
    #[serde(default)]
    pub mailer: Option<MailerConfig>,
}

/// `[identity]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityFileConfig {
    /// Copy identity events to the legacy fanout exchange too (default true); the
    /// environment's `ENABLE_DUAL_PUBLISH` wins.
    pub dual_publish: Option<bool>,
    /// Seconds a verification code is accepted (default 600).
    pub verification_code_ttl_secs: Option<u64>,
}

/// `[providers]` section.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidersFileConfig {
    /// `[providers.microsoft]`.
    #[serde(default)]
    pub microsoft: MicrosoftFileConfig,
}

/// `[providers.microsoft]`: where Microsoft's services are and this application's client
/// there; each key yields to its `SWITCHYARD_MICROSOFT_*` environment variable.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicrosoftFileConfig {
    /// Graph's base URL [default: `https://graph.microsoft.com`].
    pub graph_url: Option<String>,
    /// The OAuth2 token endpoint [default: the Microsoft identity platform's].
    pub token_url: Option<String>,
    /// The application's client id.
    pub client_id: Option<String>,
    /// The application's client secret (better in the environment).
    pub client_secret: Option<String>,
    /// The public URL Graph delivers change notifications to: this server's
    /// `/v1/webhooks/microsoft` as the internet reaches it (`https://…`). Without it,
    /// changes arrive by the periodic poll alone.
    pub webhook_url: Option<String>,
    /// Seconds between two polls of every integration for changes (and renewals of
    /// their subscriptions) [default: 300].
    pub poll_interval_secs: Option<u64>,
}

/// `[import]` section: the retry time beside the limits of `switchyard_office`.
#[derive(Debug, Default)]
pub struct ImportFileConfig {
    /// How long a batch is retried while the server or bus is unavailable, e.g. `"5m"`
    /// (default 5 minutes; `"0"` sends it once).
    pub retry_for: Option<Duration>,
    /// What one imported file may cost before it is rejected.
    pub limits: ImportLimits,
}

impl<'de> Deserialize<'de> for ImportFileConfig {
    /// Takes `retry_for` out and reads the rest as [`ImportLimits`], whose own
    /// `deny_unknown_fields` refuses a misspelt key (`serde(flatten)` would let it pass).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(deserializer)?;
        let retry_for = match table.remove("retry_for") {
            None => None,
            Some(toml::Value::String(text)) => {
                Some(parse_human_duration(&text).map_err(D::Error::custom)?)
            }
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "retry_for must be a duration in a string, such as \"5m\" (found {})",
                    other.type_str()
                )));
            }
        };
        let limits =
            ImportLimits::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?;
        Ok(ImportFileConfig { retry_for, limits })
    }
}

/// Parses `"90s"`, `"5m"`, `"1h 30m"` or `"0"`.
pub fn parse_human_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|err| format!("invalid duration `{text}` ({err}): use e.g. 30s, 5m or 1h"))
}

/// `[http]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFileConfig {
    /// Largest request body in bytes (default 32 MiB).
    pub max_body_bytes: Option<usize>,
    /// Longest a request may take, but the live stream (default 60).
    pub request_timeout_secs: Option<u64>,
    /// Origins allowed to call the API from a browser (CORS); default none.
    pub allowed_origins: Option<Vec<String>>,
    /// Host names served; default the localhost names on a loopback address, else any.
    pub allowed_hosts: Option<Vec<String>>,
    /// Sustained requests per second per principal (default 100).
    pub rate_limit_per_second: Option<u32>,
    /// Burst above it (default 200).
    pub rate_limit_burst: Option<u32>,
}

/// `[auth]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFileConfig {
    /// Where the audit log goes (default `{data_dir}/audit/audit.jsonl`).
    pub audit_log: Option<PathBuf>,
    /// JWTs of the product's identity provider; absent: API tokens only.
    pub jwt: Option<JwtConfig>,
}

/// `[subscriptions]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsFileConfig {
    /// Create missing subscriptions when `serve` starts.
    pub auto_create: Option<bool>,
}

/// `[engines]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnginesFileConfig {
    /// `nats://…` or `amqp://…`.
    pub bus: Option<String>,
    /// The namespace of this deployment: the NATS stream prefix, the prefix of the
    /// RabbitMQ exchanges and queues (`{namespace}.`), the Redis key prefix
    /// (`{namespace}:`) and the outbox's PostgreSQL schema.
    pub bus_namespace: Option<String>,
    /// A Vespa endpoint, `http://…`; absent means the embedded index.
    pub search: Option<String>,
    /// `redis://…`.
    pub state: Option<String>,
    /// `postgres://…`.
    pub outbox: Option<String>,
    /// PEM file of the CA of the bus server's certificate (`tls://`, `amqps://`).
    pub bus_ca_file: Option<PathBuf>,
    /// PEM file of the CA of the Redis server's certificate (`rediss://`).
    pub state_ca_file: Option<PathBuf>,
    /// PEM file of the CA of the PostgreSQL server's certificate (or `sslrootcert`).
    pub outbox_ca_file: Option<PathBuf>,
    /// PEM file of the CA of the Vespa endpoint's certificate (`https://`).
    pub search_ca_file: Option<PathBuf>,
}

/// `[idempotency]` section: key time-to-live per class, in seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyFileConfig {
    /// Office items (default 7 days).
    pub office_data_ttl_secs: Option<u64>,
    /// Plain event ids (default 24 h).
    pub idempotency_ttl_secs: Option<u64>,
    /// Batch operations (default 3 days).
    pub batch_ttl_secs: Option<u64>,
    /// Document fragments (default 30 days).
    pub fragment_ttl_secs: Option<u64>,
}

/// `[claim_check]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimCheckFileConfig {
    /// Payloads above this size travel by reference (default 262144).
    pub threshold_bytes: Option<usize>,
}

/// `[state]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFileConfig {
    /// How often `serve` deletes expired keys (default 600).
    pub cleanup_interval_secs: Option<u64>,
}

/// Settings resolved from flags, environment, file and defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the embedded engines keep their data.
    pub data_dir: PathBuf,
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// The search indexer's fetches, commits and retries.
    pub indexer: IndexerConfig,
    /// Time-to-live of keys and blobs per class.
    pub key_ttls: KeyTtls,
    /// Claim-check threshold.
    pub claim_check_threshold_bytes: usize,
    /// Expired-key cleanup period of `serve`.
    pub cleanup_interval: Duration,
    /// Where the bus, state and outbox live.
    pub engines: EngineUrls,
    /// How documents are cut into fragments.
    pub chunking: ChunkingConfig,
    /// Contact discovery.
    pub contacts: ContactsConfig,
    /// The live notifier.
    pub notifier: NotifierConfig,
    /// Whether `serve` creates missing subscriptions (default: on for an embedded bus,
    /// off for a distributed one, where `switchyard topics setup` does it).
    pub auto_create: bool,
    /// What one imported file may cost before it is rejected.
    pub import_limits: ImportLimits,
    /// How long `import` retries a batch the server or bus cannot take for now.
    pub import_retry_for: Duration,
    /// The HTTP API's guards.
    pub http: HttpSettings,
    /// Where the audit log goes.
    pub audit_log: PathBuf,
    /// JWTs accepted besides API tokens.
    pub jwt: Option<JwtConfig>,
    /// The credential the CLI sends to a running server (`--token`).
    pub client_token: Option<String>,
    /// `[providers]` as the file says (the environment wins, see `integrations.rs`).
    pub providers: ProvidersFileConfig,
    /// The identity flows.
    pub identity: IdentitySettings,
    /// The mailer's SMTP settings, when an SMTP server is configured (`[mailer]` or
    /// `SWITCHYARD_SMTP_URL`): only then do the default roles include the mailer.
    pub mailer: Option<MailerConfig>,
    /// The configuration file it was read from, for a reload.
    pub config_file: Option<PathBuf>,
}

const DEFAULT_DATA_DIR: &str = "switchyard-data";
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_IMPORT_RETRY_FOR: Duration = Duration::from_secs(5 * 60);

/// The mailer's settings when an SMTP server is configured: `[mailer]` with the
/// environment over it (`SWITCHYARD_SMTP_URL`, `SWITCHYARD_SMTP_USERNAME`,
/// `SWITCHYARD_SMTP_PASSWORD`).
fn mailer_settings(file: Option<MailerConfig>) -> anyhow::Result<Option<MailerConfig>> {
    let env = |name: &str| std::env::var(name).ok();
    if file.is_none() && env(env_vars::SMTP_URL).is_none() {
        return Ok(None);
    }
    let config = file.unwrap_or_default().with_env(env);
    config
        .validate()
        .context("[mailer] / SWITCHYARD_SMTP_URL")?;
    Ok(Some(config))
}

impl Settings {
    /// The mailer's settings, or the defaults (`smtp://127.0.0.1:25`) when none are
    /// configured: what `--roles mailer` uses, and the shape of its subscription.
    pub fn mailer_or_default(&self) -> MailerConfig {
        self.mailer.clone().unwrap_or_default()
    }
}

/// The identity settings of the configuration file at `path` (none: defaults), with the
/// environment over it: what `serve` applies again on SIGHUP.
pub fn reload_identity_settings(path: Option<&Path>) -> anyhow::Result<IdentitySettings> {
    match path {
        Some(path) => identity_settings(&FileConfig::load(path)?.identity),
        None => identity_settings(&IdentityFileConfig::default()),
    }
}

/// The identity settings: the environment over `[identity]` over the defaults.
fn identity_settings(file: &IdentityFileConfig) -> anyhow::Result<IdentitySettings> {
    let defaults = IdentitySettings::default();
    let dual_publish = match std::env::var(env_vars::ENABLE_DUAL_PUBLISH) {
        Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => bail!(
                "{}=`{value}`: expected true or false",
                env_vars::ENABLE_DUAL_PUBLISH
            ),
        },
        Err(_) => file.dual_publish.unwrap_or(defaults.dual_publish),
    };
    let ttl_secs = match std::env::var(env_vars::VERIFICATION_CODE_TTL_SECS) {
        Ok(value) => Some(value.trim().parse::<u64>().with_context(|| {
            format!(
                "{}=`{value}`: expected whole seconds",
                env_vars::VERIFICATION_CODE_TTL_SECS
            )
        })?),
        Err(_) => file.verification_code_ttl_secs,
    };
    let code_lifetime = match ttl_secs {
        Some(0) => bail!("the verification code lifetime must be at least 1 s"),
        Some(secs) => chrono::Duration::seconds(secs.min(86_400) as i64),
        None => defaults.code_lifetime,
    };
    Ok(IdentitySettings {
        dual_publish,
        code_lifetime,
    })
}

impl FileConfig {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read config {}", path.display()))?;
        let config: FileConfig = toml::from_str(&text)
            .with_context(|| format!("failed to parse config {}", path.display()))?;
        if let Some(version) = config.version
            && version != 1
        {
            bail!(
                "config {}: unsupported version {version}, expected 1",
                path.display()
            );
        }
        if let Some(indexer) = &config.indexer {
            indexer
                .validate()
                .with_context(|| format!("config {}: [indexer]", path.display()))?;
        }
        if let Some(contacts) = &config.contacts {
            contacts
                .validate()
                .with_context(|| format!("config {}: [contacts]", path.display()))?;
        }
        if let Some(notifier) = &config.notifier {
            notifier
                .validate()
                .with_context(|| format!("config {}: [notifier]", path.display()))?;
        }
        if let Some(chunking) = &config.chunking {
            chunking
                .validate()
                .with_context(|| format!("config {}: [chunking]", path.display()))?;
        }
        Ok(config)
    }
}

impl Settings {
    /// Resolves settings: `data_dir` and `listen` given on the command line or in the
    /// environment win over the file, the file over defaults.
    pub fn resolve(
        file: Option<&Path>,
        data_dir: Option<PathBuf>,
        listen: Option<SocketAddr>,
        engines: EngineUrls,
    ) -> anyhow::Result<Self> {
        let file_path = file;
        let file = match file {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let data_dir = data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let listen = listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default address is valid"));
        let http = &file.http;
        let rate = |value: Option<u32>, default: u32, key: &str| {
            NonZeroU32::new(value.unwrap_or(default))
                .with_context(|| format!("http.{key} must be at least 1"))
        };
        let http = HttpSettings {
            max_body_bytes: http.max_body_bytes.unwrap_or(32 << 20),
            request_timeout: Duration::from_secs(http.request_timeout_secs.unwrap_or(60)),
            allowed_origins: http.allowed_origins.clone().unwrap_or_default(),
            allowed_hosts: http.allowed_hosts.clone().unwrap_or_else(|| {
                if listen.ip().is_loopback() {
                    ["localhost", "127.0.0.1", "[::1]"]
                        .map(String::from)
                        .to_vec()
                } else {
                    Vec::new()
                }
            }),
            rate_limit: RateLimit {
                per_second: rate(http.rate_limit_per_second, 100, "rate_limit_per_second")?,
                burst: rate(http.rate_limit_burst, 200, "rate_limit_burst")?,
            },
        };
        Ok(Settings {
            audit_log: file
                .auth
                .audit_log
                .unwrap_or_else(|| data_dir.join("audit").join("audit.jsonl")),
            jwt: file.auth.jwt,
            client_token: None,
            providers: file.providers,
            identity: identity_settings(&file.identity)?,
            mailer: mailer_settings(file.mailer)?,
            config_file: file_path.map(Path::to_path_buf),
            http,
            data_dir,
            listen,
            indexer: file.indexer.unwrap_or_default(),
            key_ttls: [
                (KeyClass::OfficeData, file.idempotency.office_data_ttl_secs),
                (KeyClass::Idempotency, file.idempotency.idempotency_ttl_secs),
                (KeyClass::Batch, file.idempotency.batch_ttl_secs),
                (KeyClass::Fragment, file.idempotency.fragment_ttl_secs),
            ]
            .into_iter()
            .fold(KeyTtls::default(), |ttls, (class, secs)| match secs {
                Some(secs) => ttls.with(class, Duration::from_secs(secs)),
                None => ttls,
            }),
            claim_check_threshold_bytes: file
                .claim_check
                .threshold_bytes
                .unwrap_or(MAX_PAYLOAD_BYTES),
            cleanup_interval: Duration::from_secs(file.state.cleanup_interval_secs.unwrap_or(600)),
            chunking: file.chunking.unwrap_or_default(),
            contacts: file.contacts.unwrap_or_default(),
            notifier: file.notifier.unwrap_or_default(),
            import_limits: file.import.limits,
            import_retry_for: file.import.retry_for.unwrap_or(DEFAULT_IMPORT_RETRY_FOR),
            auto_create: file
                .subscriptions
                .auto_create
                .unwrap_or(engines.bus.is_none() && file.engines.bus.is_none()),
            engines: EngineUrls {
                bus: engines.bus.or(file.engines.bus),
                bus_namespace: engines.bus_namespace.or(file.engines.bus_namespace),
                search: engines.search.or(file.engines.search),
                state: engines.state.or(file.engines.state),
                outbox: engines.outbox.or(file.engines.outbox),
                ca_files: engines.ca_files.or(EngineCaFiles {
                    bus: file.engines.bus_ca_file,
                    state: file.engines.state_ca_file,
                    outbox: file.engines.outbox_ca_file,
                    search: file.engines.search_ca_file,
                }),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let file = write(
            "version = 1\ndata_dir = \"/from/file\"\nlisten = \"127.0.0.1:9000\"\n[indexer]\nbatch_size = 7\nbackoff_ms = [10, 20]\n[idempotency]\nbatch_ttl_secs = 60\n",
        );
        let settings = Settings::resolve(
            Some(file.path()),
            Some("/from/flag".into()),
            None,
            EngineUrls::default(),
        )
        .unwrap();
        assert_eq!(settings.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(settings.listen.port(), 9000);
        assert_eq!(settings.indexer.batch_size, 7);
        assert_eq!(
            settings.indexer.retry().backoff,
            [Duration::from_millis(10), Duration::from_millis(20)]
        );
        assert_eq!(
            settings.key_ttls.get(KeyClass::Batch),
            Duration::from_secs(60)
        );
        assert_eq!(
            settings.key_ttls.get(KeyClass::OfficeData),
            KeyClass::OfficeData.default_ttl()
        );
        let defaults = Settings::resolve(None, None, None, EngineUrls::default()).unwrap();
        assert_eq!(defaults.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(defaults.listen.port(), 8080);
    }

    #[test]
    fn ca_files_come_from_the_engines_section_unless_given() {
        let file = write(
            "version = 1\n[engines]\nbus = \"tls://nats:4222\"\nbus_ca_file = \"/etc/ca/bus.pem\"\nsearch_ca_file = \"/etc/ca/vespa.pem\"\n",
        );
        let given = EngineUrls {
            ca_files: EngineCaFiles {
                search: Some("/env/vespa.pem".into()),
                ..EngineCaFiles::default()
            },
            ..EngineUrls::default()
        };
        let settings = Settings::resolve(Some(file.path()), None, None, given).unwrap();
        let ca_files = &settings.engines.ca_files;
        assert_eq!(ca_files.bus, Some(PathBuf::from("/etc/ca/bus.pem")));
        assert_eq!(ca_files.search, Some(PathBuf::from("/env/vespa.pem")));
        assert_eq!(ca_files.state, None);
    }

    #[test]
    fn bad_files_are_reported_with_their_path() {
        for text in [
            "unknown_key = 1",
            "version = 2",
            "[indexer]\nbatch_size = 0",
            "[indexer]\ncommit_batch_size = 0",
            "[indexer]\nbackoff_ms = []",
            "listen = 5",
            "[import]\nmax_emails = 5",
            "[import]\nretry_for = \"soon\"",
            "[import]\nretry_for = 300",
        ] {
            let file = write(text);
            let err = Settings::resolve(Some(file.path()), None, None, EngineUrls::default())
                .unwrap_err();
            assert!(
                format!("{err:#}").contains(&file.path().display().to_string()),
                "{err:#}"
            );
        }
    }

    #[test]
    fn the_import_section_holds_the_retry_time_beside_the_limits() {
        let file = write("[import]\nretry_for = \"90s\"\nmax_email_bytes = 1024\n");
        let settings =
            Settings::resolve(Some(file.path()), None, None, EngineUrls::default()).unwrap();
        assert_eq!(settings.import_retry_for, Duration::from_secs(90));
        assert_eq!(settings.import_limits.max_email_bytes, 1024);
        assert_eq!(
            settings.import_limits.max_mime_depth,
            ImportLimits::default().max_mime_depth
        );
        let off = write("[import]\nretry_for = \"0\"\n");
        let settings =
            Settings::resolve(Some(off.path()), None, None, EngineUrls::default()).unwrap();
        assert_eq!(settings.import_retry_for, Duration::ZERO);
        let defaults = Settings::resolve(None, None, None, EngineUrls::default()).unwrap();
        assert_eq!(defaults.import_retry_for, Duration::from_secs(300));
    }

    #[test]
    fn durations_are_written_for_humans() {
        assert_eq!(parse_human_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(
            parse_human_duration("1h 30m"),
            Ok(Duration::from_secs(5400))
        );
        assert_eq!(parse_human_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_human_duration("0"), Ok(Duration::ZERO));
        let err = parse_human_duration("5 minutes please").unwrap_err();
        assert!(err.contains("use e.g. 30s, 5m or 1h"), "{err}");
    }
}
