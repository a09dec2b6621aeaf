//! The `machineId` that Kiro's user agents carry (`KiroIDE-{version}-{machineId}`): 64 lowercase
//! hex characters, stable per credential, because a stable id "lowers risk-control triggers".
//!
//! Precedence (kiro-protocol.md §1.7): the credential's own `machineId`, then the configured
//! one, then `sha256("KiroAPIKey/" + key)` for API keys, `sha256("KotlinNativeAPI/" +
//! refreshToken)` for OAuth credentials, and finally `sha256("KiroFallback/" + random uuid)`.

use sha2::{Digest, Sha256};

/// What a machine id can be derived from, best first.
#[derive(Debug, Default, Clone, Copy)]
pub struct MachineIdInputs<'a> {
    pub credential: Option<&'a str>,
    pub config: Option<&'a str>,
    pub api_key: Option<&'a str>,
    pub refresh_token: Option<&'a str>,
}

/// Resolves the machine id. The random fallback differs per call, so callers compute it once
/// per credential and keep it (and persist it when they write the credential back).
pub fn resolve(inputs: MachineIdInputs<'_>) -> String {
    for (label, value) in [("credential", inputs.credential), ("config", inputs.config)] {
        if let Some(raw) = value.filter(|v| !v.trim().is_empty()) {
            match normalize(raw) {
                Some(id) => return id,
                None => log::warn!(
                    "ignoring the {label} machineId: it is neither 64 hex characters nor a UUID"
                ),
            }
        }
    }
    if let Some(key) = inputs.api_key.filter(|k| !k.is_empty()) {
        return sha256_hex(&format!("KiroAPIKey/{key}"));
    }
    if let Some(token) = inputs.refresh_token.filter(|t| !t.is_empty()) {
        return sha256_hex(&format!("KotlinNativeAPI/{token}"));
    }
    sha256_hex(&format!("KiroFallback/{}", uuid::Uuid::new_v4()))
}

/// Accepts 64 hex characters, or a UUID (dashes optional) which is doubled to 64. Returns
/// lowercase hex.
pub fn normalize(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(raw.to_ascii_lowercase());
    }
    let uuid = uuid::Uuid::try_parse(raw).ok()?;
    let simple = uuid.simple().to_string();
    Some(format!("{simple}{simple}"))
}

/// The `os/…` part of the Kiro user agents, chosen from the two values the IDE reports and
/// fixed per machine id so that one account always presents the same platform. The rule (the
/// parity of the last byte) matches `kiro::headers::os_for`, so that the refresh calls and the
/// chat calls of one account agree.
pub fn system_version(machine_id: &str) -> &'static str {
    if machine_id.bytes().last().is_some_and(|b| b % 2 == 0) {
        "darwin#24.6.0"
    } else {
        "win32#10.0.22631"
    }
}

fn sha256_hex(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_id(s: &str) -> bool {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[test]
    fn sha256_vector() {
        // sha256("abc"), FIPS 180-2.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn derivations_match_the_documented_prefixes() {
        let refresh = resolve(MachineIdInputs {
            refresh_token: Some("rt"),
            ..Default::default()
        });
        assert_eq!(refresh, sha256_hex("KotlinNativeAPI/rt"));
        let key = resolve(MachineIdInputs {
            api_key: Some("ksk_abc"),
            refresh_token: Some("rt"),
            ..Default::default()
        });
        assert_eq!(key, sha256_hex("KiroAPIKey/ksk_abc"));
        assert!(is_id(&refresh) && is_id(&key));
        assert_ne!(refresh, key);
    }

    #[test]
    fn explicit_ids_take_precedence() {
        let hex = "AB".repeat(32);
        let inputs = MachineIdInputs {
            credential: Some(&hex),
            config: Some("11111111-2222-3333-4444-555555555555"),
            api_key: Some("ksk_x"),
            refresh_token: Some("rt"),
        };
        assert_eq!(resolve(inputs), "ab".repeat(32));
        let inputs = MachineIdInputs {
            credential: Some("not an id"),
            ..inputs
        };
        assert_eq!(
            resolve(inputs),
            "11111111222233334444555555555555".repeat(2)
        );
        let inputs = MachineIdInputs {
            config: Some("  "),
            ..inputs
        };
        assert_eq!(resolve(inputs), sha256_hex("KiroAPIKey/ksk_x"));
    }

    #[test]
    fn normalizes_uuids_and_rejects_garbage() {
        assert_eq!(
            normalize("A1B2C3D4-E5F6-7890-ABCD-EF0123456789").as_deref(),
            Some("a1b2c3d4e5f67890abcdef0123456789a1b2c3d4e5f67890abcdef0123456789")
        );
        assert_eq!(
            normalize("a1b2c3d4e5f67890abcdef0123456789").as_deref(),
            Some("a1b2c3d4e5f67890abcdef0123456789a1b2c3d4e5f67890abcdef0123456789")
        );
        assert_eq!(normalize(&"g".repeat(64)), None);
        assert_eq!(normalize(&"a".repeat(63)), None);
        assert_eq!(normalize(""), None);
    }

    #[test]
    fn fallback_is_random_but_well_formed() {
        let a = resolve(MachineIdInputs::default());
        let b = resolve(MachineIdInputs::default());
        assert!(is_id(&a) && is_id(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn system_version_is_stable_per_id() {
        assert_eq!(system_version(&"0".repeat(64)), "darwin#24.6.0");
        assert_eq!(system_version(&"1".repeat(64)), "win32#10.0.22631");
        assert_eq!(system_version(&"a".repeat(64)), "win32#10.0.22631");
        assert_eq!(system_version(""), "win32#10.0.22631");
    }
}
