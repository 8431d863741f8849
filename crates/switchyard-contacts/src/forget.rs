//! Erasing contacts: [`forget`] removes a user's discovered contacts (all, or one
//! address) on request, [`drop_stale`] those not seen within the retention window; both
//! delete the contacts' documents from the search index too, so nothing of them stays
//! searchable. Idempotency keys are one-way hashes that expire with their class, so
//! nothing readable is left elsewhere.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchyard_contracts::DataKind;
use switchyard_search::SearchBackend;

use crate::{ContactError, ContactStore, ForgottenContact};

/// Forgets `user`'s discovered contacts (or the one at `address`) and deletes their
/// contact documents from `index`; returns how many were forgotten.
pub async fn forget(
    store: &dyn ContactStore,
    index: &Arc<dyn SearchBackend>,
    user: &str,
    address: Option<&str>,
) -> Result<usize, ContactError> {
    let forgotten = store.forget(user, address).await?;
    remove_documents(index, &forgotten).await?;
    Ok(forgotten.len())
}

/// Drops everyone's contacts last seen before `cutoff` and deletes their contact
/// documents from `index`; returns how many were dropped.
pub async fn drop_stale(
    store: &dyn ContactStore,
    index: &Arc<dyn SearchBackend>,
    cutoff: DateTime<Utc>,
) -> Result<usize, ContactError> {
    let dropped = store.drop_not_seen_since(None, cutoff).await?;
    remove_documents(index, &dropped).await?;
    Ok(dropped.len())
}

/// Deletes the contact documents of `forgotten` from `index`, in one commit.
async fn remove_documents(
    index: &Arc<dyn SearchBackend>,
    forgotten: &[ForgottenContact],
) -> Result<(), ContactError> {
    if forgotten.is_empty() {
        return Ok(());
    }
    let index = index.clone();
    let documents: Vec<(String, String)> = forgotten
        .iter()
        .map(|c| (c.user_id.clone(), c.contact_id.clone()))
        .collect();
    let failed = |err: &dyn std::fmt::Display| {
        ContactError::unavailable(format!(
            "contacts forgotten, but their search documents were kept: {err}"
        ))
    };
    tokio::task::spawn_blocking(move || {
        for (user, id) in &documents {
            index.delete(user, DataKind::Contact.doc_type(), id)?;
        }
        index.commit()
    })
    .await
    .map_err(|err| failed(&err))?
    .map_err(|err| failed(&err))
}
