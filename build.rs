//! Embeds the web UI into the binary.
//!
//! If `front/dist/index.html` exists (after `make front`), every file under `front/dist`
//! is embedded; otherwise the small built-in page in `src/http/fallback/` is, which says
//! how to build the UI and still talks to the node over the WebSocket. Either way the
//! generated `$OUT_DIR/assets.rs` holds one table: URL path, bytes, content type, strong
//! ETag (SHA-256 prefix of the bytes), whether the name is content-hashed, and for text
//! files a gzip copy made here (best compression, once, at build time: a Pi on Wi-Fi then
//! serves a phone 80 KB instead of 270 KB without compressing anything per request).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let dist = root.join("front/dist");
    let fallback = root.join("src/http/fallback");
    println!("cargo:rerun-if-changed=front/dist");
    println!("cargo:rerun-if-changed=src/http/fallback");
    let (source, is_front) = if dist.join("index.html").is_file() {
        (dist, true)
    } else {
        (fallback, false)
    };
    let mut files = Vec::new();
    collect(&source, &source, &mut files);
    files.sort();
    let mut out = String::new();
    writeln!(out, "/// True when the real UI (front/dist) is embedded.").unwrap();
    writeln!(out, "pub const HAS_FRONT: bool = {is_front};").unwrap();
    writeln!(out, "/// Every embedded file.").unwrap();
    writeln!(out, "pub static ASSETS: &[Asset] = &[").unwrap();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));
    for (index, (url, path)) in files.iter().enumerate() {
        let bytes = std::fs::read(path).expect("readable asset");
        let digest = Sha256::digest(&bytes);
        let etag: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        // A text file is embedded gzipped only (the node inflates it for the rare client
        // that does not take gzip): both copies cost 300 KB of a binary that must stay
        // under 5 MB.
        let body = match gzipped(url, &bytes) {
            Some(gz) => {
                let gz_path = out_dir.join(format!("asset-{index}.gz"));
                std::fs::write(&gz_path, gz).expect("OUT_DIR is writable");
                format!(
                    "Body::Gzip(include_bytes!({:?}))",
                    gz_path.display().to_string()
                )
            }
            None => format!(
                "Body::Plain(include_bytes!({:?}))",
                path.display().to_string()
            ),
        };
        writeln!(
            out,
            "    Asset {{ path: {url:?}, body: {body}, content_type: {ct:?}, etag: \"\\\"{etag}\\\"\", immutable: {imm} }},",
            ct = content_type(url),
            imm = url.starts_with("/assets/"),
        )
        .unwrap();
    }
    writeln!(out, "];").unwrap();
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this")).join("assets.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

fn collect(base: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(base, &path, files);
        } else if let Ok(rel) = path.strip_prefix(base) {
            let url = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
            files.push((url, path));
        }
    }
}

/// A gzip copy of a text asset, when it saves at least a tenth (images and fonts are
/// compressed already).
fn gzipped(url: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    let ext = url.rsplit('.').next().unwrap_or("");
    if !matches!(
        ext,
        "html" | "js" | "mjs" | "css" | "json" | "map" | "webmanifest" | "svg" | "txt"
    ) {
        return None;
    }
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).ok()?;
    let gz = enc.finish().ok()?;
    (gz.len() * 10 < bytes.len() * 9).then_some(gz)
}

fn content_type(url: &str) -> &'static str {
    let ext = url.rsplit('.').next().unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
