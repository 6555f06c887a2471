//! Training-iteration benchmark: iterations per second of the MNIST GAN of
//! Goodfellow et al. (2014) at batch 100 (k = 1), the GFLOP/s its GEMMs
//! achieve, and the machine's sgemm rate on the same GEMM shapes.
//!
//! Each timed round runs one training iteration and then one pass over the
//! iteration's GEMMs on their own, so both see the same load from other
//! processes. The per-GEMM table goes to stderr; stdout gets one JSON line
//! in the format of the PyTorch peer (`benches/peer/train_step.py`).
//!
//! Run: `cargo bench --bench train_step -- --threads 1 --iterations 50`.

mod gemm;
mod iteration;
mod openblas;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;
use serde::Serialize;

use gemm::{iteration_gemms, total_flops, Gemm, SgemmMix};
use iteration::Trainer;

/// Rows per step, as in the MNIST model of Goodfellow et al. (2014).
const BATCH: usize = 100;

#[derive(Parser, Debug)]
#[command(about = "Times one GAN training iteration and the sgemm rate on its GEMM shapes")]
struct Args {
    /// Timed rounds (one iteration and one sgemm pass each).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
    /// Untimed rounds before timing.
    #[arg(long, default_value_t = 5)]
    warmup: u32,
    /// OpenBLAS threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
    /// Seed of the parameters, noise, dropout masks and data.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Skip the sgemm passes, so that a profile shows the iteration alone.
    #[arg(long)]
    no_sgemm: bool,
    /// Passed by `cargo bench` to every bench target; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Wall times of the timed rounds.
struct Timings {
    iterations: Vec<Duration>,
    sgemm_passes: Vec<Duration>,
    per_gemm: Vec<Duration>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The same allocator setting as the distgan binary, so both measure
    // the code as it runs in training.
    distgan::tuning::keep_freed_memory();
    let threads = openblas::set_threads(args.threads as usize);
    ensure!(
        threads == args.threads as usize,
        "OpenBLAS runs {threads} threads after a request for {}; lower --threads",
        args.threads
    );

    let mut trainer = Trainer::new(BATCH, args.seed).context("failed to build the MNIST model")?;
    let gemms = iteration_gemms(trainer.spec(), BATCH);
    let mix = (!args.no_sgemm).then(|| SgemmMix::new(&gemms, args.seed));

    let timings = run_rounds(&mut trainer, mix.as_ref(), &gemms, &args)?;

    print_gemm_table(&gemms, &timings.per_gemm, timings.sgemm_passes.len());
    println!(
        "{}",
        serde_json::to_string(&report(&args, &gemms, &timings))?
    );
    Ok(())
}

/// Runs the warm-up rounds, then the timed rounds, each an iteration
/// followed by one pass over the GEMM mix when there is one.
fn run_rounds(
    trainer: &mut Trainer,
    mix: Option<&SgemmMix>,
    gemms: &[Gemm],
    args: &Args,
) -> anyhow::Result<Timings> {
    let mut per_gemm = vec![Duration::ZERO; gemms.len()];
    for _ in 0..args.warmup {
        trainer.iteration().context("warm-up iteration failed")?;
        if let Some(mix) = mix {
            mix.run_once(&mut per_gemm);
        }
    }

    per_gemm.fill(Duration::ZERO);
    let mut iterations = Vec::with_capacity(args.iterations as usize);
    let mut sgemm_passes = Vec::with_capacity(args.iterations as usize);
    for _ in 0..args.iterations {
        let start = Instant::now();
        let losses = trainer.iteration().context("training iteration failed")?;
        iterations.push(start.elapsed());
        ensure!(
            losses.d_loss.is_finite() && losses.g_loss.is_finite(),
            "training diverged: D loss {}, G loss {}",
            losses.d_loss,
            losses.g_loss
        );

        if let Some(mix) = mix {
            sgemm_passes.push(mix.run_once(&mut per_gemm));
        }
    }
    Ok(Timings {
        iterations,
        sgemm_passes,
        per_gemm,
    })
}

/// Returns the median of `times`, or `None` when there are none.
fn median(times: &[Duration]) -> Option<Duration> {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

/// Prints each GEMM's mean time per call and rate in the sgemm passes.
fn print_gemm_table(gemms: &[Gemm], per_gemm: &[Duration], rounds: usize) {
    let total: Duration = per_gemm.iter().sum();
    if rounds == 0 || total.is_zero() {
        return;
    }
    eprintln!(
        "{:<34} {:>10} {:>9} {:>8}",
        "GEMM (step layer pass m x k x n x count)", "ms/call", "GFLOP/s", "share"
    );
    for (gemm, spent) in gemms.iter().zip(per_gemm) {
        let calls = rounds as f64 * gemm.count as f64;
        let seconds = spent.as_secs_f64();
        eprintln!(
            "{:<34} {:>10.3} {:>9.1} {:>7.1}%",
            gemm.describe(),
            1e3 * seconds / calls,
            gemm.flops() * rounds as f64 / seconds / 1e9,
            100.0 * seconds / total.as_secs_f64()
        );
    }
}

/// The JSON line, in the peer's format plus the GEMM figures. Rates use
/// the median round, which other processes disturb less than the mean.
#[derive(Serialize)]
struct Report {
    #[serde(rename = "impl")]
    implementation: &'static str,
    threads: u32,
    iters_per_sec: f64,
    median_iter_ms: f64,
    iterations: u32,
    seconds: f64,
    data: &'static str,
    gflop_per_iter: f64,
    gflops: f64,
    /// `None` with `--no-sgemm`.
    sgemm_median_ms: Option<f64>,
    sgemm_gflops: Option<f64>,
    /// Median sgemm pass over median iteration: the share of the sgemm
    /// rate the iteration achieves.
    fraction_of_sgemm: Option<f64>,
    openblas_core: String,
    openblas_config: String,
    openblas_coretype_env: Option<String>,
}

fn report(args: &Args, gemms: &[Gemm], timings: &Timings) -> Report {
    let flops = total_flops(gemms);
    let seconds: f64 = timings.iterations.iter().map(Duration::as_secs_f64).sum();
    let median_iteration = median(&timings.iterations)
        .expect("at least one timed iteration")
        .as_secs_f64();
    let median_sgemm = median(&timings.sgemm_passes).map(|pass| pass.as_secs_f64());

    Report {
        implementation: "distgan",
        threads: args.threads,
        iters_per_sec: f64::from(args.iterations) / seconds,
        median_iter_ms: 1e3 * median_iteration,
        iterations: args.iterations,
        seconds,
        data: "random",
        gflop_per_iter: flops / 1e9,
        gflops: flops / median_iteration / 1e9,
        sgemm_median_ms: median_sgemm.map(|pass| 1e3 * pass),
        sgemm_gflops: median_sgemm.map(|pass| flops / pass / 1e9),
        fraction_of_sgemm: median_sgemm.map(|pass| pass / median_iteration),
        openblas_core: openblas::core_name(),
        openblas_config: openblas::config(),
        openblas_coretype_env: std::env::var("OPENBLAS_CORETYPE").ok(),
    }
}
