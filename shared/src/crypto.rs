//! Cryptographic helpers: SHA-256 digests of stored secrets, random tokens, and the
//! token-signing key set (Ed25519, RFC 8037 `EdDSA`) with key ids for the JWKS (RFC 7517).
//!
//! The key set is a small JSON document, the same whether it lives in a local file (generated on
//! first run) or in AWS Secrets Manager (where the template's `GenerateSecretString` writes it):
//! `{"seed": "<random string>", "previous_seeds": ["<older>", ...]}`. Each seed is stretched with
//! SHA-256 into an Ed25519 private key, so the secret never has to hold key encodings and
//! CloudFormation can create it. The current seed signs; every seed verifies, so a rotation moves
//! `seed` into `previous_seeds` and sets a new `seed`, and tokens signed before keep verifying
//! until they expire.

use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Seeds shorter than this are refused: they would not carry 128 bits of entropy.
const MIN_SEED_LEN: usize = 32;

/// Installs aws-lc (the crypto the AWS SDK already uses) as rustls's process-wide provider,
/// which reqwest's TLS needs before any client is built. Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// SHA-256 of `input`, lower-case hex: how codes, tokens and secrets are stored.
pub fn sha256_hex(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// A fresh random token: 32 bytes from the system CSPRNG, base64url without padding.
pub fn random_token() -> Result<String, KeyError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Why the signing keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key document is not valid.
    #[error("key set is malformed: {0}")]
    Malformed(String),
    /// Secrets Manager did not return the secret.
    #[error("reading the signing-key secret failed: {0}")]
    Secret(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The system random source failed.
    #[error("the system random number generator failed")]
    Random,
    /// This process does not load signing keys (its function never needs them).
    #[error("signing keys are not used by this function")]
    NotUsed,
}

#[derive(Serialize, Deserialize)]
struct KeyDocument {
    seed: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    previous_seeds: Vec<String>,
}

/// One signing key: its id, private key (PKCS#8, never printed) and public key.
pub struct SigningKey {
    /// Key id, published in the JWKS and in each token's header.
    pub kid: String,
    pkcs8: SecretSlice<u8>,
    /// The raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
}

impl SigningKey {
    /// The PKCS#8 document of the private key.
    pub fn pkcs8_der(&self) -> &[u8] {
        self.pkcs8.expose_secret()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The live signing keys; the first one signs.
#[derive(Debug)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

impl SigningKey {
    fn from_seed(seed: &str) -> Result<Self, KeyError> {
        if seed.len() < MIN_SEED_LEN {
            return Err(KeyError::Malformed(format!(
                "a seed must be at least {MIN_SEED_LEN} characters"
            )));
        }
        let mut hasher = Sha256::new();
        hasher.update(b"memory-mcp signing key v1\0");
        hasher.update(seed.as_bytes());
        let private = hasher.finalize();
        let pair = Ed25519KeyPair::from_seed_unchecked(&private)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| KeyError::Random)?;
        let public_key = pair.public_key().as_ref().to_vec();
        Ok(Self {
            kid: URL_SAFE_NO_PAD.encode(&Sha256::digest(&public_key)[..12]),
            pkcs8: pkcs8.as_ref().to_vec().into(),
            public_key,
        })
    }
}

impl SigningKeys {
    /// Parses a key document (see the module docs).
    pub fn from_json(json: &str) -> Result<Self, KeyError> {
        let doc: KeyDocument =
            serde_json::from_str(json).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let keys = std::iter::once(&doc.seed)
            .chain(&doc.previous_seeds)
            .map(|seed| SigningKey::from_seed(seed))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys })
    }

    /// A key document holding one freshly generated seed.
    pub fn generate_json() -> Result<String, KeyError> {
        let document = KeyDocument {
            seed: random_token()?,
            previous_seeds: Vec::new(),
        };
        serde_json::to_string_pretty(&document).map_err(|e| KeyError::Malformed(e.to_string()))
    }

    /// Loads the key file at `path`, generating it (mode 0600) when it does not exist.
    pub fn load_or_generate(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(json) => return Self::from_json(&json),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io(err)),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let json = Self::generate_json()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(json.as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Self::from_json(&json)
            }
            // Another process generated it first: use theirs.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::from_json(&std::fs::read_to_string(path).map_err(io)?)
            }
            Err(err) => Err(io(err)),
        }
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        &self.keys[0]
    }

    /// Every live key (for verification and the JWKS).
    pub fn all(&self) -> &[SigningKey] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_matches_the_known_digest() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn random_tokens_are_long_and_distinct() -> Result<(), KeyError> {
        let (a, b) = (random_token()?, random_token()?);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        Ok(())
    }

    #[test]
    fn a_generated_key_file_is_reloaded_unchanged() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("keys/signing.json");
        let first = SigningKeys::load_or_generate(&path)?;
        let second = SigningKeys::load_or_generate(&path)?;
        assert_eq!(first.active().kid, second.active().kid);
        assert_eq!(first.active().public_key.len(), 32);
        assert!(
            !format!("{first:?}").contains(&URL_SAFE_NO_PAD.encode(first.active().pkcs8_der()))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path)?.permissions().mode() & 0o777,
                0o600
            );
        }
        Ok(())
    }

    #[test]
    fn a_malformed_key_document_is_rejected() {
        assert!(SigningKeys::from_json("{}").is_err());
        assert!(SigningKeys::from_json(r#"{"seed":"short"}"#).is_err());
        assert!(
            SigningKeys::from_json(
                r#"{"seed":"0123456789abcdef0123456789abcdef","previous_seeds":["x"]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn previous_seeds_stay_verifiable_after_a_rotation() -> Result<(), KeyError> {
        let old = "an old seed that is long enough to be accepted";
        let new = "a new seed that is long enough to be accepted!";
        let before = SigningKeys::from_json(&format!(r#"{{"seed":"{old}"}}"#))?;
        let after =
            SigningKeys::from_json(&format!(r#"{{"seed":"{new}","previous_seeds":["{old}"]}}"#))?;
        assert_ne!(after.active().kid, before.active().kid);
        assert_eq!(after.all()[1].kid, before.active().kid);
        Ok(())
    }
}
