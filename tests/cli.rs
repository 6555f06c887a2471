//! The `distgan` binary as a user runs it: the README's quick start with a
//! tiny step count, the follow-up commands on its run folder, and clear
//! errors with the right exit codes for bad input.

use std::path::Path;
use std::process::{Command, Output};

fn distgan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distgan"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .output()
        .expect("the distgan binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert!(output.status.success(), "exit {:?}\n{}", output.status.code(), stderr(output));
}

#[test]
fn quick_start_leaves_the_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_arg = out.to_str().unwrap();
    let output = distgan(&["train", "--steps", "4", "--out", out_arg, "--eval-samples", "300"]);
    assert_success(&output);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("trained 4 steps"), "{printed}");
    assert!(printed.contains("Parzen-window log-likelihood"), "{printed}");

    for file in ["config.toml", "metrics.jsonl", "samples/step-00000004.png", "eval.json"] {
        assert!(out.join(file).is_file(), "{file} is missing");
    }
    let checkpoint = out.join("checkpoints/step-00000004");
    for file in ["generator.safetensors", "discriminator.safetensors", "optimizer.safetensors", "manifest.json"] {
        assert!(checkpoint.join(file).is_file(), "checkpoint file {file} is missing");
    }
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4);
    let eval: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert!(eval["test_mean"].as_f64().is_some_and(f64::is_finite), "{eval}");
    assert_eq!(eval["test_images"], 10_000);

    sample_and_eval_read_the_checkpoint(&out);
    resume_continues_the_run(&out);
}

fn sample_and_eval_read_the_checkpoint(run: &Path) {
    let run_arg = run.to_str().unwrap();
    let grid = run.join("grid.png");
    assert_success(&distgan(&["sample", "--checkpoint", run_arg, "--out", grid.to_str().unwrap(), "--n", "16"]));
    assert!(grid.is_file());
    let nearest = run.join("nearest.png");
    let args = ["sample", "--checkpoint", run_arg, "--out", nearest.to_str().unwrap(), "--n", "4", "--nearest"];
    assert_success(&distgan(&args));
    let path = run.join("path.png");
    let args = ["sample", "--checkpoint", run_arg, "--out", path.to_str().unwrap(), "--interpolate"];
    assert_success(&distgan(&args));

    let output = distgan(&["eval", "--checkpoint", run_arg, "--samples", "200"]);
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("eval prints JSON");
    assert_eq!(report["samples"], 200);
}

fn resume_continues_the_run(run: &Path) {
    let output = distgan(&["train", "--resume", run.to_str().unwrap(), "--steps", "6", "--no-eval"]);
    assert_success(&output);
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 6);
    assert!(run.join("checkpoints/step-00000006/manifest.json").is_file());
}

#[test]
fn invalid_setting_exits_2_naming_the_value() {
    let output = distgan(&["train", "--micro-batches", "3", "--steps", "1"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("micro_batches = 3"), "{}", stderr(&output));
}

#[test]
fn missing_data_folder_exits_2_with_the_fix() {
    let output = distgan(&["train", "--data", "/nonexistent/mnist", "--steps", "1"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("/nonexistent/mnist"), "{message}");
    assert!(message.contains("--data"), "{message}");
}

#[test]
fn folder_without_idx_files_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = distgan(&["train", "--data", dir.path().to_str().unwrap(), "--steps", "1", "--out", dir.path().join("run").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("train-images"), "{}", stderr(&output));
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let output = distgan(&["train", "--bacth", "10"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--bacth"), "{}", stderr(&output));
}

#[test]
fn unreachable_coordinator_exits_1_after_retries() {
    let output = distgan(&["worker", "--coordinator", "127.0.0.1:1", "--connect-attempts", "2"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("unreachable after 2 attempts"), "{message}");
}

#[test]
fn health_of_nothing_fails() {
    let output = distgan(&["health", "--addr", "127.0.0.1:1", "--timeout-ms", "500"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
}

#[test]
fn resume_without_checkpoint_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "steps = 2\n").unwrap();
    let output = distgan(&["train", "--resume", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("no checkpoint found"), "{}", stderr(&output));
}

#[test]
fn worker_serves_health_while_connecting() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let mut worker = Command::new(env!("CARGO_BIN_EXE_distgan"))
        .args(["worker", "--coordinator", "127.0.0.1:1", "--connect-attempts", "30", "--listen", &address])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Poll until the listener is up, bounded by 50 probes of at most 500 ms.
    let serving = (0..50).any(|_| distgan(&["health", "--addr", &address, "--timeout-ms", "500"]).status.success());
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert!(serving, "the worker's health service never reported SERVING on {address}");
}

#[test]
fn data_path_to_a_file_is_named_a_file() {
    let output = distgan(&["train", "--steps", "1", "--data", "data/mnist/train-images-idx3-ubyte.gz"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("is a file, not a folder"), "{}", stderr(&output));
}

#[test]
fn missing_checkpoint_names_the_path_once() {
    let output = distgan(&["sample", "--checkpoint", "/nonexistent/run", "--out", "/nonexistent/x.png"]);
    assert_ne!(output.status.code(), Some(0));
    let message = stderr(&output);
    assert!(message.contains("checkpoint /nonexistent/run does not exist"), "{message}");
    assert_eq!(message.matches("/nonexistent/run").count(), 1, "{message}");
}
