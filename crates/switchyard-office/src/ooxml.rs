//! Office Open XML packages (`.docx`, `.pptx`, and the core properties of `.xlsx`): the
//! zip container, part relationships, `docProps/core.xml`, and a streaming XML walker the
//! format readers build on.
//!
//! Parts are never held whole: each is decompressed and parsed event by event with
//! quick-xml, so memory stays proportional to the extracted text, not to the XML. Element
//! names are matched by namespace (transitional and strict OOXML alike), never by prefix.
//! `mc:Fallback` branches are skipped, because they repeat the content of `mc:Choice`.
//! Zip bombs are refused by the [`ImportLimits`]: a package with too many parts, parts
//! inflating past the budget of the whole document, or past the compression ratio limit.
//! Sizes are counted while inflating; the sizes the zip directory declares only serve to
//! refuse early.
//!
//! Knows nothing of documents, slides or events: callers get names, attributes and text.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::{NsReader, XmlVersion};
use zip::ZipArchive;
use zip::read::ZipFile;
use zip::result::ZipError;

use crate::limits::{Cap, CappedReader, ImportLimits, human_bytes};

/// The signature of an OLE compound file: legacy binary formats and encrypted OOXML.
const OLE_SIGNATURE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// The XML namespaces the readers tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    /// WordprocessingML (`w:`).
    Word,
    /// DrawingML (`a:`).
    Drawing,
    /// PresentationML (`p:`).
    Presentation,
    /// Markup compatibility (`mc:`).
    Compat,
    /// Anything else, or no namespace.
    Other,
}

impl Ns {
    fn of(uri: &str) -> Ns {
        let ends = |suffixes: &[&str]| suffixes.iter().any(|suffix| uri.ends_with(suffix));
        if ends(&["/wordprocessingml/2006/main", "/wordprocessingml/main"]) {
            Ns::Word
        } else if ends(&["/drawingml/2006/main", "/drawingml/main"]) {
            Ns::Drawing
        } else if ends(&["/presentationml/2006/main", "/presentationml/main"]) {
            Ns::Presentation
        } else if uri.ends_with("/markup-compatibility/2006") {
            Ns::Compat
        } else {
            Ns::Other
        }
    }
}

/// What the XML walker reports to a [`Visitor`].
pub(crate) trait Visitor {
    /// An element opens (empty elements open and close at once).
    fn start(&mut self, ns: Ns, local: &str, element: &BytesStart<'_>);
    /// An element closes.
    fn end(&mut self, ns: Ns, local: &str);
    /// Character data, entities already resolved.
    fn text(&mut self, text: &str);
}

/// Streams the XML of `reader` to `visitor`; `part` names it in errors.
pub(crate) fn walk(
    reader: impl BufRead,
    part: &str,
    visitor: &mut impl Visitor,
) -> Result<(), String> {
    let mut reader = NsReader::from_reader(reader);
    reader.config_mut().expand_empty_elements = true;
    let mut buf = Vec::new();
    // Depth inside an `mc:Fallback`, whose content repeats `mc:Choice`.
    let mut skipped_depth = 0usize;
    loop {
        buf.clear();
        let position = reader.buffer_position();
        let (resolved, event) = reader
            .read_resolved_event_into(&mut buf)
            .map_err(|err| format!("malformed XML in {part} near byte {position}: {err}"))?;
        let ns = match resolved {
            ResolveResult::Bound(Namespace(uri)) => Ns::of(uri),
            _ => Ns::Other,
        };
        match event {
            Event::Start(element) => {
                let local = element.local_name();
                if skipped_depth > 0 {
                    skipped_depth += 1;
                } else if ns == Ns::Compat && local.as_ref() == "Fallback" {
                    skipped_depth = 1;
                } else {
                    visitor.start(ns, local.as_ref(), &element);
                }
            }
            Event::End(element) => {
                if skipped_depth > 0 {
                    skipped_depth -= 1;
                } else {
                    visitor.end(ns, element.local_name().as_ref());
                }
            }
            Event::Text(text) if skipped_depth == 0 => visitor.text(&text.xml10_content()),
            Event::CData(data) if skipped_depth == 0 => visitor.text(&data.xml10_content()),
            Event::GeneralRef(reference) if skipped_depth == 0 => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(character)) => Some(character.to_string()),
                    Ok(None) => {
                        quick_xml::escape::resolve_predefined_entity(&reference).map(str::to_string)
                    }
                    Err(_) => None,
                };
                if let Some(text) = resolved {
                    visitor.text(&text);
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// The value of the attribute named `local` (any prefix) of `element`, unescaped.
pub(crate) fn attribute(element: &BytesStart<'_>, local: &str) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|attribute| attribute.key.local_name().as_ref() == local)
        .map(|attribute| unescaped(&attribute))
}

/// The value of a prefixed attribute named `local` (`r:id`, not `id`) of `element`.
pub(crate) fn prefixed_attribute(element: &BytesStart<'_>, local: &str) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|attribute| {
            attribute.key.prefix().is_some() && attribute.key.local_name().as_ref() == local
        })
        .map(|attribute| unescaped(&attribute))
}

fn unescaped(attribute: &quick_xml::events::attributes::Attribute<'_>) -> String {
    match attribute.normalized_value(XmlVersion::Implicit1_0) {
        Ok(value) => value.into_owned(),
        Err(_) => attribute.value.to_string(),
    }
}

/// The core properties of a package that office readers show.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CoreProperties {
    /// `dc:title`, when not blank.
    pub(crate) title: Option<String>,
    /// `dc:creator`, when not blank.
    pub(crate) creator: Option<String>,
    /// `dcterms:modified`, when it parses.
    pub(crate) modified: Option<DateTime<Utc>>,
}

/// An opened OOXML zip package, with what is left of its decompression budget.
pub(crate) struct Package {
    archive: ZipArchive<BufReader<File>>,
    limits: ImportLimits,
    /// Bytes the parts read so far inflated to, all together.
    inflated_bytes: u64,
}

/// Why a file is not a readable package: checks the OLE signature first, so that
/// password-protected documents get a clear reason rather than a zip error, and the
/// part count against `limits`.
pub(crate) fn open_package(
    mut file: File,
    format: &str,
    limits: &ImportLimits,
) -> Result<Package, String> {
    if let Some(reason) = ole_reason(&mut file, format) {
        return Err(reason);
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|err| format!("failed to read: {err}"))?;
    let archive = open_zip(BufReader::new(file), format, limits)?;
    Ok(Package {
        archive,
        limits: limits.clone(),
        inflated_bytes: 0,
    })
}

fn open_zip<R: Read + Seek>(
    reader: R,
    format: &str,
    limits: &ImportLimits,
) -> Result<ZipArchive<R>, String> {
    let archive = ZipArchive::new(reader).map_err(|err| match err {
        ZipError::Io(err) => format!("failed to read: {err}"),
        err => format!("not a valid {format} file (broken or truncated zip package: {err})"),
    })?;
    let parts = archive.len() as u64;
    if parts > limits.max_document_parts {
        return Err(format!(
            "the package has {parts} parts, more than the limit of {} per document \
             (import.max_document_parts)",
            limits.max_document_parts
        ));
    }
    Ok(archive)
}

/// Inflates every part of the zip package `file` without keeping anything, checking the
/// part count, the budget and the compression ratio of `limits`, for readers (calamine)
/// that inflate parts whole and cannot be bounded while they read.
pub(crate) fn check_zip_limits(
    file: &mut File,
    format: &str,
    limits: &ImportLimits,
) -> Result<(), String> {
    let mut archive = open_zip(BufReader::new(file), format, limits)?;
    let mut inflated_bytes = 0;
    for index in 0..archive.len() {
        let part = archive
            .by_index(index)
            .map_err(|err| format!("cannot read part {index}: {err}"))?;
        let name = part
            .name()
            .map(|name| name.into_owned())
            .unwrap_or_else(|_| format!("part {index}"));
        let mut capped = capped_part(part, &name, inflated_bytes, limits)?;
        let copied = std::io::copy(&mut capped.reader, &mut std::io::sink());
        inflated_bytes += capped.reader.bytes_read();
        if let Some(cap) = capped.reader.exceeded() {
            return Err(limit_reason(&name, cap, capped.compressed_bytes, limits));
        }
        copied.map_err(|err| format!("cannot read {name}: {err}"))?;
    }
    Ok(())
}

/// A part being inflated under the limits, `already_inflated` bytes of the document's
/// budget being spent.
struct CappedPart<'a, R: Read> {
    reader: CappedReader<ZipFile<'a, R>>,
    compressed_bytes: u64,
}

fn capped_part<'a, R: Read>(
    part: ZipFile<'a, R>,
    name: &str,
    already_inflated: u64,
    limits: &ImportLimits,
) -> Result<CappedPart<'a, R>, String> {
    let remaining = limits.max_document_bytes.saturating_sub(already_inflated);
    let compressed_bytes = part.compressed_size();
    let ratio_cap = limits.ratio_allowance(compressed_bytes);
    // The declared size may lie, but a part declaring too much is refused at once.
    if part.size() > remaining {
        return Err(limit_reason(name, Cap::Total, compressed_bytes, limits));
    }
    if part.size() > ratio_cap {
        return Err(limit_reason(name, Cap::Ratio, compressed_bytes, limits));
    }
    Ok(CappedPart {
        reader: CappedReader::new(part, remaining, ratio_cap),
        compressed_bytes,
    })
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The rejection reason for the part `name` hitting `cap`.
fn limit_reason(name: &str, cap: Cap, compressed_bytes: u64, limits: &ImportLimits) -> String {
    match cap {
        Cap::Total => format!(
            "{name} inflates past the {} limit per document (import.max_document_bytes)",
            human_bytes(limits.max_document_bytes)
        ),
        Cap::Ratio => format!(
            "{name} inflates to more than {} times its compressed size of {} \
             (import.max_compression_ratio): a zip bomb?",
            limits.max_compression_ratio,
            human_bytes(compressed_bytes)
        ),
    }
}

/// A reason when `file` is an OLE compound file instead of a zip package.
pub(crate) fn ole_reason(file: &mut File, format: &str) -> Option<String> {
    let mut signature = [0u8; 8];
    file.read_exact(&mut signature).ok()?;
    if signature != OLE_SIGNATURE {
        return None;
    }
    // Encrypted OOXML keeps the package in an `EncryptedPackage` stream; the directory
    // names are UTF-16. A bounded scan finds it in every real file we have seen.
    let needle: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut head = Vec::new();
    let _ = file.by_ref().take(8 * 1024 * 1024).read_to_end(&mut head);
    let encrypted = head
        .windows(needle.len())
        .any(|window| window == needle.as_slice());
    Some(if encrypted {
        "encrypted (password-protected) file: cannot be read without the password".to_string()
    } else {
        format!("not a {format} file: an OLE compound document (legacy binary office format)")
    })
}

impl Package {
    /// The name of the part `name` as stored: exact, else case-insensitive (OPC part
    /// names ignore case).
    fn stored_name(&self, name: &str) -> Option<String> {
        if self.archive.index_for_name(name).is_some() {
            return Some(name.to_string());
        }
        self.archive
            .file_names()
            .flatten()
            .find(|stored| stored.eq_ignore_ascii_case(name))
            .map(Cow::into_owned)
    }

    /// Whether the package holds the part `name`.
    pub(crate) fn has_part(&self, name: &str) -> bool {
        self.stored_name(name).is_some()
    }

    /// Streams the part `name` to `visitor`; `Ok(false)` when there is no such part.
    pub(crate) fn walk_part(
        &mut self,
        name: &str,
        visitor: &mut impl Visitor,
    ) -> Result<bool, String> {
        let Some(stored) = self.stored_name(name) else {
            return Ok(false);
        };
        let part = self.archive.by_name(&stored).map_err(|err| match err {
            ZipError::UnsupportedArchive(reason) => format!("cannot read {name}: {reason}"),
            err => format!("cannot read {name}: {err}"),
        })?;
        let mut capped = capped_part(part, name, self.inflated_bytes, &self.limits)?;
        let walked = walk(BufReader::new(&mut capped.reader), name, visitor);
        self.inflated_bytes += capped.reader.bytes_read();
        if let Some(cap) = capped.reader.exceeded() {
            return Err(limit_reason(
                name,
                cap,
                capped.compressed_bytes,
                &self.limits,
            ));
        }
        if let Some(failure) = capped.reader.failure() {
            return Err(format!("cannot read {name}: {}", lowercase_first(failure)));
        }
        walked?;
        Ok(true)
    }

    /// The relationships of `part`: id → (type, resolved target part), internal only.
    pub(crate) fn relationships(&mut self, part: &str) -> Result<Relationships, String> {
        let (folder, file) = match part.rsplit_once('/') {
            Some((folder, file)) => (folder, file),
            None => ("", part),
        };
        let rels_name = if folder.is_empty() {
            format!("_rels/{file}.rels")
        } else {
            format!("{folder}/_rels/{file}.rels")
        };
        let mut collector = RelationshipCollector {
            folder: folder.to_string(),
            relationships: Relationships::default(),
        };
        self.walk_part(&rels_name, &mut collector)?;
        Ok(collector.relationships)
    }

    /// The main part (`officeDocument` relationship of the package), or `default`.
    pub(crate) fn main_part(&mut self, default: &str) -> Result<String, String> {
        let relationships = self.relationships("")?;
        Ok(relationships
            .first_of_type("/officeDocument")
            .unwrap_or_else(|| default.to_string()))
    }

    /// The core properties, empty when the package has none or they do not parse.
    pub(crate) fn core_properties(&mut self) -> CoreProperties {
        // Some producers add a second relationship with a misspelt type; the standard
        // package relationship wins.
        let part = self
            .relationships("")
            .ok()
            .and_then(|relationships| {
                relationships
                    .first_of_type("/package/2006/relationships/metadata/core-properties")
                    .or_else(|| relationships.first_of_type("/core-properties"))
            })
            .unwrap_or_else(|| "docProps/core.xml".to_string());
        let mut collector = CoreCollector::default();
        // Core properties are a nicety: a broken part leaves them empty, not the file.
        if self.walk_part(&part, &mut collector).is_err() {
            return CoreProperties::default();
        }
        collector.properties
    }
}

/// The relationships of one part.
#[derive(Debug, Default)]
pub(crate) struct Relationships {
    by_id: HashMap<String, (String, String)>,
    /// Ids in document order, for "first of type" lookups.
    order: Vec<String>,
}

impl Relationships {
    /// The target part of relationship `id`.
    pub(crate) fn target(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(|(_, target)| target.as_str())
    }

    /// The target of the first relationship whose type ends with `type_suffix`.
    pub(crate) fn first_of_type(&self, type_suffix: &str) -> Option<String> {
        self.order.iter().find_map(|id| {
            let (kind, target) = self.by_id.get(id)?;
            kind.ends_with(type_suffix).then(|| target.clone())
        })
    }
}

struct RelationshipCollector {
    folder: String,
    relationships: Relationships,
}

impl Visitor for RelationshipCollector {
    fn start(&mut self, _ns: Ns, local: &str, element: &BytesStart<'_>) {
        if local != "Relationship" {
            return;
        }
        if attribute(element, "TargetMode").is_some_and(|mode| mode == "External") {
            return;
        }
        let (Some(id), Some(kind), Some(target)) = (
            attribute(element, "Id"),
            attribute(element, "Type"),
            attribute(element, "Target"),
        ) else {
            return;
        };
        let target = resolve_target(&self.folder, &target);
        if self
            .relationships
            .by_id
            .insert(id.clone(), (kind, target))
            .is_none()
        {
            self.relationships.order.push(id);
        }
    }
    fn end(&mut self, _ns: Ns, _local: &str) {}
    fn text(&mut self, _text: &str) {}
}

/// The part a relationship target names, relative to `folder` unless absolute.
pub(crate) fn resolve_target(folder: &str, target: &str) -> String {
    let (mut segments, target) = match target.strip_prefix('/') {
        Some(absolute) => (Vec::new(), absolute),
        None => (
            folder
                .split('/')
                .filter(|segment| !segment.is_empty())
                .collect(),
            target,
        ),
    };
    for segment in target.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    segments.join("/")
}

#[derive(Default)]
struct CoreCollector {
    properties: CoreProperties,
    field: Option<CoreField>,
    text: String,
}

#[derive(Clone, Copy)]
enum CoreField {
    Title,
    Creator,
    Modified,
}

impl Visitor for CoreCollector {
    fn start(&mut self, _ns: Ns, local: &str, _element: &BytesStart<'_>) {
        self.field = match local {
            "title" => Some(CoreField::Title),
            "creator" => Some(CoreField::Creator),
            "modified" => Some(CoreField::Modified),
            _ => None,
        };
        self.text.clear();
    }

    fn end(&mut self, _ns: Ns, _local: &str) {
        let Some(field) = self.field.take() else {
            return;
        };
        let value = self.text.trim();
        if value.is_empty() {
            return;
        }
        match field {
            CoreField::Title => self.properties.title = Some(value.to_string()),
            CoreField::Creator => self.properties.creator = Some(value.to_string()),
            CoreField::Modified => {
                self.properties.modified = DateTime::parse_from_rfc3339(value)
                    .ok()
                    .map(|time| time.with_timezone(&Utc))
            }
        }
    }

    fn text(&mut self, text: &str) {
        if self.field.is_some() {
            self.text.push_str(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relationship_targets_resolve_against_the_source_folder() {
        assert_eq!(
            resolve_target("ppt", "slides/slide1.xml"),
            "ppt/slides/slide1.xml"
        );
        assert_eq!(
            resolve_target("ppt/slides", "../notesSlides/notesSlide1.xml"),
            "ppt/notesSlides/notesSlide1.xml"
        );
        assert_eq!(resolve_target("", "word/document.xml"), "word/document.xml");
        assert_eq!(
            resolve_target("xl", "/xl/worksheets/s.xml"),
            "xl/worksheets/s.xml"
        );
        assert_eq!(resolve_target("a", "../../../b.xml"), "b.xml");
    }

    struct Texts(Vec<String>);

    impl Visitor for Texts {
        fn start(&mut self, _ns: Ns, _local: &str, _element: &BytesStart<'_>) {}
        fn end(&mut self, _ns: Ns, _local: &str) {}
        fn text(&mut self, text: &str) {
            self.0.push(text.to_string());
        }
    }

    #[test]
    fn the_walker_resolves_entities_and_skips_fallbacks() {
        let xml = r#"<r xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">
            <t>a &amp; b &#x263A;</t><mc:AlternateContent><mc:Choice>c</mc:Choice>
            <mc:Fallback><t>c again</t></mc:Fallback></mc:AlternateContent></r>"#;
        let mut texts = Texts(Vec::new());
        walk(xml.as_bytes(), "test.xml", &mut texts).unwrap();
        let all: String = texts.0.concat();
        assert!(all.contains("a & b \u{263A}"), "{all}");
        assert!(all.contains('c') && !all.contains("again"), "{all}");

        let err = walk("<a><b></a>".as_bytes(), "x.xml", &mut Texts(Vec::new())).unwrap_err();
        assert!(err.starts_with("malformed XML in x.xml near byte"), "{err}");
    }
}
