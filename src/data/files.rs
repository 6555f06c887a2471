//! Locating the four MNIST-style IDX files in a directory. Two naming
//! styles are in circulation, `train-images-idx3-ubyte` (the original
//! site) and `train-images.idx3-ubyte` (several mirrors), each raw or with
//! `.gz`; all four spellings are tried, and a missing file is reported
//! with every name that was tried.

use std::path::{Path, PathBuf};

use super::error::DataError;
use super::idx::IdxKind;

/// Which of the two files of each kind: the training file (`train-*`,
/// 60,000 images in MNIST) or the test file (`t10k-*`, 10,000 images).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSet {
    Train,
    Test,
}

impl FileSet {
    fn prefix(self) -> &'static str {
        match self {
            FileSet::Train => "train",
            FileSet::Test => "t10k",
        }
    }
}

/// File names tried for one file, in order of preference: the dash style,
/// then the dot style, each raw before gzip.
pub fn candidate_names(set: FileSet, kind: IdxKind) -> Vec<String> {
    let prefix = set.prefix();
    let (name, idx) = match kind {
        IdxKind::Images => ("images", "idx3"),
        IdxKind::Labels => ("labels", "idx1"),
    };
    let dash = format!("{prefix}-{name}-{idx}-ubyte");
    let dot = format!("{prefix}-{name}.{idx}-ubyte");
    vec![dash.clone(), format!("{dash}.gz"), dot.clone(), format!("{dot}.gz")]
}

/// Returns the path of the first candidate name that exists in `dir`.
pub fn find_idx_file(dir: &Path, set: FileSet, kind: IdxKind) -> Result<PathBuf, DataError> {
    let tried = candidate_names(set, kind);
    for name in &tried {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    let what = format!("{} {}", set.prefix(), kind.name());
    Err(DataError::NotFound { dir: dir.to_path_buf(), what, tried })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_dash_style_with_gz() {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("train-images-idx3-ubyte.gz"), b"x").expect("write");
        let found = find_idx_file(dir.path(), FileSet::Train, IdxKind::Images).expect("found");
        assert_eq!(found, dir.path().join("train-images-idx3-ubyte.gz"));
    }

    #[test]
    fn finds_dot_style_raw() {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("t10k-labels.idx1-ubyte"), b"x").expect("write");
        let found = find_idx_file(dir.path(), FileSet::Test, IdxKind::Labels).expect("found");
        assert_eq!(found, dir.path().join("t10k-labels.idx1-ubyte"));
    }

    #[test]
    fn prefers_raw_dash_style() {
        let dir = tempfile::tempdir().expect("temporary directory");
        for name in candidate_names(FileSet::Train, IdxKind::Labels) {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        let found = find_idx_file(dir.path(), FileSet::Train, IdxKind::Labels).expect("found");
        assert_eq!(found, dir.path().join("train-labels-idx1-ubyte"));
    }

    #[test]
    fn missing_file_lists_names_tried() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let err = find_idx_file(dir.path(), FileSet::Test, IdxKind::Images).expect_err("missing");
        let DataError::NotFound { tried, .. } = &err else {
            panic!("expected NotFound, got {err}")
        };
        assert_eq!(tried.len(), 4);
        let message = err.to_string();
        for name in ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte.gz"] {
            assert!(message.contains(name), "message {message:?} lacks {name}");
        }
        assert!(
            message.contains(&dir.path().display().to_string()),
            "message {message:?} lacks the directory"
        );
    }
}
