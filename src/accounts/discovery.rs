//! Finds a local Kiro login so that a signed-in user needs no configuration.
//!
//! - The Kiro IDE keeps its token in `~/.aws/sso/cache/kiro-auth-token.json` (one object:
//!   `accessToken`, `refreshToken`, `expiresAt`, `authMethod` = `social` | `IdC`, `provider`,
//!   `region`, `profileArn`, and for IdC a `clientIdHash`). For IdC logins the OIDC client
//!   registration (`clientId`, `clientSecret`, its own `expiresAt`) sits beside it in
//!   `~/.aws/sso/cache/{clientIdHash}.json`.
//! - kiro-cli keeps its tokens in a SQLite database (`data.sqlite3`, table `auth_kv`). We have
//!   no SQLite reader, so we only detect the file and say how to export the login.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::credentials::{load_file, Credential, FileForm};
use super::time::{now_millis, parse_rfc3339_millis};

/// The Kiro IDE's token cache, relative to the home directory.
pub const KIRO_IDE_TOKEN_FILE: &str = ".aws/sso/cache/kiro-auth-token.json";

/// Where kiro-cli (and Amazon Q for CLI before it) keep their SQLite store, relative to home.
const KIRO_CLI_DATABASES: &[&str] = &[
    ".local/share/kiro-cli/data.sqlite3",
    ".local/share/amazon-q/data.sqlite3",
    ".config/kiro-cli/data.sqlite3",
    "Library/Application Support/kiro-cli/data.sqlite3",
    "Library/Application Support/amazon-q/data.sqlite3",
];

/// A credential found on this machine.
#[derive(Debug, Clone)]
pub struct DiscoveredCredential {
    /// The file the token came from; refreshed tokens are written back there.
    pub path: PathBuf,
    pub form: FileForm,
    /// The token record, with `clientId` / `clientSecret` filled in from the client
    /// registration for IdC logins. Those two are never written back to `path`.
    pub credential: Credential,
    /// The IdC client registration file, when one was used.
    pub registration_file: Option<PathBuf>,
    /// A short description for logs and `/health`, e.g. `kiro-ide`.
    pub source: &'static str,
}

/// Looks for local Kiro logins under `home`. Problems are logged, never fatal: discovery is a
/// convenience on top of explicit configuration.
pub fn discover(home: &Path) -> Vec<DiscoveredCredential> {
    let mut found = Vec::new();
    if let Some(ide) = discover_kiro_ide(home) {
        found.push(ide);
    }
    for db in kiro_cli_databases(home) {
        log::info!(
            "found a kiro-cli login store at {} but cannot read SQLite; to use that login, \
             sign in with the Kiro IDE or copy its token into a credentials file \
             (sqlite3 {} \"select value from auth_kv where key like '%token%'\")",
            db.display(),
            db.display()
        );
    }
    found
}

/// kiro-cli SQLite stores that exist under `home`.
pub fn kiro_cli_databases(home: &Path) -> Vec<PathBuf> {
    KIRO_CLI_DATABASES
        .iter()
        .map(|rel| home.join(rel))
        .filter(|p| p.is_file())
        .collect()
}

fn discover_kiro_ide(home: &Path) -> Option<DiscoveredCredential> {
    let path = home.join(KIRO_IDE_TOKEN_FILE);
    if !path.is_file() {
        return None;
    }
    let file = match load_file(&path) {
        Ok(f) => f,
        Err(e) => {
            log::warn!("ignoring the Kiro IDE login: {e}");
            return None;
        }
    };
    let Some(mut credential) = file.entries.into_iter().next() else {
        log::warn!("ignoring the Kiro IDE login: {} is empty", path.display());
        return None;
    };
    if credential.refresh_token.is_none() && credential.access_token.is_none() {
        log::warn!(
            "ignoring the Kiro IDE login: {} holds no token",
            path.display()
        );
        return None;
    }

    let mut registration_file = None;
    let hash = credential
        .extra
        .get("clientIdHash")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    if let Some(hash) = hash {
        match load_registration(home, &hash) {
            Ok((reg_path, reg)) => {
                if reg.expires_at_millis().is_some_and(|t| t <= now_millis()) {
                    log::warn!(
                        "the Kiro IDE client registration {} has expired; refresh will fail \
                         until you sign in to Kiro again",
                        reg_path.display()
                    );
                }
                credential.client_id = credential.client_id.or(reg.client_id);
                credential.client_secret = credential.client_secret.or(reg.client_secret);
                registration_file = Some(reg_path);
            }
            Err(why) => log::warn!("Kiro IDE login: {why}; IdC refresh will not work"),
        }
    }
    log::info!("using the Kiro IDE login from {}", path.display());
    Some(DiscoveredCredential {
        path,
        form: FileForm::Object,
        credential,
        registration_file,
        source: "kiro-ide",
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Registration {
    client_id: Option<String>,
    client_secret: Option<String>,
    expires_at: Option<String>,
}

impl Registration {
    fn expires_at_millis(&self) -> Option<i64> {
        self.expires_at.as_deref().and_then(parse_rfc3339_millis)
    }
}

fn load_registration(home: &Path, hash: &str) -> Result<(PathBuf, Registration), String> {
    // The hash comes from a file: make sure it cannot walk out of the cache directory.
    let safe = !hash.is_empty()
        && hash.len() <= 128
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !safe {
        return Err(format!("clientIdHash {hash:?} is not a plain file name"));
    }
    let path = home.join(".aws/sso/cache").join(format!("{hash}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read the client registration {}: {e}",
            path.display()
        )
    })?;
    let reg: Registration = serde_json::from_str(&text)
        .map_err(|e| format!("the client registration {} is invalid: {e}", path.display()))?;
    if reg.client_id.is_none() || reg.client_secret.is_none() {
        return Err(format!(
            "the client registration {} has no clientId/clientSecret",
            path.display()
        ));
    }
    Ok((path, reg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::credentials::AuthMethod;
    use std::fs;

    fn temp_home() -> PathBuf {
        let home =
            std::env::temp_dir().join(format!("kiro-edge-home-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(home.join(".aws/sso/cache")).unwrap();
        home
    }

    #[test]
    fn empty_home_finds_nothing() {
        let home = temp_home();
        assert!(discover(&home).is_empty());
        fs::remove_dir_all(home).ok();
    }

    #[test]
    fn finds_a_social_ide_login() {
        let home = temp_home();
        fs::write(
            home.join(KIRO_IDE_TOKEN_FILE),
            r#"{"accessToken":"at","refreshToken":"rt","expiresAt":"2030-01-01T00:00:00.000Z",
               "authMethod":"social","provider":"Github",
               "profileArn":"arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK"}"#,
        )
        .unwrap();
        let found = discover(&home);
        assert_eq!(found.len(), 1);
        let d = &found[0];
        assert_eq!(d.source, "kiro-ide");
        assert_eq!(d.form, FileForm::Object);
        assert_eq!(d.path, home.join(KIRO_IDE_TOKEN_FILE));
        assert_eq!(d.credential.auth_method(), Ok(AuthMethod::Social));
        assert!(d.registration_file.is_none());
        fs::remove_dir_all(home).ok();
    }

    #[test]
    fn joins_the_idc_client_registration() {
        let home = temp_home();
        fs::write(
            home.join(KIRO_IDE_TOKEN_FILE),
            r#"{"accessToken":"at","refreshToken":"rt","expiresAt":"2030-01-01T00:00:00.000Z",
               "clientIdHash":"e87895ae36d9539303a0bcd27feb465a60aeb433",
               "authMethod":"IdC","provider":"Enterprise","region":"eu-west-1"}"#,
        )
        .unwrap();
        fs::write(
            home.join(".aws/sso/cache/e87895ae36d9539303a0bcd27feb465a60aeb433.json"),
            r#"{"clientId":"cid","clientSecret":"csecret","expiresAt":"2030-01-01T00:00:00.000Z"}"#,
        )
        .unwrap();
        let found = discover(&home);
        assert_eq!(found.len(), 1);
        let c = &found[0].credential;
        assert_eq!(c.auth_method(), Ok(AuthMethod::Idc));
        assert_eq!(c.client_id.as_deref(), Some("cid"));
        assert_eq!(c.client_secret.as_deref(), Some("csecret"));
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert!(found[0].registration_file.is_some());
        fs::remove_dir_all(home).ok();
    }

    #[test]
    fn refuses_a_path_traversing_client_id_hash() {
        let home = temp_home();
        fs::write(
            home.join(KIRO_IDE_TOKEN_FILE),
            r#"{"refreshToken":"rt","authMethod":"IdC","clientIdHash":"../../../etc/passwd"}"#,
        )
        .unwrap();
        let found = discover(&home);
        assert_eq!(found.len(), 1);
        assert!(found[0].credential.client_id.is_none());
        assert!(found[0].registration_file.is_none());
        fs::remove_dir_all(home).ok();
    }

    #[test]
    fn skips_broken_or_empty_token_files() {
        let home = temp_home();
        fs::write(home.join(KIRO_IDE_TOKEN_FILE), "{not json").unwrap();
        assert!(discover(&home).is_empty());
        fs::write(home.join(KIRO_IDE_TOKEN_FILE), r#"{"provider":"Github"}"#).unwrap();
        assert!(discover(&home).is_empty());
        fs::remove_dir_all(home).ok();
    }

    #[test]
    fn detects_kiro_cli_databases() {
        let home = temp_home();
        fs::create_dir_all(home.join(".local/share/kiro-cli")).unwrap();
        fs::write(
            home.join(".local/share/kiro-cli/data.sqlite3"),
            b"SQLite format 3\0",
        )
        .unwrap();
        assert_eq!(
            kiro_cli_databases(&home),
            vec![home.join(".local/share/kiro-cli/data.sqlite3")]
        );
        assert!(discover(&home).is_empty());
        fs::remove_dir_all(home).ok();
    }
}
