//! Finding import files: walks the paths the user named, keeps files by extension (and
//! Maildir messages by place, see `maildir.rs`) and records their sizes for byte-based
//! progress. Reads metadata only, never contents.
//! Symlinks inside a walked folder are followed; those leading out of it only when
//! [`DiscoverOptions::follow_symlinks`] is set, so that importing a folder reads that
//! folder and nothing a link in it points at elsewhere.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crate::error::ImportError;
use crate::item::{ImportWarning, Rejection};
use crate::maildir::{self, Place};
use crate::source::{SourceFile, SourceKind};

/// What [`discover`] found: files to import, sorted by path, and the entries it had to
/// leave out.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Importable files, sorted by path, each once.
    pub files: Vec<SourceFile>,
    /// Folder entries that could not be read, and files named explicitly whose
    /// extension no importer handles.
    pub rejections: Vec<Rejection>,
    /// Files left out on purpose: trashed Maildir messages (unless
    /// [`DiscoverOptions::include_trashed`]).
    pub warnings: Vec<ImportWarning>,
}

impl Discovery {
    /// The summed size of every file, for a progress bar.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|file| file.size_bytes).sum()
    }
}

/// How [`discover_with`] walks folders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoverOptions {
    /// Follow symlinks that lead out of the folder being walked. Off by default: such a
    /// link becomes a rejection and is not entered.
    pub follow_symlinks: bool,
    /// List Maildir messages flagged trashed (`T`: deleted, not yet expunged) too. Off by
    /// default: each is left out with a warning.
    pub include_trashed: bool,
}

/// [`discover_with`] under the default [`DiscoverOptions`]: symlinks leading out of a
/// walked folder are rejected, not followed.
pub fn discover(paths: &[PathBuf]) -> Result<Discovery, ImportError> {
    discover_with(paths, &DiscoverOptions::default())
}

/// Lists the importable files below `paths`: folders are walked recursively (following
/// symlinks that stay inside the folder, and the others too when
/// `options.follow_symlinks` is set), files are kept by extension (`.mbox`, `.eml`, `.ics`, `.vcf`, `.jsonl`,
/// `.docx`, `.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`, `.pptx`, any case), and the
/// messages of Maildir folders by place (a folder with `cur/` and `new/`; see
/// [`SourceKind::Maildir`]), each with the mail folder it is filed in; trashed ones are
/// left out with a warning unless `options.include_trashed`. Office lock files
/// (`~$report.docx`, written by Word and Excel while a file is open) are skipped.
///
/// Files found in folders with other extensions are skipped silently; a file named
/// directly with another extension, and any folder entry that cannot be read, becomes
/// a rejection, as does a symlink leading out of its folder unless followed. Fails only
/// when a path in `paths` itself cannot be read.
pub fn discover_with(
    paths: &[PathBuf],
    options: &DiscoverOptions,
) -> Result<Discovery, ImportError> {
    let mut found = Found::default();
    let mut maildirs = HashMap::new();
    for root in paths {
        let metadata = std::fs::metadata(root).map_err(|source| ImportError::Read {
            path: root.clone(),
            source,
        })?;
        if metadata.is_file() {
            if let Place::Message(maildir) = maildir::place(root, &mut maildirs) {
                let folder = maildir::mail_folder(maildir, maildir);
                found.add_message(root.clone(), metadata.len(), folder, options);
                continue;
            }
            match SourceKind::from_path(root) {
                Some(kind) => {
                    found
                        .files
                        .insert(root.clone(), (kind, metadata.len(), None));
                }
                None => found.rejections.push(Rejection::new(
                    root,
                    "file",
                    "unsupported file type: expected .mbox, .eml, .ics, .vcf, .jsonl, .docx, \
                     .xlsx, .xlsm, .xlsb, .xls, .ods, .pptx or a message in a Maildir's cur/ \
                     or new/",
                )),
            }
            continue;
        }
        let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        let mut walker = walkdir::WalkDir::new(root).follow_links(true).into_iter();
        while let Some(entry) = walker.next() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let path = err.path().unwrap_or(root);
                    let reason = match err.io_error() {
                        Some(io_error) => io_error.to_string(),
                        None => err.to_string(),
                    };
                    found
                        .rejections
                        .push(Rejection::new(path, "folder entry", reason));
                    continue;
                }
            };
            if entry.path_is_symlink() && !options.follow_symlinks {
                let outside = match std::fs::canonicalize(entry.path()) {
                    Ok(target) if target.starts_with(&canonical_root) => None,
                    Ok(target) => Some(target.display().to_string()),
                    Err(err) => Some(format!("an unreadable target ({err})")),
                };
                if let Some(target) = outside {
                    found.rejections.push(Rejection::new(
                        entry.path(),
                        "folder entry",
                        format!(
                            "symlink to {target}, outside {}: not followed \
                             (--follow-symlinks follows it)",
                            root.display()
                        ),
                    ));
                    if entry.file_type().is_dir() {
                        walker.skip_current_dir();
                    }
                    continue;
                }
            }
            if !entry.file_type().is_file() {
                continue;
            }
            let place = maildir::place(entry.path(), &mut maildirs);
            let kind = match place {
                Place::Message(_) => SourceKind::Maildir,
                Place::NotAMessage => continue,
                Place::Elsewhere => match SourceKind::from_path(entry.path()) {
                    Some(kind) => kind,
                    None => continue,
                },
            };
            if kind.is_document() && entry.file_name().to_string_lossy().starts_with("~$") {
                continue;
            }
            let size_bytes = match entry.metadata() {
                Ok(metadata) => metadata.len(),
                Err(err) => {
                    found.rejections.push(Rejection::new(
                        entry.path(),
                        "folder entry",
                        err.to_string(),
                    ));
                    continue;
                }
            };
            match place {
                Place::Message(maildir) => {
                    let folder = maildir::mail_folder(maildir, root);
                    found.add_message(entry.path().to_path_buf(), size_bytes, folder, options);
                }
                _ => {
                    found
                        .files
                        .insert(entry.path().to_path_buf(), (kind, size_bytes, None));
                }
            }
        }
    }
    let files = found
        .files
        .into_iter()
        .map(|(path, (kind, size_bytes, mail_folder))| SourceFile {
            path,
            kind,
            size_bytes,
            mail_folder,
        })
        .collect();
    Ok(Discovery {
        files,
        rejections: found.rejections,
        warnings: found.warnings,
    })
}

/// What the walk has found so far: files by path (each once), with kind, size and mail
/// folder.
#[derive(Default)]
struct Found {
    files: BTreeMap<PathBuf, (SourceKind, u64, Option<String>)>,
    rejections: Vec<Rejection>,
    warnings: Vec<ImportWarning>,
}

impl Found {
    /// Adds a Maildir message filed in `folder`, or leaves it out when it is trashed and
    /// `options` do not include trashed messages.
    fn add_message(
        &mut self,
        path: PathBuf,
        size_bytes: u64,
        folder: String,
        options: &DiscoverOptions,
    ) {
        if maildir::flags(&path).trashed && !options.include_trashed {
            self.warnings.push(ImportWarning::skipped(
                path,
                "trashed (Maildir flag T); --include-trashed imports it",
            ));
            return;
        }
        self.files
            .insert(path, (SourceKind::Maildir, size_bytes, Some(folder)));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn walks_folders_recursively_sorted_with_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/deeper")).unwrap();
        std::fs::write(root.join("b/deeper/z.ICS"), "12345").unwrap();
        std::fs::write(root.join("a.vcf"), "1").unwrap();
        std::fs::write(root.join("b/mail.eml"), "123").unwrap();
        std::fs::write(root.join("b/Inbox"), "From x").unwrap();
        std::fs::write(root.join("b/readme.txt"), "x").unwrap();
        std::fs::write(root.join("b/~$lock.docx"), "x").unwrap();

        let discovery = discover(&[root.to_path_buf(), root.join("a.vcf")]).unwrap();
        let found: Vec<(PathBuf, SourceKind, u64)> = discovery
            .files
            .iter()
            .map(|file| {
                let relative = file.path.strip_prefix(root).unwrap().to_path_buf();
                (relative, file.kind, file.size_bytes)
            })
            .collect();
        assert_eq!(
            found,
            vec![
                (PathBuf::from("a.vcf"), SourceKind::Vcf, 1),
                (PathBuf::from("b/deeper/z.ICS"), SourceKind::Ics, 5),
                (PathBuf::from("b/mail.eml"), SourceKind::Eml, 3),
            ]
        );
        assert_eq!(discovery.total_bytes(), 9);
        assert!(discovery.rejections.is_empty());
    }

    #[test]
    fn explicit_unsupported_files_are_rejected_missing_paths_fail() {
        let dir = tempfile::tempdir().unwrap();
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, "x").unwrap();
        let discovery = discover(std::slice::from_ref(&notes)).unwrap();
        assert!(discovery.files.is_empty());
        assert_eq!(discovery.rejections.len(), 1);
        assert_eq!(discovery.rejections[0].file, notes);

        let missing = dir.path().join("missing");
        let err = discover(std::slice::from_ref(&missing)).unwrap_err();
        assert_eq!(err.path(), missing);
        assert!(err.to_string().starts_with("failed to read "), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_folder_are_followed_only_when_asked() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.eml"), "x").unwrap();
        std::fs::create_dir(outside.path().join("dir")).unwrap();
        std::fs::write(outside.path().join("dir/deep.ics"), "x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.eml"), "x").unwrap();
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, root.join(name)).unwrap();
        };
        link(&outside.path().join("secret.eml"), "secret.eml");
        link(&outside.path().join("dir"), "dir");
        link(&root.join("sub/a.eml"), "inside.eml");
        link(&root.join("sub"), "inside");
        let names = |discovery: &Discovery| -> Vec<String> {
            discovery
                .files
                .iter()
                .map(|file| file.path.strip_prefix(root).unwrap().display().to_string())
                .collect()
        };

        let discovery = discover(&[root.to_path_buf()]).unwrap();
        assert_eq!(
            names(&discovery),
            // Sorted by path, component by component.
            ["inside/a.eml", "inside.eml", "sub/a.eml"]
        );
        let mut rejected: Vec<(PathBuf, &str)> = discovery
            .rejections
            .iter()
            .map(|rejection| (rejection.file.clone(), rejection.reason.as_str()))
            .collect();
        rejected.sort();
        assert_eq!(rejected.len(), 2, "{rejected:?}");
        assert_eq!(rejected[0].0, root.join("dir"));
        assert_eq!(rejected[1].0, root.join("secret.eml"));
        assert!(
            rejected[1]
                .1
                .contains("not followed (--follow-symlinks follows it)"),
            "{}",
            rejected[1].1
        );

        let options = DiscoverOptions {
            follow_symlinks: true,
            ..DiscoverOptions::default()
        };
        let discovery = discover_with(&[root.to_path_buf()], &options).unwrap();
        assert_eq!(
            names(&discovery),
            [
                "dir/deep.ics",
                "inside/a.eml",
                "inside.eml",
                "secret.eml",
                "sub/a.eml"
            ]
        );
        assert!(discovery.rejections.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_are_rejections_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/loop")).unwrap();
        std::fs::write(dir.path().join("sub/a.eml"), "x").unwrap();
        let discovery = discover(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(discovery.files.len(), 1);
        assert_eq!(discovery.rejections.len(), 1, "{:?}", discovery.rejections);
        assert_eq!(discovery.rejections[0].location, "folder entry");
    }
}
