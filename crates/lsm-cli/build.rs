//! Records the git commit and the compiler the binary was built from, for
//! the metadata block of `lsm demo`'s report. Never fails: without git, or
//! outside a checkout (a crate from a registry), they are `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = git(&dir, &["rev-parse", "--short=12", "HEAD"]);
    println!(
        "cargo:rustc-env=LSM_BUILD_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    if commit.is_some() {
        // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it
        // names (a commit), and packed refs. Only existing paths: cargo
        // reruns every time for a path that does not exist.
        let absolute = |p: String| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                dir.join(p)
            }
        };
        let git_dir = git(&dir, &["rev-parse", "--git-dir"]).map(absolute);
        let common_dir = git(&dir, &["rev-parse", "--git-common-dir"]).map(absolute);
        let branch = git(&dir, &["symbolic-ref", "-q", "HEAD"]);
        let mut watch = Vec::new();
        if let Some(git_dir) = &git_dir {
            watch.push(git_dir.join("HEAD"));
        }
        if let Some(common) = &common_dir {
            watch.push(common.join("packed-refs"));
            if let Some(branch) = &branch {
                watch.push(common.join(branch));
            }
        }
        for path in watch.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }

    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=LSM_BUILD_RUSTC={version}");
}
