//! How much one file may cost: [`ImportLimits`], the sizes, counts and ratios past which
//! an importer rejects a file (or one message of a mailbox) instead of reading on, and
//! the counting reader that enforces decompressed sizes while inflating.
//!
//! Sizes declared by a file (zip central directory, headers) are only used to reject
//! early; what counts is what is actually read, so every limit holds against files that
//! lie about themselves. Each limit names its config key (`import.<field>`) in the
//! rejection, so that a user who does have such a file knows what to raise.

use std::io::{self, Read};

use serde::Deserialize;

const MIB: u64 = 1024 * 1024;

/// Limits per imported file, the `[import]` section of the configuration. The defaults
/// are far above what real office data reaches; each exists so that a hostile or broken
/// file ends in a rejection rather than in exhausted memory or time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportLimits {
    /// The largest email, in bytes: an `.eml` file or one message of an `.mbox`
    /// (default 64 MiB). A larger mbox message is skipped without being held in memory.
    pub max_email_bytes: u64,
    /// The deepest nesting of MIME parts (multiparts and attached messages) in an
    /// email (default 64).
    pub max_mime_depth: usize,
    /// The largest `.ics` file, in bytes (default 16 MiB).
    pub max_ics_bytes: u64,
    /// The largest `.vcf` file, in bytes (default 16 MiB).
    pub max_vcf_bytes: u64,
    /// The most bytes an office document (`.docx`, `.pptx`, spreadsheets) may inflate
    /// to, all parts together (default 256 MiB); for `.xls`, the largest file.
    pub max_document_bytes: u64,
    /// The most parts (zip entries) an office document may have (default 10 000).
    pub max_document_parts: u64,
    /// The highest compression ratio (decompressed / compressed) a document part may
    /// have once it inflates past `compression_ratio_floor_bytes` (default 100).
    pub max_compression_ratio: u64,
    /// Parts inflating to at most this many bytes are exempt from the compression ratio
    /// limit, so that small, highly repetitive XML parts pass (default 1 MiB).
    pub compression_ratio_floor_bytes: u64,
    /// The most rows a worksheet may have, counted from its first row (default 1 048 576,
    /// Excel's own maximum).
    pub max_sheet_rows: u64,
    /// The most cells a worksheet may have once its rows are laid out from the first
    /// used column (default 20 000 000).
    pub max_sheet_cells: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_email_bytes: 64 * MIB,
            max_mime_depth: 64,
            max_ics_bytes: 16 * MIB,
            max_vcf_bytes: 16 * MIB,
            max_document_bytes: 256 * MIB,
            max_document_parts: 10_000,
            max_compression_ratio: 100,
            compression_ratio_floor_bytes: MIB,
            max_sheet_rows: 1_048_576,
            max_sheet_cells: 20_000_000,
        }
    }
}

impl ImportLimits {
    /// The most bytes a part stored as `compressed_bytes` may inflate to under the ratio
    /// limit (not counting the per-document budget).
    pub(crate) fn ratio_allowance(&self, compressed_bytes: u64) -> u64 {
        compressed_bytes
            .saturating_mul(self.max_compression_ratio)
            .max(self.compression_ratio_floor_bytes)
    }
}

/// A byte count for people: `256 MiB`, `1.5 KiB`, `17 bytes`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes / size)
            } else {
                // Display only; precision loss on huge values does not matter.
                #[allow(clippy::cast_precision_loss)]
                let value = bytes as f64 / size as f64;
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

/// Which limit a [`CappedReader`] hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cap {
    /// The budget of the whole file.
    Total,
    /// The compression ratio of this part.
    Ratio,
}

/// Counts the bytes read through it and fails once more than `cap` bytes come out, so
/// that a lying or hostile stream never produces more than `cap + 1` bytes.
pub(crate) struct CappedReader<R> {
    inner: R,
    read: u64,
    total_cap: u64,
    ratio_cap: u64,
    exceeded: Option<Cap>,
    failure: Option<String>,
}

impl<R: Read> CappedReader<R> {
    /// Reads `inner` until it ends or more than `total_cap` or `ratio_cap` bytes came out.
    pub(crate) fn new(inner: R, total_cap: u64, ratio_cap: u64) -> Self {
        CappedReader {
            inner,
            read: 0,
            total_cap,
            ratio_cap,
            exceeded: None,
            failure: None,
        }
    }

    /// Bytes read so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Why the inner reader failed, if it did (a zip entry larger than it declares,
    /// a checksum mismatch).
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// The limit that stopped the reader, if one did.
    pub(crate) fn exceeded(&self) -> Option<Cap> {
        self.exceeded
    }
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(cap) = self.exceeded {
            return Err(io::Error::other(format!(
                "decompressed size limit ({cap:?})"
            )));
        }
        let count = self.inner.read(buf).inspect_err(|err| {
            if err.kind() != io::ErrorKind::Interrupted {
                self.failure = Some(err.to_string());
            }
        })?;
        self.read += count as u64;
        if self.read > self.total_cap {
            self.exceeded = Some(Cap::Total);
        } else if self.read > self.ratio_cap {
            self.exceeded = Some(Cap::Ratio);
        }
        match self.exceeded {
            Some(cap) => Err(io::Error::other(format!(
                "decompressed size limit ({cap:?})"
            ))),
            None => Ok(count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(17), "17 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(256 * MIB), "256 MiB");
        assert_eq!(human_bytes(1 << 30), "1 GiB");
    }

    #[test]
    fn capped_reader_stops_one_byte_past_the_cap() {
        let data = vec![b'a'; 100];
        let mut reader = CappedReader::new(data.as_slice(), 10, 50);
        let mut out = Vec::new();
        let mut chunk = [0u8; 4];
        while let Ok(count) = reader.read(&mut chunk) {
            if count == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..count]);
        }
        assert_eq!(reader.exceeded(), Some(Cap::Total));
        assert!(out.len() <= 10, "{}", out.len());
        assert!(reader.bytes_read() <= 12);

        let mut reader = CappedReader::new(data.as_slice(), 1000, 50);
        assert!(io::copy(&mut reader, &mut io::sink()).is_err());
        assert_eq!(reader.exceeded(), Some(Cap::Ratio));

        let mut reader = CappedReader::new(data.as_slice(), 100, 100);
        assert_eq!(io::copy(&mut reader, &mut io::sink()).unwrap(), 100);
        assert_eq!(reader.exceeded(), None);
    }

    #[test]
    fn config_keys_are_checked() {
        let limits: ImportLimits = serde_json::from_str(r#"{"max_email_bytes": 5}"#).unwrap();
        assert_eq!(limits.max_email_bytes, 5);
        assert_eq!(limits.max_ics_bytes, ImportLimits::default().max_ics_bytes);
        assert!(serde_json::from_str::<ImportLimits>(r#"{"max_emails": 5}"#).is_err());
    }
}
