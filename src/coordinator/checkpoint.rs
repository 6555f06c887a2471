//! Coordinated checkpoints: every shard and the coordinator's position,
//! written together at a step boundary.
//!
//! A checkpoint is a folder `checkpoints/step-NNNNNNNN` holding
//! `generator.safetensors` and `discriminator.safetensors` (parameters),
//! `optimizer.safetensors` (optimizer state, each tensor named
//! `<shard>/<state tensor>`) and `manifest.json` (step, seed, schedule
//! position, shard versions and a CRC-32 and length of every file). It is
//! written under a temporary name, each file fsynced, then renamed into
//! place, so a crash leaves either the whole checkpoint or none. A reader
//! verifies lengths and checksums before trusting one, and falls back to
//! the previous checkpoint when the newest is damaged.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::nn::optim::OptimizerKind;
use crate::nn::{Params, Tensor};
use crate::ps::{AppliedKeys, ShardSnapshot};

/// Checkpoints kept in a run folder; older ones are deleted.
pub const CHECKPOINTS_KEPT: usize = 2;

const MANIFEST: &str = "manifest.json";
const FORMAT: u32 = 1;

/// Why a checkpoint could not be written or read.
#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("checkpoint {path} is damaged: {reason}; delete it to fall back to an older one")]
    Damaged { path: PathBuf, reason: String },
    #[error("no checkpoint found under {path}: train first, or point at a run folder that has `checkpoints/step-*`")]
    NotFound { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_path_buf(), source }
}

/// Per-shard record in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub shard: String,
    pub version: u64,
    pub optimizer: OptimizerRecord,
    /// Parameter tensor names in parameter order (safetensors sorts names).
    pub params: Vec<String>,
    /// Optimizer state tensor names in state order.
    pub state: Vec<String>,
}

/// The optimizer of a shard, as stored in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerRecord {
    Momentum,
    Adam { beta1: f32, beta2: f32, epsilon: f32 },
}

impl From<&OptimizerKind> for OptimizerRecord {
    fn from(kind: &OptimizerKind) -> Self {
        match *kind {
            OptimizerKind::Momentum => OptimizerRecord::Momentum,
            OptimizerKind::Adam { beta1, beta2, epsilon } => OptimizerRecord::Adam { beta1, beta2, epsilon },
        }
    }
}

impl From<OptimizerRecord> for OptimizerKind {
    fn from(record: OptimizerRecord) -> Self {
        match record {
            OptimizerRecord::Momentum => OptimizerKind::Momentum,
            OptimizerRecord::Adam { beta1, beta2, epsilon } => OptimizerKind::Adam { beta1, beta2, epsilon },
        }
    }
}

/// Length and CRC-32 of one file of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    pub name: String,
    pub bytes: u64,
    pub crc32: u32,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The first step a resumed run computes: every step before it is in
    /// the parameters.
    pub step: u64,
    pub seed: u64,
    /// `alternating` or `simultaneous`, and k, for a readable record.
    pub schedule: String,
    pub k: u32,
    /// Pixels per image, so `sample` and `eval` can rebuild the networks.
    pub data_dim: usize,
    pub shards: Vec<ShardRecord>,
    pub files: Vec<FileRecord>,
}

/// A checkpoint read back and verified.
pub struct Checkpoint {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub shards: Vec<ShardSnapshot>,
}

/// Folder of the checkpoint of `step` in `run_dir`.
pub fn checkpoint_dir(run_dir: &Path, step: u64) -> PathBuf {
    run_dir.join("checkpoints").join(format!("step-{step:08}"))
}

/// Writes `shards` as the checkpoint described by `manifest` (whose
/// `files` is filled in here) and deletes checkpoints beyond the newest
/// [`CHECKPOINTS_KEPT`]. Returns the checkpoint's folder.
pub fn write(run_dir: &Path, mut manifest: Manifest, shards: &[ShardSnapshot]) -> Result<PathBuf, CheckpointError> {
    let parent = run_dir.join("checkpoints");
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let final_dir = checkpoint_dir(run_dir, manifest.step);
    let temp_dir = parent.join(format!(".tmp-step-{:08}", manifest.step));
    if temp_dir.exists() {
        fs::remove_dir_all(&temp_dir).map_err(io(&temp_dir))?;
    }
    fs::create_dir_all(&temp_dir).map_err(io(&temp_dir))?;

    let files = [
        ("generator.safetensors", collect(shards, "generator", |s| &s.params, false)),
        ("discriminator.safetensors", collect(shards, "discriminator", |s| &s.params, false)),
        ("optimizer.safetensors", collect(shards, "", |s| &s.state, true)),
    ];
    manifest.format = FORMAT;
    manifest.shards = shards
        .iter()
        .map(|s| ShardRecord {
            shard: s.shard.clone(),
            version: s.version,
            optimizer: (&s.optimizer).into(),
            params: s.params.iter().map(|(name, _)| name.to_string()).collect(),
            state: s.state.iter().map(|(name, _)| name.to_string()).collect(),
        })
        .collect();
    manifest.files.clear();
    for (name, tensors) in files {
        let bytes = encode_safetensors(&tensors).map_err(|reason| CheckpointError::Damaged {
            path: temp_dir.join(name),
            reason,
        })?;
        write_synced(&temp_dir.join(name), &bytes)?;
        manifest.files.push(FileRecord { name: name.into(), bytes: bytes.len() as u64, crc32: crc32(&bytes) });
    }
    let manifest_text = serde_json::to_vec_pretty(&manifest).expect("Manifest holds only JSON-representable fields");
    write_synced(&temp_dir.join(MANIFEST), &manifest_text)?;

    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(io(&final_dir))?;
    }
    fs::rename(&temp_dir, &final_dir).map_err(io(&final_dir))?;
    File::open(&parent).and_then(|dir| dir.sync_all()).map_err(io(&parent))?;
    prune(&parent)?;
    Ok(final_dir)
}

/// (name, tensor) pairs of the shards whose name starts with `network`;
/// with `prefix_shard`, each name is written `<shard>/<name>`.
fn collect<'a>(
    shards: &'a [ShardSnapshot],
    network: &str,
    pick: impl Fn(&'a ShardSnapshot) -> &'a Params,
    prefix_shard: bool,
) -> Vec<(String, &'a Tensor)> {
    shards
        .iter()
        .filter(|s| s.shard.starts_with(network))
        .flat_map(|s| {
            pick(s).iter().map(move |(name, tensor)| {
                let name = if prefix_shard { format!("{}/{name}", s.shard) } else { name.to_string() };
                (name, tensor)
            })
        })
        .collect()
}

fn encode_safetensors(tensors: &[(String, &Tensor)]) -> Result<Vec<u8>, String> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(name, t)| (name.clone(), t.iter().flat_map(|v| v.to_le_bytes()).collect(), t.shape().to_vec()))
        .collect();
    let views = bytes
        .iter()
        .map(|(name, data, shape)| {
            TensorView::new(Dtype::F32, shape.clone(), data).map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    safetensors::serialize(views, None).map_err(|e| e.to_string())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let mut file = File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// Checkpoint folders under `parent`, oldest first, by step.
fn list(parent: &Path) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(CheckpointError::Io { path: parent.to_path_buf(), source: e }),
    };
    for entry in entries {
        let path = entry.map_err(io(parent))?.path();
        let step = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("step-"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(step) = step {
            found.push((step, path));
        }
    }
    found.sort();
    Ok(found)
}

fn prune(parent: &Path) -> Result<(), CheckpointError> {
    let found = list(parent)?;
    let excess = found.len().saturating_sub(CHECKPOINTS_KEPT);
    for (_, path) in &found[..excess] {
        fs::remove_dir_all(path).map_err(io(path))?;
    }
    Ok(())
}

/// Reads the newest verified checkpoint of a run folder, or the checkpoint
/// folder `path` itself. Returns it with the damaged newer ones it skipped
/// (path and reason), so the caller can warn about them.
pub fn read_latest(path: &Path) -> Result<(Checkpoint, Vec<CheckpointError>), CheckpointError> {
    if path.join(MANIFEST).exists() {
        return read(path).map(|c| (c, Vec::new()));
    }
    let mut skipped = Vec::new();
    for (_, dir) in list(&path.join("checkpoints"))?.into_iter().rev() {
        match read(&dir) {
            Ok(checkpoint) => return Ok((checkpoint, skipped)),
            Err(e) => skipped.push(e),
        }
    }
    match skipped.pop() {
        Some(last) => Err(last),
        None => Err(CheckpointError::NotFound { path: path.to_path_buf() }),
    }
}

/// Reads and verifies the checkpoint in folder `dir`.
pub fn read(dir: &Path) -> Result<Checkpoint, CheckpointError> {
    let damaged = |reason: String| CheckpointError::Damaged { path: dir.to_path_buf(), reason };
    let manifest_path = dir.join(MANIFEST);
    let text = fs::read(&manifest_path).map_err(io(&manifest_path))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| damaged(format!("{MANIFEST} is invalid: {e}")))?;
    if manifest.format != FORMAT {
        return Err(damaged(format!("format {} is not the supported {FORMAT}", manifest.format)));
    }
    let mut contents = BTreeMap::new();
    for record in &manifest.files {
        let path = dir.join(&record.name);
        let bytes = fs::read(&path).map_err(io(&path))?;
        if bytes.len() as u64 != record.bytes || crc32(&bytes) != record.crc32 {
            return Err(damaged(format!(
                "{} has {} bytes and CRC-32 {:08x}, the manifest records {} bytes and {:08x}",
                record.name,
                bytes.len(),
                crc32(&bytes),
                record.bytes,
                record.crc32
            )));
        }
        contents.insert(record.name.clone(), bytes);
    }
    let shards = rebuild_shards(&manifest, &contents).map_err(damaged)?;
    Ok(Checkpoint { path: dir.to_path_buf(), manifest, shards })
}

fn rebuild_shards(manifest: &Manifest, contents: &BTreeMap<String, Vec<u8>>) -> Result<Vec<ShardSnapshot>, String> {
    let file = |name: &str| {
        let bytes = contents.get(name).ok_or_else(|| format!("{name} is not listed in the manifest"))?;
        SafeTensors::deserialize(bytes).map_err(|e| format!("{name}: {e}"))
    };
    let generator = file("generator.safetensors")?;
    let discriminator = file("discriminator.safetensors")?;
    let optimizer = file("optimizer.safetensors")?;
    let mut shards = Vec::new();
    for record in &manifest.shards {
        let params_file = if record.shard.starts_with("generator") { &generator } else { &discriminator };
        let params = read_tensors(params_file, &record.params, "")?;
        let state = read_tensors(&optimizer, &record.state, &format!("{}/", record.shard))?;
        shards.push(ShardSnapshot {
            shard: record.shard.clone(),
            params,
            state,
            version: record.version,
            optimizer: record.optimizer.into(),
            applied: AppliedKeys::new(),
        });
    }
    Ok(shards)
}

/// The tensors `names` of `file` in that order; each is stored in the
/// file under `file_prefix` followed by its name.
fn read_tensors(file: &SafeTensors, names: &[String], file_prefix: &str) -> Result<Params, String> {
    let mut params = Params::new();
    for name in names {
        let stored = format!("{file_prefix}{name}");
        let view = file.tensor(&stored).map_err(|e| format!("tensor `{stored}`: {e}"))?;
        if view.dtype() != Dtype::F32 {
            return Err(format!("tensor `{stored}` has type {:?}, expected F32", view.dtype()));
        }
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let tensor =
            Tensor::from_shape_vec(view.shape().to_vec(), values).map_err(|e| format!("tensor `{stored}`: {e}"))?;
        params.insert(name.clone(), tensor).map_err(|e| e.to_string())?;
    }
    Ok(params)
}
