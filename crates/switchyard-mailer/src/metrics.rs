//! The mailer's Prometheus metrics, declared once: emails sent per language
//! (`emails_processed_total{language}`, the name the identity team's dashboards read) and failed sends per error type
//! (`emails_failed_total{error_type}`: `transient` for each send to be
//! retried, `permanent` and `invalid_message` for each email given up on at once).
//! Labels come from bounded sets only; no address, user, event id or code. The node adds
//! [`metrics_registry`] to its `/metrics` (`switchyard_runtime::encode_metrics_with`).

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::{Language, MailerErrorKind};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LanguageLabel {
    language: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorTypeLabel {
    error_type: &'static str,
}

pub(crate) struct MailerMetrics {
    processed: Family<LanguageLabel, Counter>,
    failed: Family<ErrorTypeLabel, Counter>,
    registry: Registry,
}

pub(crate) static METRICS: LazyLock<MailerMetrics> = LazyLock::new(|| {
    let processed = Family::<LanguageLabel, Counter>::default();
    let failed = Family::<ErrorTypeLabel, Counter>::default();
    let mut registry = Registry::default();
    registry.register(
        "emails_processed",
        "Emails the SMTP server accepted, by language",
        processed.clone(),
    );
    registry.register(
        "emails_failed",
        "Sends that failed, by error type: transient (retried), permanent or invalid_message (dead-lettered)",
        failed.clone(),
    );
    MailerMetrics {
        processed,
        failed,
        registry,
    }
});

impl MailerMetrics {
    pub(crate) fn sent(&self, language: Language) {
        self.processed
            .get_or_create(&LanguageLabel {
                language: language.as_str(),
            })
            .inc();
    }

    pub(crate) fn failed(&self, kind: MailerErrorKind) {
        self.failed
            .get_or_create(&ErrorTypeLabel {
                error_type: kind.as_str(),
            })
            .inc();
    }
}

/// The mailer's metrics, for the node's `/metrics`.
pub fn metrics_registry() -> &'static Registry {
    &METRICS.registry
}
