//! `metrics.jsonl`: one JSON line per step.
//!
//! Lines are appended and flushed as steps finish. On resume the file is
//! cut back to the steps before the checkpoint, so a resumed run's file
//! reads like that of an uninterrupted one.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The figures of one finished step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: u64,
    pub iteration: u64,
    pub epoch: u64,
    /// `discriminator`, `generator` or `joint`.
    pub phase: String,
    /// Mean discriminator loss over the batch; absent on generator steps.
    pub d_loss: Option<f64>,
    /// Mean generator loss over the batch; absent on discriminator steps.
    pub g_loss: Option<f64>,
    /// Mean D(x) on the real batch; absent on generator steps.
    pub d_real: Option<f64>,
    /// Mean D(G(z)) on the generated batch.
    pub d_fake: f64,
    pub learning_rate: f32,
    pub momentum: f32,
    /// Training examples per second over this step (wall clock).
    pub samples_per_sec: f64,
}

/// Appends step lines to a run's `metrics.jsonl`.
pub struct MetricsLog {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl MetricsLog {
    /// Opens `path` for appending, first dropping every line whose step is
    /// `resume_step` or later (lines that are not step records are dropped
    /// too, since only a crash mid-write leaves them).
    pub fn open(path: &Path, resume_step: u64) -> std::io::Result<MetricsLog> {
        let kept = match File::open(path) {
            Ok(file) => BufReader::new(file)
                .lines()
                .collect::<std::io::Result<Vec<String>>>()?
                .into_iter()
                .filter(|line| {
                    serde_json::from_str::<StepMetrics>(line).is_ok_and(|m| m.step < resume_step)
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(path)?;
        for line in kept {
            writeln!(file, "{line}")?;
        }
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(MetricsLog { path: path.to_path_buf(), writer: BufWriter::new(file) })
    }

    /// Appends one step and flushes it.
    pub fn write(&mut self, metrics: &StepMetrics) -> std::io::Result<()> {
        let line = serde_json::to_string(metrics).map_err(std::io::Error::other)?;
        writeln!(self.writer, "{line}")?;
        self.writer.flush()
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(step: u64) -> StepMetrics {
        StepMetrics {
            step,
            iteration: step / 2,
            epoch: 1,
            phase: "discriminator".into(),
            d_loss: Some(0.69),
            g_loss: None,
            d_real: Some(0.5),
            d_fake: 0.5,
            learning_rate: 0.1,
            momentum: 0.5,
            samples_per_sec: 1000.0,
        }
    }

    #[test]
    fn resume_cuts_later_steps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::open(&path, 0).unwrap();
        for step in 0..5 {
            log.write(&line(step)).unwrap();
        }
        drop(log);
        let mut log = MetricsLog::open(&path, 3).unwrap();
        log.write(&line(3)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let steps: Vec<u64> = text
            .lines()
            .map(|l| serde_json::from_str::<StepMetrics>(l).unwrap().step)
            .collect();
        assert_eq!(steps, [0, 1, 2, 3]);
    }
}
