//! Folding ranked hits into results: a document and its matching fragments become one
//! result, ranked where its best member ranks, with at most `MAX_FRAGMENTS_PER_HIT`
//! fragments, best first. The same rule as the tantivy backend's, whose folding is
//! private to `switchyard-search` and tied to tantivy's stored documents, so it is
//! implemented again here over Vespa hits.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use switchyard_search::MAX_FRAGMENTS_PER_HIT;

use crate::http::HitFields;

/// A hit as the backend reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredHit {
    pub(crate) id: String,
    pub(crate) doc_type: String,
    pub(crate) title: String,
    pub(crate) content: String,
    pub(crate) participants: Vec<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_updated: DateTime<Utc>,
    pub(crate) sync_timestamp: DateTime<Utc>,
    /// Set for fragments only.
    pub(crate) parent: Option<StoredParent>,
}

/// A fragment's link to its document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredParent {
    pub(crate) id: String,
    pub(crate) doc_type: String,
    pub(crate) title: String,
    pub(crate) position: u32,
}

impl From<HitFields> for StoredHit {
    fn from(fields: HitFields) -> StoredHit {
        let date = |micros: i64| DateTime::from_timestamp_micros(micros).unwrap_or_default();
        let parent = fields.parent_id.map(|id| StoredParent {
            id,
            doc_type: fields.parent_doc_type.unwrap_or_default(),
            title: fields.parent_title.unwrap_or_default(),
            position: fields
                .position
                .map_or(0, |position| u32::try_from(position).unwrap_or(u32::MAX)),
        });
        StoredHit {
            id: fields.id,
            doc_type: fields.doc_type,
            title: fields.title,
            content: fields.content,
            participants: fields.participants,
            created_at: date(fields.created_at),
            last_updated: date(fields.last_updated),
            sync_timestamp: date(fields.sync_timestamp),
            parent,
        }
    }
}

/// A result being assembled: a document and its matching fragments.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) score: f32,
    /// The document itself, when it matched.
    pub(crate) document: Option<StoredHit>,
    /// The matching fragments, best first.
    pub(crate) fragments: Vec<(StoredHit, f32)>,
}

impl Group {
    /// The `(doc_type, id)` of the document this result shows.
    pub(crate) fn document_key(&self) -> (String, String) {
        match (&self.document, self.fragments.first()) {
            (Some(document), _) => (document.doc_type.clone(), document.id.clone()),
            (None, Some((fragment, _))) => key_of(fragment),
            (None, None) => unreachable!("a group holds its document or a fragment"),
        }
    }
}

fn key_of(hit: &StoredHit) -> (String, String) {
    match &hit.parent {
        Some(parent) => (parent.doc_type.clone(), parent.id.clone()),
        None => (hit.doc_type.clone(), hit.id.clone()),
    }
}

/// Folds `ranked` (in rank order) into at most `limit` results.
pub(crate) fn fold(ranked: &[(StoredHit, f32)], limit: usize) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_document: HashMap<(String, String), usize> = HashMap::new();
    for (hit, score) in ranked {
        let key = key_of(hit);
        let position = match by_document.get(&key) {
            Some(&position) => position,
            // Only the members of results already taken matter once the list is full.
            None if groups.len() >= limit => continue,
            None => {
                groups.push(Group {
                    score: *score,
                    document: None,
                    fragments: Vec::new(),
                });
                by_document.insert(key, groups.len() - 1);
                groups.len() - 1
            }
        };
        let group = &mut groups[position];
        group.score = group.score.max(*score);
        if hit.parent.is_some() {
            if group.fragments.len() < MAX_FRAGMENTS_PER_HIT {
                group.fragments.push((hit.clone(), *score));
            }
        } else {
            group.document = Some(hit.clone());
        }
    }
    for group in &mut groups {
        // Best first; the rank order may differ from relevance when sorting by date.
        group
            .fragments
            .sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(doc_type: &str, id: &str, parent: Option<&str>) -> StoredHit {
        StoredHit {
            id: id.into(),
            doc_type: doc_type.into(),
            title: String::new(),
            content: String::new(),
            participants: Vec::new(),
            created_at: DateTime::default(),
            last_updated: DateTime::default(),
            sync_timestamp: DateTime::default(),
            parent: parent.map(|parent| StoredParent {
                id: parent.into(),
                doc_type: "word".into(),
                title: String::new(),
                position: 0,
            }),
        }
    }

    #[test]
    fn fragments_fold_into_their_document_ranked_by_the_best_member() {
        let ranked = vec![
            (hit("word_fragment", "d#2", Some("d")), 3.0),
            (hit("email", "e", None), 2.0),
            (hit("word", "d", None), 1.0),
            (hit("word_fragment", "d#1", Some("d")), 4.0),
            (hit("word_fragment", "d#3", Some("d")), 0.5),
            (hit("word_fragment", "d#4", Some("d")), 0.4),
            (hit("todo", "t", None), 0.1),
        ];
        let groups = fold(&ranked, 2);
        assert_eq!(groups.len(), 2, "the todo is past the limit");
        assert_eq!(groups[0].document_key(), ("word".into(), "d".into()));
        assert_eq!(groups[0].score, 4.0);
        assert_eq!(groups[0].document.as_ref().unwrap().id, "d");
        let fragments: Vec<&str> = groups[0]
            .fragments
            .iter()
            .map(|(f, _)| f.id.as_str())
            .collect();
        assert_eq!(fragments, ["d#1", "d#2", "d#3"]);
        assert_eq!(groups[1].document_key(), ("email".into(), "e".into()));
    }

    #[test]
    fn a_result_found_through_fragments_only_names_their_document() {
        let groups = fold(&[(hit("word_fragment", "d#1", Some("d")), 1.0)], 10);
        assert!(groups[0].document.is_none());
        assert_eq!(groups[0].document_key(), ("word".into(), "d".into()));
    }
}
