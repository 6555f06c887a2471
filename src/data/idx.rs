//! Reader for IDX files, the format MNIST ships in: a big-endian header
//! (magic number, then one u32 per dimension) followed by unsigned bytes.
//! Images have magic 2051 and three dimensions (count, rows, cols); labels
//! have magic 2049 and one (count).
//!
//! Files may be raw or gzip-compressed, recognised by the gzip magic bytes
//! `1f 8b` rather than by the file name. Every malformed input is rejected
//! with a [`DataError`] naming the file. The header's byte count is checked
//! against the data actually present before the pixel buffer is allocated,
//! and gzip data is decompressed only up to one byte past what the header
//! describes, so a corrupt header claiming 10^9 images costs no memory.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;
use ndarray::Array2;

use super::error::DataError;

/// Magic number of an IDX file of unsigned-byte images (type 0x08, 3 dims).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (type 0x08, 1 dim).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Bytes read ahead of the header to tell text and HTML apart from IDX.
const SNIFF_LEN: usize = 64;
/// Upper bound on the buffer reserved before gzip data arrives, so a
/// corrupt header cannot make the reader reserve more than it has seen.
const MAX_RESERVE: usize = 64 << 20;

/// Images read from an IDX file.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxImages {
    /// Pixels scaled to [0, 1], one image per row in row-major order:
    /// shape `(count, rows * cols)`.
    pub pixels: Array2<f32>,
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
}

/// Whether a reader may decompress gzip data it recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decoding {
    DetectGzip,
    RawOnly,
}

/// The two IDX layouts distgan reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxKind {
    Images,
    Labels,
}

impl IdxKind {
    /// The magic number files of this kind start with.
    pub fn magic(self) -> u32 {
        match self {
            IdxKind::Images => IMAGES_MAGIC,
            IdxKind::Labels => LABELS_MAGIC,
        }
    }

    /// "images" or "labels", for messages and file names.
    pub fn name(self) -> &'static str {
        match self {
            IdxKind::Images => "images",
            IdxKind::Labels => "labels",
        }
    }

    fn header_len(self) -> usize {
        let dims = if self == IdxKind::Images { 3 } else { 1 };
        4 + 4 * dims
    }
}

/// Reads an IDX image file, raw or gzip-compressed.
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    parse_images(&read_file(path)?, path)
}

/// Reads an IDX label file, raw or gzip-compressed.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(&read_file(path)?, path)
}

/// Reads an image file and its label file and checks that they hold the
/// same number of entries.
pub fn read_labeled_images(
    images_path: &Path,
    labels_path: &Path,
) -> Result<(IdxImages, Vec<u8>), DataError> {
    let images = read_images(images_path)?;
    let labels = read_labels(labels_path)?;
    if images.pixels.nrows() != labels.len() {
        return Err(DataError::CountMismatch {
            images: images_path.to_path_buf(),
            labels: labels_path.to_path_buf(),
            image_count: images.pixels.nrows(),
            label_count: labels.len(),
        });
    }
    Ok((images, labels))
}

/// Parses the bytes of an IDX image file, decompressing them first when
/// they start with the gzip magic. `path` only names the source in errors.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages, DataError> {
    images_from_parts(parse_idx(bytes, path, IdxKind::Images, Decoding::DetectGzip)?)
}

/// Parses the bytes of an uncompressed IDX image file. Gzip data is
/// rejected with a [`DataError::BadMagic`] that says it looks like gzip.
pub fn parse_images_uncompressed(bytes: &[u8], path: &Path) -> Result<IdxImages, DataError> {
    images_from_parts(parse_idx(bytes, path, IdxKind::Images, Decoding::RawOnly)?)
}

/// Parses the bytes of an IDX label file, raw or gzip-compressed.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    Ok(parse_idx(bytes, path, IdxKind::Labels, Decoding::DetectGzip)?.1)
}

fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })
}

fn images_from_parts((dims, body): (Vec<u32>, Vec<u8>)) -> Result<IdxImages, DataError> {
    let [count, rows, cols] = [dims[0], dims[1], dims[2]].map(|d| d as usize);
    let values: Vec<f32> = body.iter().map(|&b| f32::from(b) / 255.0).collect();
    let pixels = Array2::from_shape_vec((count, rows * cols), values)
        .expect("body length equals count * rows * cols, checked against the header");
    Ok(IdxImages { pixels, rows, cols })
}

/// Validates the header and returns its dimensions and the data bytes.
fn parse_idx(
    bytes: &[u8],
    path: &Path,
    kind: IdxKind,
    decoding: Decoding,
) -> Result<(Vec<u32>, Vec<u8>), DataError> {
    if bytes.is_empty() {
        return Err(DataError::EmptyFile { path: path.to_path_buf(), detail: "" });
    }
    let gzip = decoding == Decoding::DetectGzip && bytes.starts_with(&GZIP_MAGIC);
    let mut reader: Box<dyn Read + '_> =
        if gzip { Box::new(GzDecoder::new(bytes)) } else { Box::new(bytes) };

    let header_len = kind.header_len();
    let head = read_up_to(&mut reader, SNIFF_LEN.max(header_len), path, gzip)?;
    if head.is_empty() {
        let detail = " after gzip decompression";
        return Err(DataError::EmptyFile { path: path.to_path_buf(), detail });
    }
    check_magic(&head, path, kind, decoding)?;
    if head.len() < header_len {
        return Err(truncated(path, "header", header_len as u64, head.len() as u64));
    }
    let dims = header_dims(&head[4..header_len]);
    let body_len = body_len(&dims, path, kind)?;

    let body = if gzip {
        let body = read_gzip_body(reader, &head[header_len..], body_len, path)?;
        check_body_len(body.len() as u64, body_len, &dims, path)?;
        body
    } else {
        // Compare before copying, so a corrupt header costs no allocation.
        let rest = &bytes[header_len..];
        check_body_len(rest.len() as u64, body_len, &dims, path)?;
        rest.to_vec()
    };
    Ok((dims, body))
}

fn truncated(path: &Path, part: &'static str, expected: u64, found: u64) -> DataError {
    DataError::Truncated { path: path.to_path_buf(), part, expected, found }
}

/// Reads until `limit` bytes or the end of the stream.
fn read_up_to(
    reader: &mut dyn Read,
    limit: usize,
    path: &Path,
    gzip: bool,
) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::with_capacity(limit);
    reader
        .take(limit as u64)
        .read_to_end(&mut out)
        .map_err(|source| io_error(path, gzip, source))?;
    Ok(out)
}

fn io_error(path: &Path, gzip: bool, source: std::io::Error) -> DataError {
    let path = path.to_path_buf();
    if gzip {
        DataError::Gzip { path, source }
    } else {
        DataError::Io { path, source }
    }
}

fn header_dims(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes(c.try_into().expect("chunks_exact yields 4 bytes")))
        .collect()
}

/// Number of data bytes the header describes, rejecting zero dimensions
/// and products that overflow.
fn body_len(dims: &[u32], path: &Path, kind: IdxKind) -> Result<u64, DataError> {
    if kind == IdxKind::Images && dims.contains(&0) {
        return Err(DataError::ZeroDimension { path: path.to_path_buf(), dims: dims.to_vec() });
    }
    let overflow = || DataError::SizeOverflow { path: path.to_path_buf(), dims: dims.to_vec() };
    let len =
        dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d))).ok_or_else(overflow)?;
    usize::try_from(len).map_err(|_| overflow())?;
    Ok(len)
}

fn check_body_len(found: u64, expected: u64, dims: &[u32], path: &Path) -> Result<(), DataError> {
    if found < expected {
        return Err(truncated(path, "data", expected, found));
    }
    if found > expected {
        let path = path.to_path_buf();
        return Err(DataError::TrailingBytes { path, dims: dims.to_vec(), expected, found });
    }
    Ok(())
}

/// Decompresses at most one byte past the header's data length, so both
/// short and long streams are detected without trusting the header for
/// the allocation size.
fn read_gzip_body(
    mut reader: Box<dyn Read + '_>,
    already: &[u8],
    body_len: u64,
    path: &Path,
) -> Result<Vec<u8>, DataError> {
    let bound = body_len.saturating_add(1);
    let mut body = Vec::with_capacity((bound as usize).min(MAX_RESERVE));
    let take_now = already.len().min(bound as usize);
    body.extend_from_slice(&already[..take_now]);
    let remaining = bound - take_now as u64;
    reader
        .by_ref()
        .take(remaining)
        .read_to_end(&mut body)
        .map_err(|source| io_error(path, true, source))?;
    Ok(body)
}

/// Rejects a wrong magic number with the likeliest explanation: a text or
/// HTML page, gzip data where raw bytes were expected, the other IDX kind,
/// or an unsupported element type.
fn check_magic(
    head: &[u8],
    path: &Path,
    kind: IdxKind,
    decoding: Decoding,
) -> Result<(), DataError> {
    let found = (head.len() >= 4).then(|| u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
    if found == Some(kind.magic()) {
        return Ok(());
    }
    if let Some(text_kind) = text_kind(head) {
        let start = String::from_utf8_lossy(&head[..head.len().min(32)]).into_owned();
        return Err(DataError::NotIdx { path: path.to_path_buf(), kind: text_kind, start });
    }
    let Some(found) = found else {
        return Err(truncated(path, "header", kind.header_len() as u64, head.len() as u64));
    };
    let hint = magic_hint(found, kind, decoding);
    Err(DataError::BadMagic {
        path: path.to_path_buf(),
        what: kind.name(),
        expected: kind.magic(),
        found,
        hint,
    })
}

fn magic_hint(found: u32, kind: IdxKind, decoding: Decoding) -> &'static str {
    let other = if kind == IdxKind::Images { LABELS_MAGIC } else { IMAGES_MAGIC };
    if found >> 16 == 0x1f8b {
        // 0x1f8b0808 = 529205256: gzip magic, deflate, and the FNAME flag.
        match decoding {
            Decoding::DetectGzip => "this looks like a gzip file compressed twice; decompress it once with gunzip",
            Decoding::RawOnly => "this looks like a gzip file; decompress it first or use the reader that detects gzip",
        }
    } else if found == other {
        "this is the other IDX kind (images and labels swapped?); check the file names"
    } else if found >> 16 == 0 && (found >> 8) & 0xff != 0x08 {
        "only IDX files of unsigned bytes (type 0x08) are supported"
    } else {
        "the file is not an IDX file or is corrupt; download it again"
    }
}

/// Names the kind of text a file holds, or `None` when it looks binary.
fn text_kind(head: &[u8]) -> Option<&'static str> {
    let valid_utf8 = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut off by the sniff window is still text.
        Err(e) => e.error_len().is_none(),
    };
    let printable = head.iter().all(|&b| b >= 0x20 || b"\t\n\r".contains(&b));
    if head.is_empty() || !valid_utf8 || !printable {
        return None;
    }
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    let trimmed = lower.trim_start();
    if trimmed.starts_with("<!doctype html")
        || lower.contains("<html")
        || trimmed.starts_with("<head")
    {
        Some("HTML page")
    } else if trimmed.starts_with("version https://git-lfs") {
        Some("Git LFS pointer (run `git lfs pull`)")
    } else {
        Some("text file")
    }
}
