//! Configuration: the optional TOML file and its defaults. Flags and environment variables
//! (declared in `env_vars.rs`, parsed by clap) override the file, which overrides defaults.
//!
//! ```toml
//! version = 1
//! data_dir = "switchyard-data"
//! listen = "127.0.0.1:8080"
//!
//! [indexer]
//! batch_size = 1000
//! ack_deadline_secs = 120
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

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
    pub indexer: IndexerFileConfig,
}

/// `[indexer]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexerFileConfig {
    /// Events per batch; each batch is one index commit.
    pub batch_size: Option<usize>,
    /// Seconds a fetched batch may stay unacknowledged before redelivery.
    pub ack_deadline_secs: Option<u64>,
}

/// Settings resolved from flags, environment, file and defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the embedded engines keep their data.
    pub data_dir: PathBuf,
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// Events per indexer batch.
    pub indexer_batch_size: usize,
    /// Indexer ack deadline, seconds.
    pub indexer_ack_deadline_secs: u64,
}

const DEFAULT_DATA_DIR: &str = "switchyard-data";
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

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
        if config.indexer.batch_size == Some(0) {
            bail!(
                "config {}: indexer.batch_size must be at least 1",
                path.display()
            );
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
    ) -> anyhow::Result<Self> {
        let file = match file {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Ok(Settings {
            data_dir: data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            listen: listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default address is valid")),
            indexer_batch_size: file.indexer.batch_size.unwrap_or(1000),
            indexer_ack_deadline_secs: file.indexer.ack_deadline_secs.unwrap_or(120),
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
            "version = 1\ndata_dir = \"/from/file\"\nlisten = \"127.0.0.1:9000\"\n[indexer]\nbatch_size = 7\n",
        );
        let settings =
            Settings::resolve(Some(file.path()), Some("/from/flag".into()), None).unwrap();
        assert_eq!(settings.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(settings.listen.port(), 9000);
        assert_eq!(settings.indexer_batch_size, 7);
        let defaults = Settings::resolve(None, None, None).unwrap();
        assert_eq!(defaults.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(defaults.listen.port(), 8080);
    }

    #[test]
    fn bad_files_are_reported_with_their_path() {
        for text in [
            "unknown_key = 1",
            "version = 2",
            "[indexer]\nbatch_size = 0",
            "listen = 5",
        ] {
            let file = write(text);
            let err = Settings::resolve(Some(file.path()), None, None).unwrap_err();
            assert!(
                format!("{err:#}").contains(&file.path().display().to_string()),
                "{err:#}"
            );
        }
    }
}
