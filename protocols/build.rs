//! Compiles `proto/vigie.proto` with protox (pure Rust, no system `protoc`)
//! and generates the prost types included by `src/tablet.rs`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["proto/vigie.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
