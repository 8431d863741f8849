//! Shared by the hostile-file tests (issue 11): each test binary holds one of them, so
//! that the peak resident memory `getrusage` reports is that test's alone.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use switchyard_contracts::{AnyOfficeEvent, SyncType};
use switchyard_office::{ImportLimits, ImportOptions, discover, read_file_with_limits};

/// The memory a test may peak at while a hostile file is rejected: far below the
/// gigabytes the file would inflate to.
pub const PEAK_RSS_BOUND_BYTES: u64 = 300 * 1024 * 1024;

/// The peak resident set size of this process so far, in bytes.
pub fn peak_rss_bytes() -> u64 {
    // SAFETY: `getrusage` only writes the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    // Linux reports kilobytes.
    u64::try_from(usage.ru_maxrss).expect("non-negative") * 1024
}

/// Fails when this process peaked above [`PEAK_RSS_BOUND_BYTES`].
pub fn assert_peak_rss_bounded() {
    let peak = peak_rss_bytes();
    assert!(
        peak < PEAK_RSS_BOUND_BYTES,
        "peak RSS {} MiB, bound {} MiB",
        peak >> 20,
        PEAK_RSS_BOUND_BYTES >> 20
    );
}

/// What importing a folder gave: event titles by file name, and rejections as
/// `file name, location: reason`.
#[derive(Debug, Default)]
pub struct Outcome {
    pub imported: Vec<(String, String)>,
    pub rejected: Vec<String>,
}

/// Imports every file under `folder` under `limits`, as `switchyard import` does.
pub fn import_folder(folder: &Path, limits: &ImportLimits) -> Outcome {
    let discovery = discover(&[folder.to_path_buf()]).expect("folder lists");
    let options = ImportOptions {
        user_id: "alice".into(),
        sync_type: SyncType::Backfill,
    };
    let mut outcome = Outcome::default();
    for rejection in &discovery.rejections {
        outcome.rejected.push(rejection.to_string());
    }
    for file in &discovery.files {
        let name = file_name(&file.path);
        for item in read_file_with_limits(file, &options, limits) {
            match item {
                Ok(event) => outcome.imported.push((name.clone(), title(&event))),
                Err(rejection) => outcome.rejected.push(format!(
                    "{name}, {}: {}",
                    rejection.location, rejection.reason
                )),
            }
        }
    }
    outcome
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("files have names")
        .to_string_lossy()
        .into_owned()
}

fn title(event: &AnyOfficeEvent) -> String {
    match event {
        AnyOfficeEvent::Email(event) => event.item.subject.clone(),
        AnyOfficeEvent::Document(event) => event.item.title.clone(),
        AnyOfficeEvent::Contact(event) => event.item.display_name.clone(),
        other => format!("{:?}", other.kind()),
    }
}

/// A normal email, `subject` as its subject.
pub fn email(subject: &str) -> String {
    format!(
        "From: Alice <alice@example.com>\r\nTo: bob@example.com\r\n\
         Message-ID: <{subject}@example.com>\r\nSubject: {subject}\r\n\r\nHello\r\n"
    )
}

/// Writes a zip package with `parts` (name, content) and one huge part `name` made of
/// `repeat` copies of `chunk` between `head` and `tail`. The chunk is deflated once and
/// its compressed bytes repeated (each copy is a self-contained run of deflate blocks),
/// so the file is small on disk, quick to write, and nothing huge is ever in memory.
pub fn write_bomb_package(
    path: &Path,
    parts: &[(&str, &str)],
    huge: (&str, &str, &str, u64, &str),
) -> PathBuf {
    write_package(path, parts, huge, false)
}

/// [`write_bomb_package`], but the zip directory claims every part is 4 KiB once
/// inflated, as a hostile file would.
pub fn write_lying_bomb_package(
    path: &Path,
    parts: &[(&str, &str)],
    huge: (&str, &str, &str, u64, &str),
) -> PathBuf {
    write_package(path, parts, huge, true)
}

fn write_package(
    path: &Path,
    parts: &[(&str, &str)],
    huge: (&str, &str, &str, u64, &str),
    lie_about_size: bool,
) -> PathBuf {
    let (name, head, chunk, repeat, tail) = huge;
    let mut out = BufWriter::new(File::create(path).expect("create package"));
    let mut offset = 0u64;
    let mut directory = Vec::new();
    let mut entries = 0u16;
    let mut write_part = |out: &mut BufWriter<File>, name: &str, segments: &[(&[u8], u64)]| {
        let mut crc = crc32fast::Hasher::new();
        let mut size = 0u64;
        let mut compressed = Vec::new();
        for (bytes, count) in segments {
            let deflated = deflate_run(bytes);
            let mut one = crc32fast::Hasher::new();
            one.update(bytes);
            // CRC of `count` copies by doubling.
            let (mut remaining, mut power) = (*count, one);
            while remaining > 0 {
                if remaining & 1 == 1 {
                    crc.combine(&power);
                }
                let copy = power.clone();
                power.combine(&copy);
                remaining >>= 1;
            }
            size += bytes.len() as u64 * count;
            compressed.push((deflated, *count));
        }
        // A final empty block with fixed codes ends the stream.
        let final_block: &[u8] = &[0x03, 0x00];
        let compressed_size = compressed
            .iter()
            .map(|(bytes, count)| bytes.len() as u64 * count)
            .sum::<u64>()
            + final_block.len() as u64;
        let crc = crc.finalize();
        let (compressed_size, size) = (
            u32::try_from(compressed_size).expect("small on disk"),
            u32::try_from(size).expect("under 4 GiB"),
        );
        let size = if lie_about_size { size.min(4096) } else { size };
        let name_length = u16::try_from(name.len()).expect("short name");
        let header_offset = u32::try_from(offset).expect("small on disk");
        let mut local = Vec::new();
        local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        local.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0x21, 0]);
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&compressed_size.to_le_bytes());
        local.extend_from_slice(&size.to_le_bytes());
        local.extend_from_slice(&name_length.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes());
        local.extend_from_slice(name.as_bytes());
        out.write_all(&local).expect("write header");
        for (bytes, count) in &compressed {
            for _ in 0..*count {
                out.write_all(bytes).expect("write data");
            }
        }
        out.write_all(final_block).expect("write data");
        offset += local.len() as u64 + u64::from(compressed_size);
        directory.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        directory.extend_from_slice(&[20, 0, 20, 0, 0, 0, 8, 0, 0, 0, 0x21, 0]);
        directory.extend_from_slice(&crc.to_le_bytes());
        directory.extend_from_slice(&compressed_size.to_le_bytes());
        directory.extend_from_slice(&size.to_le_bytes());
        directory.extend_from_slice(&name_length.to_le_bytes());
        directory.extend_from_slice(&[0; 12]);
        directory.extend_from_slice(&header_offset.to_le_bytes());
        directory.extend_from_slice(name.as_bytes());
        entries += 1;
    };
    for (part, content) in parts {
        write_part(&mut out, part, &[(content.as_bytes(), 1)]);
    }
    let block = chunk.repeat(16 * 1024);
    let chunk_count = repeat / 16 / 1024;
    write_part(
        &mut out,
        name,
        &[
            (head.as_bytes(), 1),
            (block.as_bytes(), chunk_count),
            (tail.as_bytes(), 1),
        ],
    );
    let directory_offset = u32::try_from(offset).expect("small on disk");
    out.write_all(&directory).expect("write directory");
    let mut end = Vec::new();
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0; 4]);
    end.extend_from_slice(&entries.to_le_bytes());
    end.extend_from_slice(&entries.to_le_bytes());
    end.extend_from_slice(&u32::try_from(directory.len()).expect("small").to_le_bytes());
    end.extend_from_slice(&directory_offset.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    out.write_all(&end).expect("write end");
    out.flush().expect("flush package");
    path.to_path_buf()
}

/// `bytes` as raw deflate blocks ending on a byte boundary (a sync flush), not final,
/// referring to nothing before them: copies can follow each other in one stream.
fn deflate_run(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("deflate");
    encoder.flush().expect("sync flush");
    std::mem::take(encoder.get_mut())
}

/// The parts of a minimal Word document around `word/document.xml`.
pub const DOCX_PARTS: &[(&str, &str)] = &[
    (
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
    ),
    (
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#,
    ),
];

/// The start of a Word main part; paragraphs follow, then [`DOCX_TAIL`].
pub const DOCX_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>"#;
/// The end of a Word main part.
pub const DOCX_TAIL: &str = "</w:body></w:document>";
/// One ordinary paragraph.
pub const PARAGRAPH: &str = "<w:p><w:r><w:t>aaaa</w:t></w:r></w:p>";

/// A small valid Word document titled by its file name.
pub fn write_small_docx(path: &Path) -> PathBuf {
    write_bomb_package(
        path,
        DOCX_PARTS,
        ("word/document.xml", DOCX_HEAD, PARAGRAPH, 4, DOCX_TAIL),
    )
}
