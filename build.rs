//! Compiles every `.proto` file in `proto/` with the protoc binary shipped
//! by `protoc-bin-vendored`, so no system protoc is needed. Byte fields
//! become `bytes::Bytes`, so tensor chunks are sliced out of the receive
//! buffer instead of copied.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto");

    let mut protos: Vec<PathBuf> = std::fs::read_dir("proto")?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    protos.retain(|path| path.extension().is_some_and(|ext| ext == "proto"));
    protos.sort();
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    tonic_prost_build::configure()
        .bytes(".")
        .compile_protos(&protos, &[PathBuf::from("proto")])?;
    Ok(())
}
