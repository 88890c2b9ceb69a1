//! Signed checkpoints in the C2SP `tlog-checkpoint` signed-note format, Ed25519 via `ring`.
//!
//! A checkpoint commits to a chain's size and root; the export of these notes outside the
//! database is what catches a rewritten or truncated history. This module must never put the
//! private key in `Debug`, `Display` or an error, and never accept a note without checking its
//! signature against the configured verifier key.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::digest::{Context, SHA256};
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::AuditError;
use crate::entry::ChainId;
use crate::merkle::Hash;

/// The signature type byte of Ed25519 in C2SP signed notes.
const ED25519_TYPE: u8 = 0x01;
/// The em dash that starts a signature line.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// A new Ed25519 signing key as PKCS#8 (v2) bytes. Store it like any other key file.
pub fn generate_signing_key() -> Result<Vec<u8>, AuditError> {
    let document =
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| AuditError::InvalidKey)?;
    Ok(document.as_ref().to_vec())
}

/// C2SP key id: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key).
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut ctx = Context::new(&SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[ED25519_TYPE]);
    ctx.update(public_key);
    let digest = ctx.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(&digest.as_ref()[..4]);
    id
}

/// A signed-note key name: non-empty, no whitespace, no `+`.
fn check_name(name: &str) -> Result<(), AuditError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(AuditError::InvalidKey);
    }
    Ok(())
}

/// The checkpoint signing key and the name it signs under.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    name: String,
    key_id: [u8; 4],
}

impl SigningKey {
    /// Loads a PKCS#8 Ed25519 key; `name` is the signer name in signature lines (by convention
    /// the log's origin prefix, e.g. `wijkhub.example.nl/audit`).
    pub fn from_pkcs8(name: &str, pkcs8: &[u8]) -> Result<SigningKey, AuditError> {
        check_name(name)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| AuditError::InvalidKey)?;
        let public = public_bytes(&pair)?;
        Ok(SigningKey {
            key_id: key_id(name, &public),
            name: name.to_owned(),
            pair,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, for publishing and for `verify`.
    pub fn verifier_key(&self) -> VerifierKey {
        let public = public_bytes(&self.pair).unwrap_or([0u8; 32]);
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            public,
        }
    }

    /// Signs a checkpoint: the note text, ready to store and export.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        let signature = self.pair.sign(body.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(signature.as_ref());
        format!(
            "{body}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            B64.encode(blob)
        )
    }
}

fn public_bytes(pair: &Ed25519KeyPair) -> Result<[u8; 32], AuditError> {
    pair.public_key()
        .as_ref()
        .try_into()
        .map_err(|_| AuditError::InvalidKey)
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, ***)", self.name)
    }
}

/// A public verifier key; its text form is the C2SP verifier key
/// `<name>+<hex key id>+<base64(0x01 || public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: [u8; 4],
    public: [u8; 32],
}

impl VerifierKey {
    pub fn parse(text: &str) -> Result<VerifierKey, AuditError> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(AuditError::InvalidKey);
        };
        check_name(name)?;
        let key = B64.decode(key_b64).map_err(|_| AuditError::InvalidKey)?;
        let (Some(&ED25519_TYPE), Ok(public)) =
            (key.first(), <[u8; 32]>::try_from(&key[1.min(key.len())..]))
        else {
            return Err(AuditError::InvalidKey);
        };
        let key_id = key_id(name, &public);
        if hex::encode(key_id) != id_hex {
            return Err(AuditError::InvalidKey);
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            key_id,
            public,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// Checks a note's signature by this key and parses its checkpoint body.
    pub fn verify_note(&self, note: &str) -> Result<Checkpoint, NoteError> {
        let (body, signatures) = split_note(note)?;
        let checkpoint = Checkpoint::parse_body(body)?;
        let mut seen_ours = false;
        for line in signatures {
            let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
                return Err(NoteError::Malformed("signature line"));
            };
            let Some((name, blob_b64)) = rest.split_once(' ') else {
                return Err(NoteError::Malformed("signature line"));
            };
            let blob = B64
                .decode(blob_b64)
                .map_err(|_| NoteError::Malformed("signature base64"))?;
            if name != self.name || blob.len() < 4 || blob[..4] != self.key_id {
                continue; // Someone else's signature (a witness): not ours to judge.
            }
            seen_ours = true;
            UnparsedPublicKey::new(&ED25519, &self.public)
                .verify(body.as_bytes(), &blob[4..])
                .map_err(|_| NoteError::BadSignature)?;
        }
        if !seen_ours {
            return Err(NoteError::NoSignature);
        }
        Ok(checkpoint)
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = vec![ED25519_TYPE];
        key.extend_from_slice(&self.public);
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            B64.encode(key)
        )
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

/// Why a note was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("no signature by the verifier key")]
    NoSignature,
    #[error("signature does not verify")]
    BadSignature,
}

/// Splits a note into its body (with the final newline) and its signature lines.
fn split_note(note: &str) -> Result<(&str, Vec<&str>), NoteError> {
    let Some(split) = note.find("\n\n") else {
        return Err(NoteError::Malformed("no blank line before signatures"));
    };
    let body = &note[..split + 1];
    let rest = &note[split + 2..];
    let Some(rest) = rest.strip_suffix('\n') else {
        return Err(NoteError::Malformed("note must end with a newline"));
    };
    let signatures: Vec<&str> = rest.split('\n').collect();
    if signatures.is_empty() || signatures.iter().any(|line| line.is_empty()) {
        return Err(NoteError::Malformed("signature lines"));
    }
    Ok((body, signatures))
}

/// A checkpoint: origin, tree size, root hash (C2SP `tlog-checkpoint`, no extension lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The origin of a chain: `<prefix>/<chain id>`.
    pub fn origin_for(prefix: &str, chain: ChainId) -> String {
        format!("{prefix}/{chain}")
    }

    /// The chain id at the end of the origin line.
    pub fn chain(&self) -> Option<ChainId> {
        let (_, id) = self.origin.rsplit_once('/')?;
        uuid::Uuid::parse_str(id).ok().map(ChainId::from_uuid)
    }

    /// The signed text: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.tree_size,
            B64.encode(self.root)
        )
    }

    fn parse_body(body: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = body.strip_suffix('\n').unwrap_or(body).split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(NoteError::Malformed("checkpoint body"));
        };
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let tree_size = size
            .parse::<u64>()
            .ok()
            .filter(|_| size_ok)
            .ok_or(NoteError::Malformed("tree size"))?;
        let root = B64
            .decode(root)
            .ok()
            .and_then(|bytes| <Hash>::try_from(bytes.as_slice()).ok())
            .ok_or(NoteError::Malformed("root hash"))?;
        if origin.is_empty() {
            return Err(NoteError::Malformed("origin"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            tree_size,
            root,
        })
    }
}

/// Parses notes from an export file: notes one after another, each followed by one blank line.
/// Returns each note's text with its 1-based starting line number.
pub fn split_export(text: &str) -> Vec<(usize, String)> {
    let mut notes = Vec::new();
    let mut current = String::new();
    let mut start_line = 1usize;
    let mut in_signatures = false;
    for (line_idx, line) in text.split_inclusive('\n').enumerate() {
        if current.is_empty() {
            if line == "\n" {
                continue;
            }
            start_line = line_idx + 1;
        }
        if line == "\n" {
            if in_signatures {
                notes.push((start_line, std::mem::take(&mut current)));
                in_signatures = false;
                continue;
            }
            in_signatures = true;
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        notes.push((start_line, current));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        let pkcs8 = generate_signing_key().unwrap_or_default();
        SigningKey::from_pkcs8("wijkhub.test/audit", &pkcs8).unwrap_or_else(|_| unreachable!())
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "wijkhub.test/audit/0190c5c4-0000-7000-8000-000000000000".into(),
            tree_size: 7,
            root: [7u8; 32],
        }
    }

    #[test]
    fn sign_and_verify() {
        let key = key();
        let note = key.sign(&checkpoint());
        let verifier = VerifierKey::parse(&key.verifier_key().to_string());
        assert_eq!(verifier.as_ref().ok(), Some(&key.verifier_key()));
        assert_eq!(key.verifier_key().verify_note(&note), Ok(checkpoint()));
    }

    #[test]
    fn forged_and_altered_notes_are_refused() {
        let key = key();
        let other = self::key();
        let note = key.sign(&checkpoint());
        let altered = note.replacen("\n7\n", "\n8\n", 1);
        assert_eq!(
            key.verifier_key().verify_note(&altered),
            Err(NoteError::BadSignature)
        );
        // Same name, other key: the key id differs, so the note carries no signature of ours.
        let forged = other.sign(&checkpoint());
        assert_eq!(
            key.verifier_key().verify_note(&forged),
            Err(NoteError::NoSignature)
        );
        // Our key id with another key's signature bytes.
        let mut lines: Vec<String> = note.lines().map(str::to_owned).collect();
        let their_sig = forged
            .lines()
            .last()
            .unwrap_or_default()
            .rsplit_once(' ')
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        let mut blob = B64.decode(their_sig).unwrap_or_default();
        blob[..4].copy_from_slice(&key.key_id);
        let last = lines.len() - 1;
        lines[last] = format!("{SIGNATURE_PREFIX}{} {}", key.name, B64.encode(blob));
        let spliced = lines.join("\n") + "\n";
        assert_eq!(
            key.verifier_key().verify_note(&spliced),
            Err(NoteError::BadSignature)
        );
    }

    #[test]
    fn export_files_split_into_notes() {
        let key = key();
        let a = key.sign(&checkpoint());
        let b = key.sign(&Checkpoint {
            tree_size: 9,
            ..checkpoint()
        });
        let text = format!("{a}\n{b}\n");
        let notes = split_export(&text);
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0], (1, a.clone()));
        assert_eq!(notes[1], (7, b));
    }
}
