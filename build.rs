//! Compiles `proto/distgan.proto` with the protoc binary shipped by
//! `protoc-bin-vendored`, so no system protoc is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/distgan.proto");
    tonic_prost_build::configure().compile_protos(&["proto/distgan.proto"], &["proto"])?;
    Ok(())
}
