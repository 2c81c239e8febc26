//! Files private by default: the real binary, started under a login shell's umask (022, or
//! none at all), creates its data directory and everything in it for its owner alone
//! (0700 / 0600), and makes an existing data directory that others could read 0700.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{create_token_under_umask, ready, spawn_app_in, start_under_umask};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// `path` and everything under it, with the permission bits of each.
fn modes_under(path: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = vec![(path.to_path_buf(), mode(path))];
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            out.extend(modes_under(&entry.unwrap().path()));
        }
    }
    out
}

fn open_to_others(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_the_service_writes_is_private_under_a_login_shells_umask() {
    let dir = tempfile::tempdir().unwrap();
    open_to_others(dir.path());
    let mut app = spawn_app_in(dir, Some("022"), &[]);
    ready(&app).await;
    let contact = app.new_contact("practitioner").await;
    let (status, body) = app.get("practitioner", &format!("/v1/contacts/{contact}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get("auditor", "/v1/events?after=0&limit=10").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(tokio::task::block_in_place(|| app.terminate(Duration::from_secs(15))), Some(true));

    let data = app.dir.path();
    let modes = modes_under(data);
    let names: Vec<String> = modes.iter().map(|(p, _)| p.strip_prefix(data).unwrap().display().to_string()).collect();
    for expected in ["tokens.json", "segments", "index", "index/head", "index/events.snapshot"] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    for (path, mode) in &modes {
        assert_eq!(mode & 0o077, 0, "{} is open to others: {mode:04o} ({names:?})", path.display());
    }
    assert_eq!(mode(data), 0o700);
}

#[test]
fn a_data_directory_is_created_private_or_made_private() {
    let tmp = tempfile::tempdir().unwrap();
    let started = |dir: &Path, umask: &str| {
        // The address is printed once the data directory is prepared and the log is open.
        let (mut child, _url) = start_under_umask(umask, dir);
        let _ = child.kill();
        let _ = child.wait();
    };

    let absent = tmp.path().join("new").join("data");
    started(&absent, "000");
    assert_eq!(mode(&absent), 0o700, "created private");
    assert_eq!(mode(absent.parent().unwrap()), 0o700, "and its missing parent too");

    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    open_to_others(&open);
    started(&open, "022");
    assert_eq!(mode(&open), 0o700, "made private by serve");

    let tokens_only = tmp.path().join("tokens-only");
    std::fs::create_dir(&tokens_only).unwrap();
    open_to_others(&tokens_only);
    create_token_under_umask("022", &tokens_only, "admin", "it-admin", "childrens_social_care");
    assert_eq!(mode(&tokens_only), 0o700, "made private by token create");
    for (path, mode) in modes_under(&tokens_only) {
        assert_eq!(mode & 0o077, 0, "{} is open to others: {mode:04o}", path.display());
    }
}
