//! The shipped systemd unit passes `systemd-analyze verify` (with the binary path pointed at
//! the one just built, since verify checks that executables exist).

use std::process::Command;

#[test]
fn the_unit_file_verifies() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/kiro-edge.service"
    ))
    .unwrap();
    assert!(
        unit.contains("ExecReload=/usr/local/bin/kiro-edge -t -c"),
        "reload validates first"
    );
    assert!(unit.contains("NoNewPrivileges=yes") && unit.contains("ProtectSystem=strict"));
    let dir = std::env::temp_dir().join(format!("kiro-edge-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kiro-edge.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/kiro-edge", env!("CARGO_BIN_EXE_kiro-edge")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze must be installed (scripts/test.sh installs it)");
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Outside a booted systemd (containers, CI) verify may only complain that it cannot reach
    // the system manager; anything about the unit itself is a failure.
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("kiro-edge.service"))
        .collect();
    assert!(problems.is_empty(), "systemd-analyze verify: {text}");
}
