//! `credentials.json`: the record format, loading, and the atomic, merge-before-write writeback.
//!
//! The file is a single object (the legacy form, also what the Kiro IDE writes) or an array
//! (kiro-protocol.md §4.4). Unknown fields are kept verbatim so a writeback never loses what
//! another tool stored. Writeback re-reads the file first and merges per entry, keeping
//! whichever token is newer (`expiresAt`), so a token the Kiro IDE refreshed in the meantime is
//! never overwritten by a stale one.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::time::parse_rfc3339_millis;

/// How an account obtains its bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// GitHub / Google login through Kiro's desktop auth service.
    Social,
    /// AWS SSO-OIDC: Builder ID or IAM Identity Center.
    Idc,
    /// A `ksk_…` API key used directly as the bearer token; never refreshed.
    ApiKey,
    /// An external OIDC provider (Entra ID, Okta) refreshed at its own `tokenEndpoint`.
    ExternalIdp,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Social => "social",
            AuthMethod::Idc => "idc",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::ExternalIdp => "external_idp",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One credential record. Field names follow the file (camelCase); every field is optional
/// because the file is hand-edited and written by several tools.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// A number or a string; only used to name the account and to match entries on writeback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_arn: Option<String>,
    /// RFC 3339, e.g. `2025-12-31T02:32:45.144Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Kept as written (`builder-id`, `IdC`, …); see [`Credential::auth_method`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// A display name for logs and `/health`; defaults to the `id`, then the email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lower is tried first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Share of requests under the `balanced` and `round-robin` strategies (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Kiro model ids or globs (`claude-sonnet-*`) this account may serve; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_models: Option<Vec<String>>,
    /// Pacing overrides (see `PoolSettings::pacing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kiro_api_key: Option<String>,
    /// `BuilderId`, `Enterprise`, `Github`, `Google`, … (written by the Kiro IDE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// External IdP only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// External IdP only: a space-separated string or a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Value>,
    /// Everything else, written back untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for Credential {
    // Secrets are never printed, only whether they are present.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present = |v: &Option<String>| if v.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("Credential")
            .field("id", &self.id)
            .field("auth_method", &self.auth_method)
            .field("access_token", &present(&self.access_token))
            .field("refresh_token", &present(&self.refresh_token))
            .field("client_secret", &present(&self.client_secret))
            .field("kiro_api_key", &present(&self.kiro_api_key))
            .field("expires_at", &self.expires_at)
            .field("profile_arn", &self.profile_arn)
            .field("name", &self.name)
            .field("priority", &self.priority)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// The normalised auth method. When `authMethod` is absent it is inferred: an API key
    /// means `api_key`, a client id and secret mean `idc`, anything else `social`.
    pub fn auth_method(&self) -> Result<AuthMethod, String> {
        let Some(raw) = self.auth_method.as_deref().map(str::trim) else {
            return Ok(if self.kiro_api_key.is_some() {
                AuthMethod::ApiKey
            } else if self.client_id.is_some() && self.client_secret.is_some() {
                AuthMethod::Idc
            } else {
                AuthMethod::Social
            });
        };
        let norm: String = raw
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        match norm.as_str() {
            "social" => Ok(AuthMethod::Social),
            "idc" | "builderid" | "iam" | "iamsso" | "sso" => Ok(AuthMethod::Idc),
            "apikey" => Ok(AuthMethod::ApiKey),
            "externalidp" => Ok(AuthMethod::ExternalIdp),
            _ => Err(format!("unknown authMethod {raw:?}")),
        }
    }

    /// `expiresAt` in Unix milliseconds; `None` when absent or unparseable (treated as expired).
    pub fn expires_at_millis(&self) -> Option<i64> {
        self.expires_at.as_deref().and_then(parse_rfc3339_millis)
    }

    /// A display name: the `name`, else the `id`, else the email, else `None`.
    pub fn label(&self) -> Option<String> {
        if let Some(name) = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            return Some(name.to_string());
        }
        match &self.id {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => self.email.clone(),
        }
    }
}

/// Whether the file held a single object or an array; writeback keeps the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileForm {
    Object,
    Array,
}

/// The parsed content of a credentials file, entries in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialsFile {
    pub form: FileForm,
    pub entries: Vec<Credential>,
}

/// Parses file content. Empty content is an empty array.
pub fn parse_credentials(text: &str) -> Result<CredentialsFile, serde_json::Error> {
    if text.trim().is_empty() {
        return Ok(CredentialsFile {
            form: FileForm::Array,
            entries: Vec::new(),
        });
    }
    // Parse to a Value first so that a malformed entry reports serde's own message rather
    // than the opaque "did not match any variant" of an untagged enum.
    let value: Value = serde_json::from_str(text)?;
    Ok(if value.is_array() {
        CredentialsFile {
            form: FileForm::Array,
            entries: serde_json::from_value(value)?,
        }
    } else {
        CredentialsFile {
            form: FileForm::Object,
            entries: vec![serde_json::from_value(value)?],
        }
    })
}

/// Pretty JSON with a trailing newline. An object-form file with other than one entry is
/// written as an array, since an object cannot hold it.
pub fn serialize_credentials(file: &CredentialsFile) -> Result<String, serde_json::Error> {
    let mut out = match (file.form, file.entries.as_slice()) {
        (FileForm::Object, [one]) => serde_json::to_string_pretty(one)?,
        _ => serde_json::to_string_pretty(&file.entries)?,
    };
    out.push('\n');
    Ok(out)
}

/// Why a credentials file could not be read or written. Every variant names the file.
#[derive(Debug)]
pub enum CredentialsError {
    NotFound { path: PathBuf },
    Read { path: PathBuf, source: io::Error },
    Parse { path: PathBuf, reason: String },
    Write { path: PathBuf, source: io::Error },
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsError::NotFound { path } => {
                write!(f, "credentials file {} does not exist", path.display())
            }
            CredentialsError::Read { path, source } => {
                write!(
                    f,
                    "cannot read credentials file {}: {source}",
                    path.display()
                )
            }
            CredentialsError::Parse { path, reason } => write!(
                f,
                "credentials file {} is not a credential object or array: {reason}",
                path.display()
            ),
            CredentialsError::Write { path, source } => {
                write!(
                    f,
                    "cannot write credentials file {}: {source}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for CredentialsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CredentialsError::Read { source, .. } | CredentialsError::Write { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// Credentials files are small; anything bigger is a mistake, not something to slurp.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads and parses a credentials file.
pub fn load_file(path: &Path) -> Result<CredentialsFile, CredentialsError> {
    let text = read_text(path)?;
    parse_credentials(&text).map_err(|e| CredentialsError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn read_text(path: &Path) -> Result<String, CredentialsError> {
    let read_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::NotFound {
            CredentialsError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            CredentialsError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let len = fs::metadata(path).map_err(read_err)?.len();
    if len > MAX_FILE_BYTES {
        return Err(CredentialsError::Parse {
            path: path.to_path_buf(),
            reason: format!("the file is {len} bytes, more than the {MAX_FILE_BYTES} allowed"),
        });
    }
    fs::read_to_string(path).map_err(read_err)
}

/// Replaces `path` atomically: a 0600 temp file in the same directory, fsync, rename, then a
/// best-effort fsync of the directory so the rename itself survives a crash.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "credentials.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));

    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// What identifies one of our entries in a file that someone else may have rewritten.
#[derive(Debug, Clone, Default)]
pub struct EntryKey {
    pub id: Option<Value>,
    /// Refresh tokens this entry has had (loaded, rotated), newest last.
    pub refresh_tokens: Vec<String>,
    pub api_key: Option<String>,
}

impl EntryKey {
    pub fn for_credential(c: &Credential) -> Self {
        EntryKey {
            id: c.id.clone(),
            refresh_tokens: c.refresh_token.iter().cloned().collect(),
            api_key: c.kiro_api_key.clone(),
        }
    }

    /// Remembers a rotated refresh token; a short history is enough to recognise our own
    /// earlier writes.
    pub fn remember_refresh_token(&mut self, token: &str) {
        if self.refresh_tokens.iter().any(|t| t == token) {
            return;
        }
        self.refresh_tokens.push(token.to_string());
        if self.refresh_tokens.len() > 4 {
            self.refresh_tokens.remove(0);
        }
    }

    fn matches(&self, disk: &Credential) -> bool {
        if let (Some(a), Some(b)) = (&self.id, &disk.id) {
            return a == b;
        }
        if let Some(rt) = &disk.refresh_token {
            if self.refresh_tokens.iter().any(|t| t == rt) {
                return true;
            }
        }
        matches!((&self.api_key, &disk.kiro_api_key), (Some(a), Some(b)) if a == b)
    }
}

/// The result of merging our in-memory entries into the file's current content.
#[derive(Debug)]
pub struct Merged {
    /// What to write.
    pub file: CredentialsFile,
    /// Entries (by our index) whose token on disk is newer than ours: adopt them.
    pub newer_on_disk: Vec<(usize, Credential)>,
    /// Our entries that are no longer in the file (removed by the user): not re-added.
    pub missing: Vec<usize>,
}

/// Merges `ours` into `disk`. The file's entries, order and non-token fields win (a person or
/// the IDE may have edited them); the token fields (`accessToken`, `refreshToken`,
/// `expiresAt`, `profileArn`) come from whichever side expires later, ours on a tie. With
/// `add_machine_id`, our `machineId` is added to entries that have none, so the derived id
/// stays stable after the refresh token rotates.
pub fn merge_for_writeback(
    disk: CredentialsFile,
    ours: &[(EntryKey, Credential)],
    add_machine_id: bool,
) -> Merged {
    let mut matched: Vec<Option<usize>> = vec![None; disk.entries.len()];
    let mut used = vec![false; ours.len()];
    for (i, entry) in disk.entries.iter().enumerate() {
        if let Some(j) = (0..ours.len()).find(|&j| !used[j] && ours[j].0.matches(entry)) {
            matched[i] = Some(j);
            used[j] = true;
        }
    }
    // Same length: pair what is left by position (e.g. the IDE rotated a token we never saw).
    if disk.entries.len() == ours.len() {
        for (i, slot) in matched.iter_mut().enumerate() {
            if slot.is_none() && !used[i] && ours[i].0.id.is_none() {
                *slot = Some(i);
                used[i] = true;
            }
        }
    }

    let mut newer_on_disk = Vec::new();
    let mut entries = Vec::with_capacity(disk.entries.len());
    for (entry, slot) in disk.entries.into_iter().zip(matched) {
        let Some(j) = slot else {
            entries.push(entry);
            continue;
        };
        let mine = &ours[j].1;
        let mut merged = entry;
        let disk_newer = match (merged.expires_at_millis(), mine.expires_at_millis()) {
            (Some(d), Some(m)) => d > m,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if disk_newer {
            if merged.refresh_token != mine.refresh_token
                || merged.access_token != mine.access_token
            {
                newer_on_disk.push((j, merged.clone()));
            }
        } else {
            merged.access_token = mine.access_token.clone();
            merged.refresh_token = mine.refresh_token.clone();
            merged.expires_at = mine.expires_at.clone();
            if mine.profile_arn.is_some() {
                merged.profile_arn = mine.profile_arn.clone();
            }
        }
        if add_machine_id && merged.machine_id.is_none() {
            merged.machine_id = mine.machine_id.clone();
        }
        entries.push(merged);
    }
    let missing = (0..ours.len()).filter(|&j| !used[j]).collect();
    Merged {
        file: CredentialsFile {
            form: disk.form,
            entries,
        },
        newer_on_disk,
        missing,
    }
}

/// One credentials file we read from and write back to.
#[derive(Debug)]
pub struct CredentialStore {
    path: PathBuf,
    form: FileForm,
    /// Whether our own fields (`machineId`) may be added. Off for files owned by another
    /// program, such as the Kiro IDE's token cache.
    add_machine_id: bool,
    /// Serialises read-merge-write cycles on this file within the process.
    io_lock: std::sync::Mutex<()>,
}

impl CredentialStore {
    pub fn new(path: PathBuf, form: FileForm, add_machine_id: bool) -> Self {
        CredentialStore {
            path,
            form,
            add_machine_id,
            io_lock: std::sync::Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the file and merges `ours` into it without writing: the entries whose token on
    /// disk is newer than ours. Blocking I/O.
    pub fn read_newer(
        &self,
        ours: &[(EntryKey, Credential)],
    ) -> Result<Vec<(usize, Credential)>, CredentialsError> {
        let _guard = self.io_lock.lock().unwrap_or_else(|p| p.into_inner());
        let disk = load_file(&self.path)?;
        Ok(merge_for_writeback(disk, ours, false).newer_on_disk)
    }

    /// Read, merge, write atomically. Returns the merge so the caller can adopt newer tokens.
    /// A file that has become unparseable is left alone (it may be mid-edit). A file that has
    /// disappeared is recreated from `ours`. Blocking I/O.
    pub fn persist(&self, ours: &[(EntryKey, Credential)]) -> Result<Merged, CredentialsError> {
        let _guard = self.io_lock.lock().unwrap_or_else(|p| p.into_inner());
        let disk = match load_file(&self.path) {
            Ok(disk) => disk,
            Err(CredentialsError::NotFound { .. }) => CredentialsFile {
                form: self.form,
                entries: ours.iter().map(|(_, c)| c.clone()).collect(),
            },
            Err(e) => return Err(e),
        };
        let merged = merge_for_writeback(disk, ours, self.add_machine_id);
        let text = serialize_credentials(&merged.file).map_err(|e| CredentialsError::Write {
            path: self.path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        write_atomic(&self.path, text.as_bytes()).map_err(|source| CredentialsError::Write {
            path: self.path.clone(),
            source,
        })?;
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("kiro-edge-{tag}-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn cred(rt: &str, expires: &str) -> Credential {
        Credential {
            access_token: Some(format!("at-{rt}")),
            refresh_token: Some(rt.into()),
            expires_at: Some(expires.into()),
            ..Default::default()
        }
    }

    #[test]
    fn infers_and_normalises_auth_methods() {
        let mut c = Credential::default();
        assert_eq!(c.auth_method(), Ok(AuthMethod::Social));
        c.client_id = Some("id".into());
        assert_eq!(c.auth_method(), Ok(AuthMethod::Social));
        c.client_secret = Some("secret".into());
        assert_eq!(c.auth_method(), Ok(AuthMethod::Idc));
        c.kiro_api_key = Some("ksk_x".into());
        assert_eq!(c.auth_method(), Ok(AuthMethod::ApiKey));
        for (raw, want) in [
            ("social", AuthMethod::Social),
            ("IdC", AuthMethod::Idc),
            ("builder-id", AuthMethod::Idc),
            ("iam", AuthMethod::Idc),
            ("api_key", AuthMethod::ApiKey),
            ("external_idp", AuthMethod::ExternalIdp),
        ] {
            c.auth_method = Some(raw.into());
            assert_eq!(c.auth_method(), Ok(want), "{raw}");
        }
        c.auth_method = Some("kerberos".into());
        assert!(c.auth_method().is_err());
    }

    #[test]
    fn object_form_round_trips_with_unknown_fields() {
        let text = r#"{"accessToken":"a","refreshToken":"r","expiresAt":"2025-12-31T02:32:45.144Z",
            "authMethod":"IdC","provider":"Enterprise","clientIdHash":"abc","nested":{"k":[1,2]}}"#;
        let file = parse_credentials(text).unwrap();
        assert_eq!(file.form, FileForm::Object);
        assert_eq!(file.entries.len(), 1);
        let c = &file.entries[0];
        assert_eq!(c.auth_method.as_deref(), Some("IdC"));
        assert_eq!(c.extra.get("clientIdHash"), Some(&Value::from("abc")));
        let out = serialize_credentials(&file).unwrap();
        let back: Value = serde_json::from_str(&out).unwrap();
        let orig: Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn array_form_round_trips_and_empty_is_empty() {
        let text = r#"[{"refreshToken":"r1","priority":1,"proxyUrl":"direct"},
                      {"kiroApiKey":"ksk_1","authMethod":"api_key","id":7}]"#;
        let file = parse_credentials(text).unwrap();
        assert_eq!(file.form, FileForm::Array);
        assert_eq!(file.entries[1].label().as_deref(), Some("7"));
        let back: Value = serde_json::from_str(&serialize_credentials(&file).unwrap()).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
        assert!(parse_credentials("  \n").unwrap().entries.is_empty());
    }

    #[test]
    fn pool_fields_parse_and_round_trip() {
        let text = r#"[{"refreshToken":"r","name":"work","id":3,"priority":2,"weight":3,
            "allowedModels":["claude-sonnet-*"],"maxConcurrent":2,"minIntervalMs":500,"rpm":20,
            "disabled":false,"apiRegion":"eu-central-1","x-other":true}]"#;
        let file = parse_credentials(text).unwrap();
        let c = &file.entries[0];
        assert_eq!(c.label().as_deref(), Some("work"));
        assert_eq!(c.weight, Some(3));
        assert_eq!(
            c.allowed_models.as_deref(),
            Some(&["claude-sonnet-*".to_string()][..])
        );
        assert_eq!(
            (c.max_concurrent, c.min_interval_ms, c.rpm),
            (Some(2), Some(500), Some(20))
        );
        let back: Value = serde_json::from_str(&serialize_credentials(&file).unwrap()).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn parse_errors_are_explained() {
        let err = parse_credentials(r#"[{"priority":"high"}]"#).unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
        assert!(parse_credentials("42").is_err());
        assert!(parse_credentials("{").is_err());
    }

    #[test]
    fn load_errors_name_the_file() {
        let dir = temp_dir("load");
        let missing = dir.join("nope.json");
        let err = load_file(&missing).unwrap_err();
        assert!(matches!(err, CredentialsError::NotFound { .. }));
        assert!(err.to_string().contains("nope.json"));
        let bad = dir.join("bad.json");
        fs::write(&bad, "{oops").unwrap();
        let err = load_file(&bad).unwrap_err();
        assert!(matches!(err, CredentialsError::Parse { .. }));
        assert!(err.to_string().contains("bad.json"), "{err}");
        fs::remove_dir_all(dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_uses_0600_and_leaves_no_temp_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("atomic");
        let path = dir.join("credentials.json");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn persist_keeps_the_form_and_unknown_fields() {
        let dir = temp_dir("persist");
        let path = dir.join("c.json");
        fs::write(
            &path,
            r#"{"refreshToken":"r1","expiresAt":"2025-01-01T00:00:00Z","x-tool":"kept"}"#,
        )
        .unwrap();
        let loaded = load_file(&path).unwrap();
        let store = CredentialStore::new(path.clone(), loaded.form, true);
        let mut mine = loaded.entries[0].clone();
        let mut key = EntryKey::for_credential(&mine);
        mine.refresh_token = Some("r2".into());
        mine.access_token = Some("a2".into());
        mine.expires_at = Some("2025-01-01T01:00:00Z".into());
        mine.machine_id = Some("ab".repeat(32));
        key.remember_refresh_token("r2");
        let merged = store.persist(&[(key, mine)]).unwrap();
        assert!(merged.newer_on_disk.is_empty());
        let back: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert!(back.is_object());
        assert_eq!(back["refreshToken"], "r2");
        assert_eq!(back["accessToken"], "a2");
        assert_eq!(back["x-tool"], "kept");
        assert_eq!(back["machineId"], "ab".repeat(32));
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_newer_token_on_disk_is_never_overwritten() {
        let dir = temp_dir("stale");
        let path = dir.join("kiro-auth-token.json");
        let ours = cred("r1", "2025-01-01T00:00:00Z");
        let key = EntryKey::for_credential(&ours);
        // Meanwhile the IDE refreshed: a new refresh token we have never seen, later expiry.
        fs::write(
            &path,
            r#"{"accessToken":"ide","refreshToken":"ide-rt","expiresAt":"2025-01-01T05:00:00Z","ide":1}"#,
        )
        .unwrap();
        let store = CredentialStore::new(path.clone(), FileForm::Object, false);
        let mut stale = ours.clone();
        stale.access_token = Some("ours".into());
        stale.expires_at = Some("2025-01-01T01:00:00Z".into());
        let merged = store.persist(&[(key.clone(), stale.clone())]).unwrap();
        assert_eq!(merged.newer_on_disk.len(), 1);
        assert_eq!(merged.newer_on_disk[0].0, 0);
        assert_eq!(
            merged.newer_on_disk[0].1.refresh_token.as_deref(),
            Some("ide-rt")
        );
        let back: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back["refreshToken"], "ide-rt");
        assert_eq!(back["accessToken"], "ide");
        assert!(back.get("machineId").is_none());
        assert_eq!(store.read_newer(&[(key, stale)]).unwrap().len(), 1);
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn merge_matches_entries_and_keeps_foreign_ones() {
        let disk = CredentialsFile {
            form: FileForm::Array,
            entries: vec![
                cred("other", "2030-01-01T00:00:00Z"),
                Credential {
                    priority: Some(3),
                    ..cred("r1", "2025-01-01T00:00:00Z")
                },
            ],
        };
        let mut mine = cred("r1", "2025-01-01T00:00:00Z");
        let key = EntryKey::for_credential(&mine);
        mine.refresh_token = Some("r1b".into());
        mine.expires_at = Some("2025-01-01T01:00:00Z".into());
        let gone = cred("deleted", "2025-01-01T00:00:00Z");
        let merged = merge_for_writeback(
            disk,
            &[(key, mine), (EntryKey::for_credential(&gone), gone)],
            false,
        );
        assert_eq!(merged.missing, vec![1]);
        assert_eq!(merged.file.entries.len(), 2);
        assert_eq!(
            merged.file.entries[0].refresh_token.as_deref(),
            Some("other")
        );
        assert_eq!(merged.file.entries[1].refresh_token.as_deref(), Some("r1b"));
        assert_eq!(merged.file.entries[1].priority, Some(3));
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let c = Credential {
            client_secret: Some("s3cr3t".into()),
            ..cred("refresh-secret", "2025-01-01T00:00:00Z")
        };
        let s = format!("{c:?}");
        assert!(!s.contains("s3cr3t") && !s.contains("refresh-secret") && !s.contains("at-"));
    }
}
