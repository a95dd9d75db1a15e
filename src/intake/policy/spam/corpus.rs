//! Labelled mail for training and measuring the spam model: a directory
//! of raw messages, or a `labels.tsv` (`file`, `ham`|`spam`, `subset`, as
//! in `tests/fixtures/spam`), and the fixed rule that holds part of it
//! aside for measuring.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why a corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {reason}")]
    Labels {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
}

/// One labelled message file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// The name as `labels.tsv` writes it, e.g. `spam_2/00012.abc…`.
    pub name: String,
    pub path: PathBuf,
    pub is_spam: bool,
    /// `easy_ham`, `hard_ham`, `spam`…
    pub subset: String,
}

/// Whether the message named `name` (as in `labels.tsv`) is held aside
/// for measuring and never trained on: the first byte of sha256(name),
/// mod 5, is 0. About a fifth, fixed forever, independent of order.
pub fn held_aside(name: &str) -> bool {
    Sha256::digest(name.as_bytes())[0] % 5 == 0
}

/// Reads `labels.tsv`; paths are relative to its directory. The first line
/// is a header when its second field is not `ham` or `spam`.
pub fn read_labels(path: &Path) -> Result<Vec<Labelled>, CorpusError> {
    let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let (name, label, subset) = (fields.next(), fields.next(), fields.next());
        let is_spam = match label {
            Some("spam") => true,
            Some("ham") => false,
            _ if i == 0 => continue,
            _ => {
                return Err(CorpusError::Labels {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason: "the second field is not `ham` or `spam`",
                });
            }
        };
        let name = name.unwrap_or_default().to_string();
        out.push(Labelled {
            path: dir.join(&name),
            subset: subset.unwrap_or("").to_string(),
            name,
            is_spam,
        });
    }
    Ok(out)
}

/// Every file under `dir`, recursively, sorted (hidden files skipped).
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let io = |source| CorpusError::Io {
            path: dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if entry.file_type().map_err(io)?.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_fixed() {
        // sha256("a") starts with 0xca = 202, 202 % 5 = 2.
        assert!(!held_aside("a"));
        let names: Vec<String> = (0..1000).map(|i| format!("x/{i}")).collect();
        let aside = names.iter().filter(|n| held_aside(n)).count();
        assert!((150..250).contains(&aside), "{aside}");
    }
}
