//! NTLM (MS-NLMP), client side, connection-oriented, for `AUTH NTLM`.
//!
//! `AUTH NTLM <NEGOTIATE_MESSAGE>`, the server's `334 <CHALLENGE_MESSAGE>`,
//! then the client's AUTHENTICATE_MESSAGE. NTLMv2 (MS-NLMP §3.3.2) when the
//! challenge carries target information (which the NTLMv2 response embeds
//! and a v2 server always sends); NTLMv1 (§3.3.1, with the NTLM2 session
//! response when extended session security is negotiated) when it does not
//! (Exim's `spa` authenticator and other v1-only servers), or when
//! [`Credentials::ntlm_v1`] asks. JavaMail picks the same way.
//! No MIC, no key exchange: SMTP uses neither signing nor sealing.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use des::Des;
use des::cipher::{Array, BlockCipherEncrypt};
use hmac::{Hmac, KeyInit, Mac};
use md4::Md4;
use md5::{Digest, Md5};
use zeroize::Zeroizing;

use crate::{Credentials, Mechanism, SaslError, Secret};

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// Negotiate flags (MS-NLMP §2.2.2.5).
mod flags {
    pub(super) const UNICODE: u32 = 0x0000_0001;
    pub(super) const OEM: u32 = 0x0000_0002;
    pub(super) const REQUEST_TARGET: u32 = 0x0000_0004;
    pub(super) const NTLM: u32 = 0x0000_0200;
    pub(super) const OEM_DOMAIN_SUPPLIED: u32 = 0x0000_1000;
    pub(super) const OEM_WORKSTATION_SUPPLIED: u32 = 0x0000_2000;
    pub(super) const ALWAYS_SIGN: u32 = 0x0000_8000;
    pub(super) const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub(super) const TARGET_INFO: u32 = 0x0080_0000;
    pub(super) const VERSION: u32 = 0x0200_0000;
    pub(super) const N128: u32 = 0x2000_0000;
    pub(super) const N56: u32 = 0x8000_0000;
}

/// The flags sent when [`Credentials::ntlm_flags`] is `None`.
const DEFAULT_FLAGS: u32 = flags::UNICODE
    | flags::OEM
    | flags::REQUEST_TARGET
    | flags::NTLM
    | flags::ALWAYS_SIGN
    | flags::EXTENDED_SESSIONSECURITY
    | flags::TARGET_INFO
    | flags::N128
    | flags::N56;

/// The VERSION structure sent when the VERSION flag is negotiated: no
/// product version (it is for debugging only), NTLMSSP_REVISION_W2K3.
const VERSION: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 0x0f];

/// MsvAvTimestamp (MS-NLMP §2.2.2.1).
const MSV_AV_EOL: u16 = 0;
const MSV_AV_TIMESTAMP: u16 = 7;

/// 100 ns intervals from 1601-01-01 to 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// A parsed CHALLENGE_MESSAGE (MS-NLMP §2.2.1.2).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtlmChallenge {
    /// The server's negotiate flags.
    pub flags: u32,
    /// The 8-octet server challenge.
    pub server_challenge: [u8; 8],
    /// TargetName, raw (UTF-16LE or OEM, per the flags).
    pub target_name: Vec<u8>,
    /// TargetInfo, raw AV pairs (validated), empty if absent.
    pub target_info: Vec<u8>,
    /// MsvAvTimestamp from TargetInfo (FILETIME), if present.
    pub timestamp: Option<u64>,
}

/// NTLM (MS-NLMP): Microsoft's challenge-response, NTLMv2 unless
/// [`Credentials::ntlm_v1`].
#[derive(Debug)]
pub struct Ntlm {
    user: String,
    domain: String,
    workstation: String,
    password: Secret,
    flags: u32,
    v1: bool,
    state: State,
    client_challenge: Option<[u8; 8]>,
    timestamp: Option<u64>,
    inputs: Arc<dyn crate::Inputs>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    NegotiateSent,
    Done,
}

impl Ntlm {
    /// NTLM for these credentials: domain from [`Credentials::ntlm_domain`]
    /// (else a `DOMAIN\user` user name is split, else empty), workstation
    /// from [`Credentials::ntlm_workstation`], flags from
    /// [`Credentials::ntlm_flags`] (else UNICODE, OEM, REQUEST_TARGET, NTLM,
    /// ALWAYS_SIGN, EXTENDED_SESSIONSECURITY, TARGET_INFO, 128, 56).
    pub fn new(c: &Credentials) -> Ntlm {
        let (domain, user) = match (&c.ntlm_domain, c.user.split_once('\\')) {
            (Some(d), _) => (d.clone(), c.user.clone()),
            (None, Some((d, u))) => (d.to_owned(), u.to_owned()),
            (None, None) => (String::new(), c.user.clone()),
        };
        Ntlm {
            user,
            domain,
            workstation: c.ntlm_workstation.clone().unwrap_or_default(),
            password: c.password.clone(),
            flags: c.ntlm_flags.unwrap_or(DEFAULT_FLAGS),
            v1: c.ntlm_v1,
            inputs: crate::system_inputs(),
            state: State::Start,
            client_challenge: None,
            timestamp: None,
        }
    }

    /// Takes its client challenge and (when the server sends none) its
    /// timestamp from `inputs` (default [`SystemInputs`](crate::SystemInputs)).
    #[must_use]
    pub fn with_inputs(mut self, inputs: Arc<dyn crate::Inputs>) -> Ntlm {
        self.inputs = inputs;
        self
    }

    /// Uses this client challenge instead of a random one (tests and
    /// fuzzing only).
    #[doc(hidden)]
    #[must_use]
    pub fn with_client_challenge(mut self, client_challenge: [u8; 8]) -> Self {
        self.client_challenge = Some(client_challenge);
        self
    }

    /// Uses this time (FILETIME: 100 ns since 1601) when the server sends no
    /// MsvAvTimestamp, instead of the clock (tests and fuzzing only).
    #[doc(hidden)]
    #[must_use]
    pub fn with_timestamp(mut self, filetime: u64) -> Self {
        self.timestamp = Some(filetime);
        self
    }

    /// Parses a CHALLENGE_MESSAGE (type 2).
    ///
    /// # Errors
    /// [`SaslError::BadChallenge`] for a truncated message, a wrong
    /// signature or type, a security buffer outside the message, or
    /// malformed target information.
    #[doc(hidden)]
    pub fn parse_challenge(input: &[u8]) -> Result<NtlmChallenge, SaslError> {
        parse_challenge(input)
    }

    /// The NEGOTIATE_MESSAGE (type 1).
    fn negotiate(&self) -> Result<Vec<u8>, SaslError> {
        let mut f = self.flags;
        let domain = if f & flags::OEM_DOMAIN_SUPPLIED != 0 {
            oem(&self.domain)
        } else {
            Vec::new()
        };
        let workstation = if f & flags::OEM_WORKSTATION_SUPPLIED != 0 {
            oem(&self.workstation)
        } else {
            Vec::new()
        };
        if domain.is_empty() {
            f &= !flags::OEM_DOMAIN_SUPPLIED;
        }
        if workstation.is_empty() {
            f &= !flags::OEM_WORKSTATION_SUPPLIED;
        }
        let version = f & flags::VERSION != 0;
        let header = 32 + if version { 8 } else { 0 };
        let (fields, payload) = security_buffers(header, &[&domain, &workstation])?;
        let mut m = Vec::with_capacity(header + payload.len());
        m.extend_from_slice(SIGNATURE);
        m.extend_from_slice(&1u32.to_le_bytes());
        m.extend_from_slice(&f.to_le_bytes());
        for field in &fields {
            m.extend_from_slice(field);
        }
        if version {
            m.extend_from_slice(&VERSION);
        }
        m.extend_from_slice(&payload);
        Ok(m)
    }

    /// The AUTHENTICATE_MESSAGE (type 3) answering `challenge`.
    fn authenticate(&self, challenge: &NtlmChallenge) -> Result<Vec<u8>, SaslError> {
        let mut f = challenge.flags & self.flags;
        if challenge.flags & flags::UNICODE != 0 && self.flags & flags::UNICODE != 0 {
            f = (f | flags::UNICODE) & !flags::OEM;
        } else {
            f = (f | flags::OEM) & !flags::UNICODE;
        }
        f |= flags::NTLM;
        f &= !(flags::OEM_DOMAIN_SUPPLIED | flags::OEM_WORKSTATION_SUPPLIED);
        let encode = |s: &str| {
            if f & flags::UNICODE != 0 {
                utf16le(s)
            } else {
                oem(s)
            }
        };

        let client_challenge = match self.client_challenge {
            Some(c) => c,
            None => {
                let mut c = [0u8; 8];
                self.inputs.fill_random(&mut c)?;
                c
            }
        };
        // A challenge without target information is from a server that
        // cannot verify NTLMv2 (its flags do not ask for it): answer v1.
        let v1 = self.v1
            || challenge.flags & flags::TARGET_INFO == 0
            || challenge.target_info.is_empty();
        let (lm, nt) = if v1 {
            let nt_hash = nt_hash(self.password.expose());
            if f & flags::EXTENDED_SESSIONSECURITY != 0 {
                ntlm2_session_response(&nt_hash, &challenge.server_challenge, &client_challenge)
            } else {
                let nt = desl(&nt_hash, &challenge.server_challenge).to_vec();
                // NoLMResponseNTLMv1: the LM field repeats the NT response
                // rather than expose the LM hash.
                (nt.clone(), nt)
            }
        } else {
            if challenge.target_info.len() > usize::from(u16::MAX) - 48 {
                return Err(bad("target information too long for an NTLMv2 response"));
            }
            let key = ntowf_v2(self.password.expose(), &self.user, &self.domain)?;
            let time = match (challenge.timestamp, self.timestamp) {
                (Some(t), _) | (None, Some(t)) => t,
                (None, None) => filetime(self.inputs.now()),
            };
            let nt = ntlmv2_response(
                &key,
                &challenge.server_challenge,
                &client_challenge,
                time,
                &challenge.target_info,
            )?;
            // §3.3.2: with an MsvAvTimestamp the LM response is Z(24).
            let lm = if challenge.timestamp.is_some() {
                vec![0; 24]
            } else {
                lmv2_response(&key, &challenge.server_challenge, &client_challenge)?
            };
            (lm, nt)
        };

        let version = f & flags::VERSION != 0;
        let header = 64 + if version { 8 } else { 0 };
        let domain = encode(&self.domain);
        let user = encode(&self.user);
        let workstation = encode(&self.workstation);
        // Payload order as Windows lays it out; header order per §2.2.1.3.
        let (fields, payload) =
            security_buffers(header, &[&domain, &user, &workstation, &lm, &nt, &[]])?;
        let [f_domain, f_user, f_workstation, f_lm, f_nt, f_key] = fields.as_slice() else {
            return Err(SaslError::Credentials("NTLM message layout".into()));
        };
        let mut m = Vec::with_capacity(header + payload.len());
        m.extend_from_slice(SIGNATURE);
        m.extend_from_slice(&3u32.to_le_bytes());
        for field in [f_lm, f_nt, f_domain, f_user, f_workstation, f_key] {
            m.extend_from_slice(field);
        }
        m.extend_from_slice(&f.to_le_bytes());
        if version {
            m.extend_from_slice(&VERSION);
        }
        m.extend_from_slice(&payload);
        Ok(m)
    }
}

impl Mechanism for Ntlm {
    fn name(&self) -> &str {
        "NTLM"
    }

    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        let m = self.negotiate()?;
        self.state = State::NegotiateSent;
        Ok(Some(m))
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        match self.state {
            // The server asked for the initial response (empty 334).
            State::Start if challenge.is_empty() => {
                let m = self.negotiate()?;
                self.state = State::NegotiateSent;
                Ok(m)
            }
            State::Start | State::NegotiateSent => {
                self.state = State::Done;
                let parsed = parse_challenge(challenge)?;
                self.authenticate(&parsed)
            }
            State::Done => Err(SaslError::UnexpectedStep("NTLM has one challenge")),
        }
    }
}

fn bad(why: &str) -> SaslError {
    SaslError::BadChallenge(format!("NTLM: {why}"))
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// OEM code page strings: ISO 8859-1, `?` for anything beyond.
fn oem(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

fn le_u16(input: &[u8], at: usize) -> Result<u16, SaslError> {
    let bytes = input
        .get(at..at.checked_add(2).ok_or_else(|| bad("truncated"))?)
        .ok_or_else(|| bad("truncated"))?;
    Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
}

fn le_u32(input: &[u8], at: usize) -> Result<u32, SaslError> {
    let bytes = input
        .get(at..at.checked_add(4).ok_or_else(|| bad("truncated"))?)
        .ok_or_else(|| bad("truncated"))?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The payload a security buffer (Len, MaxLen, Offset) at `at` points to.
/// An empty buffer's offset is not checked (servers send 0).
fn security_buffer(input: &[u8], at: usize) -> Result<&[u8], SaslError> {
    let len = usize::from(le_u16(input, at)?);
    let offset = le_u32(input, at.checked_add(4).ok_or_else(|| bad("truncated"))?)?;
    if len == 0 {
        return Ok(&[]);
    }
    let start = usize::try_from(offset).map_err(|_| bad("security buffer offset out of range"))?;
    let end = start
        .checked_add(len)
        .ok_or_else(|| bad("security buffer length overflows"))?;
    input
        .get(start..end)
        .ok_or_else(|| bad("security buffer points past the end of the message"))
}

fn parse_challenge(input: &[u8]) -> Result<NtlmChallenge, SaslError> {
    if input.len() < 32 {
        return Err(bad("CHALLENGE_MESSAGE shorter than 32 octets"));
    }
    if !input.starts_with(SIGNATURE) {
        return Err(bad("no NTLMSSP signature"));
    }
    if le_u32(input, 8)? != 2 {
        return Err(bad("not a CHALLENGE_MESSAGE (type 2)"));
    }
    let target_name = security_buffer(input, 12)?;
    let flags = le_u32(input, 20)?;
    let mut server_challenge = [0u8; 8];
    server_challenge.copy_from_slice(input.get(24..32).ok_or_else(|| bad("truncated"))?);

    // TargetInfoFields (at 40) exist if the server says so, the message is
    // long enough, and the target name does not start inside them (old
    // servers end the header after the 8 reserved octets, or at 32).
    let target_name_offset = if target_name.is_empty() {
        usize::MAX
    } else {
        le_u32(input, 16)? as usize
    };
    let target_info =
        if flags & flags::TARGET_INFO != 0 && input.len() >= 48 && target_name_offset >= 48 {
            security_buffer(input, 40)?
        } else {
            &[]
        };
    let timestamp = parse_av_pairs(target_info)?;
    Ok(NtlmChallenge {
        flags,
        server_challenge,
        target_name: target_name.to_vec(),
        target_info: target_info.to_vec(),
        timestamp,
    })
}

/// Walks the AV pairs up to MsvAvEOL (or the end), bounds-checking every
/// pair; returns MsvAvTimestamp.
fn parse_av_pairs(info: &[u8]) -> Result<Option<u64>, SaslError> {
    let mut pos = 0usize;
    let mut timestamp = None;
    while pos < info.len() {
        let id = le_u16(info, pos).map_err(|_| bad("truncated AV pair"))?;
        let len = usize::from(le_u16(info, pos + 2).map_err(|_| bad("truncated AV pair"))?);
        let start = pos + 4;
        let end = start
            .checked_add(len)
            .ok_or_else(|| bad("AV pair length overflows"))?;
        let value = info
            .get(start..end)
            .ok_or_else(|| bad("AV pair runs past the target information"))?;
        pos = end;
        match id {
            MSV_AV_EOL => break,
            MSV_AV_TIMESTAMP => {
                let t: [u8; 8] = value
                    .try_into()
                    .map_err(|_| bad("MsvAvTimestamp is not 8 octets"))?;
                if timestamp.replace(u64::from_le_bytes(t)).is_some() {
                    return Err(bad("repeated MsvAvTimestamp"));
                }
            }
            _ => {}
        }
    }
    Ok(timestamp)
}

/// Lays out payloads after a header of `header` octets: one 8-octet
/// security buffer field per payload, and the concatenated payload.
fn security_buffers(
    header: usize,
    payloads: &[&[u8]],
) -> Result<(Vec<[u8; 8]>, Vec<u8>), SaslError> {
    let mut fields = Vec::with_capacity(payloads.len());
    let mut payload = Vec::new();
    for p in payloads {
        let len = u16::try_from(p.len())
            .map_err(|_| SaslError::Credentials("NTLM field longer than 65535 octets".into()))?;
        let offset = header
            .checked_add(payload.len())
            .and_then(|o| u32::try_from(o).ok())
            .ok_or_else(|| SaslError::Credentials("NTLM message too long".into()))?;
        let mut field = [0u8; 8];
        field[0..2].copy_from_slice(&len.to_le_bytes());
        field[2..4].copy_from_slice(&len.to_le_bytes());
        field[4..8].copy_from_slice(&offset.to_le_bytes());
        fields.push(field);
        payload.extend_from_slice(p);
    }
    Ok((fields, payload))
}

/// `time` as a Windows FILETIME (100 ns units since 1601).
fn filetime(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    since
        .as_secs()
        .saturating_mul(10_000_000)
        .saturating_add(u64::from(since.subsec_nanos() / 100))
        .saturating_add(FILETIME_UNIX_EPOCH)
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 16], SaslError> {
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key)
        .map_err(|e| SaslError::Credentials(e.to_string()))?;
    for p in parts {
        mac.update(p);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// NTOWFv1: MD4(UTF-16LE(password)).
fn nt_hash(password: &str) -> Zeroizing<[u8; 16]> {
    let unicode = Zeroizing::new(utf16le(password));
    Zeroizing::new(Md4::digest(unicode.as_slice()).into())
}

/// NTOWFv2: HMAC-MD5(NTOWFv1, UTF-16LE(UPPER(user) + domain)).
fn ntowf_v2(password: &str, user: &str, domain: &str) -> Result<Zeroizing<[u8; 16]>, SaslError> {
    let identity = utf16le(&(user.to_uppercase() + domain));
    Ok(Zeroizing::new(hmac_md5(
        nt_hash(password).as_ref(),
        &[&identity],
    )?))
}

/// The NTLMv2 NtChallengeResponse: NTProofStr followed by `temp`
/// (MS-NLMP §3.3.2).
fn ntlmv2_response(
    key: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    time: u64,
    target_info: &[u8],
) -> Result<Vec<u8>, SaslError> {
    let mut temp = Vec::with_capacity(32 + target_info.len());
    temp.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    temp.extend_from_slice(&time.to_le_bytes());
    temp.extend_from_slice(client_challenge);
    temp.extend_from_slice(&[0; 4]);
    temp.extend_from_slice(target_info);
    temp.extend_from_slice(&[0; 4]);
    let proof = hmac_md5(key, &[server_challenge, &temp])?;
    Ok([proof.as_slice(), &temp].concat())
}

/// LMv2: HMAC-MD5(key, server challenge ‖ client challenge) ‖ client
/// challenge.
fn lmv2_response(
    key: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
) -> Result<Vec<u8>, SaslError> {
    let proof = hmac_md5(key, &[server_challenge, client_challenge])?;
    Ok([proof.as_slice(), client_challenge].concat())
}

/// NTLMv1 with extended session security: (LM, NT) = (client challenge ‖
/// Z(16), DESL(NT hash, MD5(server ‖ client)[..8])).
fn ntlm2_session_response(
    nt_hash: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
) -> (Vec<u8>, Vec<u8>) {
    let digest = Md5::new()
        .chain_update(server_challenge)
        .chain_update(client_challenge)
        .finalize();
    let mut session = [0u8; 8];
    session.copy_from_slice(&digest[..8]);
    let mut lm = client_challenge.to_vec();
    lm.extend_from_slice(&[0; 16]);
    (lm, desl(nt_hash, &session).to_vec())
}

/// DESL (MS-NLMP §6): the key padded to 21 octets, three DES encryptions.
fn desl(key: &[u8; 16], data: &[u8; 8]) -> [u8; 24] {
    let mut k = Zeroizing::new([0u8; 21]);
    k[..16].copy_from_slice(key);
    let mut out = [0u8; 24];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        let mut key7 = [0u8; 7];
        key7.copy_from_slice(&k[i * 7..i * 7 + 7]);
        chunk.copy_from_slice(&des_encrypt(&key7, data));
    }
    out
}

/// DES-encrypts one block with a 56-bit key spread over 8 octets (parity
/// bits ignored).
fn des_encrypt(key7: &[u8; 7], data: &[u8; 8]) -> [u8; 8] {
    let k = key7;
    let key = [
        k[0],
        (k[0] << 7) | (k[1] >> 1),
        (k[1] << 6) | (k[2] >> 2),
        (k[2] << 5) | (k[3] >> 3),
        (k[3] << 4) | (k[4] >> 4),
        (k[4] << 3) | (k[5] >> 5),
        (k[5] << 2) | (k[6] >> 6),
        k[6] << 1,
    ];
    let cipher = Des::new(&Array::from(key));
    let mut block = Array::from(*data);
    cipher.encrypt_block(&mut block);
    block.into()
}

/// Fuzzing entry point: asserts the parser's and the mechanism's
/// invariants on arbitrary server bytes. Panics on a violation.
#[doc(hidden)]
pub fn fuzz_ntlm_challenge(data: &[u8]) {
    let parsed = parse_challenge(data);
    // The mechanism fails exactly when the parser does.
    let mut m = Ntlm::new(&Credentials::new("user", Secret::new("pencil")))
        .with_client_challenge([0xaa; 8])
        .with_timestamp(0);
    assert!(matches!(m.initial_response(), Ok(Some(_))));
    // 48 octets of NTLMv2 response around the target info must fit in 16 bits.
    let too_long = |c: &NtlmChallenge| c.target_info.len() > 65_535 - 48;
    match (m.respond(data), &parsed) {
        (Ok(message), Ok(_)) => assert!(buffers_inside(&message, 3, &[12, 20, 28, 36, 44, 52])),
        (Err(SaslError::BadChallenge(_)), Err(_)) => {}
        (Err(SaslError::BadChallenge(_)), Ok(c)) if too_long(c) => {}
        (response, parsed) => panic!("respond {response:?} but parse {parsed:?}"),
    }
    assert!(matches!(m.respond(data), Err(SaslError::UnexpectedStep(_))));

    let Ok(challenge) = parsed else { return };
    assert!(challenge.target_name.len() <= data.len());
    assert!(challenge.target_info.len() <= data.len());
    for (v1, flags) in [
        (false, None),
        (true, None),
        (true, Some(u32::MAX)),
        (false, Some(u32::MAX)),
        (true, Some(0)),
    ] {
        let mut c = Credentials::new("User", Secret::new("Password"));
        c.ntlm_domain = Some("Domain".into());
        c.ntlm_workstation = Some("COMPUTER".into());
        c.ntlm_v1 = v1;
        c.ntlm_flags = flags;
        let m = Ntlm::new(&c)
            .with_client_challenge([0xaa; 8])
            .with_timestamp(0);
        let negotiate = m.negotiate();
        assert!(matches!(&negotiate, Ok(n) if buffers_inside(n, 1, &[16, 24])));
        match m.authenticate(&challenge) {
            Ok(message) => assert!(buffers_inside(&message, 3, &[12, 20, 28, 36, 44, 52])),
            // Only NTLMv2 with a target info too long to fit the NT
            // response's 16-bit length.
            Err(e) => {
                assert!(matches!(e, SaslError::BadChallenge(_)) && too_long(&challenge) && !v1)
            }
        }
    }
}

/// `message` has the signature, type `kind`, and every security buffer at
/// `fields` inside it.
fn buffers_inside(message: &[u8], kind: u32, fields: &[usize]) -> bool {
    message.starts_with(SIGNATURE)
        && le_u32(message, 8).is_ok_and(|k| k == kind)
        && fields
            .iter()
            .all(|&at| match (le_u16(message, at), le_u32(message, at + 4)) {
                (Ok(len), Ok(offset)) => (offset as usize)
                    .checked_add(usize::from(len))
                    .is_some_and(|end| end <= message.len()),
                _ => false,
            })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    // MS-NLMP §4.2.1 common values.
    const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];

    fn spec_credentials(v1: bool) -> Credentials {
        let mut c = Credentials::new("User", Secret::new("Password"));
        c.ntlm_domain = Some("Domain".into());
        c.ntlm_workstation = Some("COMPUTER".into());
        c.ntlm_v1 = v1;
        c
    }

    /// §4.2.4.3's TargetInfo: MsvAvNbDomainName "Domain", MsvAvNbComputerName
    /// "Server", MsvAvEOL.
    fn spec_target_info() -> Vec<u8> {
        unhex("02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000")
    }

    /// A CHALLENGE_MESSAGE: header of 56 octets (with version), target
    /// name "Server", then target info.
    fn challenge_message(flags: u32, target_info: &[u8]) -> Vec<u8> {
        let name = utf16le("Server");
        let mut m = SIGNATURE.to_vec();
        m.extend_from_slice(&2u32.to_le_bytes());
        m.extend_from_slice(&(name.len() as u16).to_le_bytes());
        m.extend_from_slice(&(name.len() as u16).to_le_bytes());
        m.extend_from_slice(&56u32.to_le_bytes());
        m.extend_from_slice(&flags.to_le_bytes());
        m.extend_from_slice(&SERVER_CHALLENGE);
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&(target_info.len() as u16).to_le_bytes());
        m.extend_from_slice(&(target_info.len() as u16).to_le_bytes());
        m.extend_from_slice(&((56 + name.len()) as u32).to_le_bytes());
        m.extend_from_slice(&[6, 0, 0x70, 0x17, 0, 0, 0, 0x0f]);
        m.extend_from_slice(&name);
        m.extend_from_slice(target_info);
        m
    }

    /// Exim's `spa` authenticator verifies only NTLMv1 and its challenge
    /// does not ask for v2 (flags 0x00008201: UNICODE, NTLM, ALWAYS_SIGN;
    /// no TARGET_INFO, no extended session security): the answer is a
    /// 24-octet NTLMv1 response, not a v2 blob, without being told.
    #[test]
    fn a_challenge_without_target_info_gets_ntlmv1() {
        let challenge = challenge_message(0x0000_8201, &[]);
        let message = Ntlm::new(&spec_credentials(false))
            .with_client_challenge(CLIENT_CHALLENGE)
            .authenticate(&parse_challenge(&challenge).unwrap())
            .unwrap();
        let nt = security_buffer(&message, 20).unwrap();
        assert_eq!(nt.len(), 24, "NTLMv1 response");
        // The same server asked for v2 (TARGET_INFO with a list): v2.
        let challenge = challenge_message(DEFAULT_FLAGS, &[0; 4]);
        let message = Ntlm::new(&spec_credentials(false))
            .with_client_challenge(CLIENT_CHALLENGE)
            .authenticate(&parse_challenge(&challenge).unwrap())
            .unwrap();
        assert!(
            security_buffer(&message, 20).unwrap().len() > 24,
            "NTLMv2 response"
        );
    }

    fn bad_challenge(input: &[u8]) -> bool {
        matches!(
            Ntlm::parse_challenge(input),
            Err(SaslError::BadChallenge(_))
        )
    }

    /// The AUTHENTICATE_MESSAGE with the NegotiateFlags (60..64), the
    /// EncryptedRandomSessionKey field (52..60) and the Version (64..72)
    /// masked: we negotiate no key exchange and send no product version.
    fn masked(m: &[u8]) -> Vec<u8> {
        let mut m = m.to_vec();
        m[52..72].fill(0);
        m
    }

    #[test]
    fn spec_4_2_2_ntlmv1() {
        assert_eq!(
            hex(nt_hash("Password").as_ref()),
            "a4f49c406510bdcab6824ee7c30fd852"
        );
        assert_eq!(
            hex(&desl(&nt_hash("Password"), &SERVER_CHALLENGE)),
            "67c43011f30298a2ad35ece64f16331c44bdbed927841f94"
        );
        // The whole AUTHENTICATE_MESSAGE of §4.2.2.3 but for the LM
        // response (we repeat the NT response instead of sending LMv1
        // 98def7b8…), the session key and the flags.
        let challenge = challenge_message(0xe202_8233 | flags::VERSION, &[]);
        let mut c = spec_credentials(true);
        c.ntlm_flags = Some(0xe202_8233);
        let mut m = Ntlm::new(&c).with_client_challenge(CLIENT_CHALLENGE);
        m.initial_response().unwrap();
        let message = m.respond(&challenge).unwrap();
        let spec = unhex(
            "4e544c4d5353500003000000180018006c00000018001800840000000c000c00
             480000000800080054000000100010005c000000100010009c000000358280e2
             0501280a0000000f44006f006d00610069006e00550073006500720043004f00
             4d005000550054004500520098def7b87f88aa5dafe2df779688a172def11c7d
             5ccdef1367c43011f30298a2ad35ece64f16331c44bdbed927841f94",
        );
        let mut expected = masked(&spec);
        let lm_at = 0x6c;
        expected[lm_at..lm_at + 24]
            .copy_from_slice(&unhex("67c43011f30298a2ad35ece64f16331c44bdbed927841f94"));
        assert_eq!(hex(&masked(&message)), hex(&expected));
        assert_eq!(
            le_u32(&message, 60).unwrap() & flags::EXTENDED_SESSIONSECURITY,
            0
        );
    }

    #[test]
    fn spec_4_2_3_ntlmv1_extended_session_security() {
        let (lm, nt) =
            ntlm2_session_response(&nt_hash("Password"), &SERVER_CHALLENGE, &CLIENT_CHALLENGE);
        assert_eq!(hex(&lm), "aaaaaaaaaaaaaaaa00000000000000000000000000000000");
        assert_eq!(hex(&nt), "7537f803ae367128ca458204bde7caf81e97ed2683267232");
        // §4.2.3.3's CHALLENGE_MESSAGE, verbatim.
        let challenge = unhex(
            "4e544c4d53535000020000000c000c003800000033820a820123456789abcdef
             00000000000000000000000000000000060070170000000f530065007200760065007200",
        );
        let parsed = parse_challenge(&challenge).unwrap();
        assert_eq!(parsed.flags, 0x820a_8233);
        assert_eq!(parsed.server_challenge, SERVER_CHALLENGE);
        assert_eq!(parsed.target_name, utf16le("Server"));
        assert!(parsed.target_info.is_empty());
        let mut c = spec_credentials(true);
        c.ntlm_flags = Some(0x820a_8233);
        let mut m = Ntlm::new(&c).with_client_challenge(CLIENT_CHALLENGE);
        m.initial_response().unwrap();
        let message = m.respond(&challenge).unwrap();
        // §4.2.3.3's AUTHENTICATE_MESSAGE, but the masked fields.
        let spec = unhex(
            "4e544c4d5353500003000000180018006c00000018001800840000000c000c00
             480000000800080054000000100010005c000000000000009c00000035820882
             0501280a0000000f44006f006d00610069006e00550073006500720043004f00
             4d0050005500540045005200aaaaaaaaaaaaaaaa000000000000000000000000
             000000007537f803ae367128ca458204bde7caf81e97ed2683267232",
        );
        assert_eq!(hex(&masked(&message)), hex(&masked(&spec)));
        assert_ne!(
            le_u32(&message, 60).unwrap() & flags::EXTENDED_SESSIONSECURITY,
            0
        );
    }

    #[test]
    fn spec_4_2_4_ntlmv2() {
        let key = ntowf_v2("Password", "User", "Domain").unwrap();
        assert_eq!(hex(key.as_ref()), "0c868a403bfd7a93a3001ef22ef02e3f");
        let nt = ntlmv2_response(
            &key,
            &SERVER_CHALLENGE,
            &CLIENT_CHALLENGE,
            0,
            &spec_target_info(),
        )
        .unwrap();
        assert_eq!(hex(&nt[..16]), "68cd0ab851e51c96aabc927bebef6a1c");
        assert_eq!(
            hex(&lmv2_response(&key, &SERVER_CHALLENGE, &CLIENT_CHALLENGE).unwrap()),
            "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"
        );
        // §4.2.4.3's CHALLENGE_MESSAGE (flags e28a8233), and its
        // AUTHENTICATE_MESSAGE but the masked fields and the encrypted
        // session key (no key exchange).
        let challenge = challenge_message(0xe28a_8233, &spec_target_info());
        let parsed = parse_challenge(&challenge).unwrap();
        assert_eq!(parsed.target_info, spec_target_info());
        assert_eq!(parsed.timestamp, None);
        let mut c = spec_credentials(false);
        c.ntlm_flags = Some(0xe28a_8233);
        let mut m = Ntlm::new(&c)
            .with_client_challenge(CLIENT_CHALLENGE)
            .with_timestamp(0);
        m.initial_response().unwrap();
        let message = m.respond(&challenge).unwrap();
        let spec = unhex(
            "4e544c4d5353500003000000180018006c00000054005400840000000c000c00
             480000000800080054000000100010005c00000010001000d8000000358288e2
             0501280a0000000f44006f006d00610069006e00550073006500720043004f00
             4d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaa
             aaaaaaaa68cd0ab851e51c96aabc927bebef6a1c010100000000000000000000
             00000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e00
             01000c005300650072007600650072000000000000000000c5dad2544fc97990
             94ce1ce90bc9d03e",
        );
        let spec_without_key = &spec[..spec.len() - 16];
        assert_eq!(hex(&masked(&message)), hex(&masked(spec_without_key)));
        assert!(m.respond(&challenge).is_err());
    }

    #[test]
    fn ntlmv2_with_server_timestamp() {
        // MsvAvTimestamp is used instead of the clock, and LM is Z(24).
        let mut info = unhex("07000800");
        info.extend_from_slice(&0x01d0_0000_0000_0000u64.to_le_bytes());
        info.extend_from_slice(&spec_target_info());
        let challenge = challenge_message(DEFAULT_FLAGS, &info);
        assert_eq!(
            parse_challenge(&challenge).unwrap().timestamp,
            Some(0x01d0_0000_0000_0000)
        );
        let m = Ntlm::new(&spec_credentials(false))
            .with_client_challenge(CLIENT_CHALLENGE)
            .with_timestamp(5);
        let message = m
            .authenticate(&parse_challenge(&challenge).unwrap())
            .unwrap();
        let lm = security_buffer(&message, 12).unwrap();
        assert_eq!(lm, [0; 24]);
        let nt = security_buffer(&message, 20).unwrap();
        assert_eq!(&nt[24..32], &0x01d0_0000_0000_0000u64.to_le_bytes());
        assert_eq!(&nt[44..44 + info.len()], info.as_slice());
        assert_eq!(&nt[44 + info.len()..], &[0; 4]);
        // Without timestamp nor injection, the clock: after 2020. (The
        // target info is just MsvAvEOL: without any, the answer is v1.)
        let m = Ntlm::new(&spec_credentials(false));
        let message = m
            .authenticate(&parse_challenge(&challenge_message(DEFAULT_FLAGS, &[0; 4])).unwrap())
            .unwrap();
        let nt = security_buffer(&message, 20).unwrap();
        let time = u64::from_le_bytes(nt[24..32].try_into().unwrap());
        assert!(time > 132_223_104_000_000_000);
    }

    #[test]
    fn negotiate_message() {
        let mut m = Ntlm::new(&Credentials::new("u", Secret::new("p")));
        assert_eq!(m.name(), "NTLM");
        let n = m.initial_response().unwrap().unwrap();
        assert_eq!(&n[..8], SIGNATURE);
        assert_eq!(le_u32(&n, 8).unwrap(), 1);
        assert_eq!(le_u32(&n, 12).unwrap(), DEFAULT_FLAGS);
        assert_eq!(n.len(), 32);
        // An empty 334 first asks for it.
        let mut m = Ntlm::new(&Credentials::new("u", Secret::new("p")));
        assert_eq!(m.respond(b"").unwrap(), n);
        // With VERSION and OEM domain/workstation supplied.
        let mut c = spec_credentials(false);
        c.ntlm_flags = Some(
            DEFAULT_FLAGS
                | flags::VERSION
                | flags::OEM_DOMAIN_SUPPLIED
                | flags::OEM_WORKSTATION_SUPPLIED,
        );
        let n = Ntlm::new(&c).negotiate().unwrap();
        assert_eq!(&n[32..40], &VERSION);
        assert_eq!(security_buffer(&n, 16).unwrap(), b"Domain");
        assert_eq!(security_buffer(&n, 24).unwrap(), b"COMPUTER");
    }

    #[test]
    fn domain_from_user_name_and_oem_fallback() {
        let m = Ntlm::new(&Credentials::new("CORP\\alice", Secret::new("p")));
        assert_eq!((m.domain.as_str(), m.user.as_str()), ("CORP", "alice"));
        // A server without UNICODE gets OEM strings.
        let challenge = parse_challenge(&challenge_message(flags::OEM | flags::NTLM, &[])).unwrap();
        let message = m
            .with_client_challenge(CLIENT_CHALLENGE)
            .with_timestamp(0)
            .authenticate(&challenge)
            .unwrap();
        assert_eq!(security_buffer(&message, 28).unwrap(), b"CORP");
        assert_eq!(security_buffer(&message, 36).unwrap(), b"alice");
        let f = le_u32(&message, 60).unwrap();
        assert_eq!(f & (flags::UNICODE | flags::OEM), flags::OEM);
        assert!(!format!("{:?}", Ntlm::new(&spec_credentials(false))).contains("Password"));
    }

    #[test]
    fn old_short_challenges() {
        // 32 octets: no context, no target info.
        let mut m = challenge_message(flags::UNICODE | flags::NTLM, &[]);
        m.truncate(32);
        m[12..20].fill(0);
        let c = parse_challenge(&m).unwrap();
        assert!(c.target_name.is_empty() && c.target_info.is_empty());
        // Target name right after the 8 reserved octets, TARGET_INFO flag
        // set: the octets at 40 are the name, not target info fields.
        let mut m = challenge_message(flags::UNICODE | flags::NTLM | flags::TARGET_INFO, &[]);
        m.truncate(40);
        m[16..20].copy_from_slice(&40u32.to_le_bytes());
        m.extend_from_slice(&utf16le("Server"));
        let c = parse_challenge(&m).unwrap();
        assert_eq!(c.target_name, utf16le("Server"));
        assert!(c.target_info.is_empty());
    }

    #[test]
    fn malformed_challenges() {
        let good = challenge_message(DEFAULT_FLAGS, &spec_target_info());
        assert!(parse_challenge(&good).is_ok());
        // Truncated at every length before the payload ends.
        for n in 0..good.len() {
            assert!(bad_challenge(&good[..n]), "{n}");
        }
        // Wrong signature, wrong type.
        let mut m = good.clone();
        m[0] = b'X';
        assert!(bad_challenge(&m));
        let mut m = good.clone();
        m[8] = 3;
        assert!(bad_challenge(&m));
        // Offsets past the end, lengths overflowing, huge lengths.
        let mut m = good.clone();
        m[16..20].copy_from_slice(&(good.len() as u32).to_le_bytes());
        assert!(bad_challenge(&m));
        let mut m = good.clone();
        m[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(bad_challenge(&m));
        let mut m = good.clone();
        m[40..42].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(bad_challenge(&m));
        let mut m = good.clone();
        m[12..14].copy_from_slice(&u16::MAX.to_le_bytes());
        m[16..20].copy_from_slice(&(u32::MAX - 10).to_le_bytes());
        assert!(bad_challenge(&m));
        // AV pairs: truncated header, value past the end, bad timestamp.
        for info in [
            &b"\x02\x00"[..],
            b"\x02\x00\x10\x00abc",
            b"\x07\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        ] {
            assert!(
                bad_challenge(&challenge_message(DEFAULT_FLAGS, info)),
                "{info:?}"
            );
        }
        let mut twice = unhex("07000800 0000000000000000 07000800 0000000000000000 00000000");
        assert!(bad_challenge(&challenge_message(DEFAULT_FLAGS, &twice)));
        // Past EOL, anything goes.
        twice.splice(0..0, [0, 0, 0, 0]);
        assert!(parse_challenge(&challenge_message(DEFAULT_FLAGS, &twice)).is_ok());
        // The mechanism reports the same errors.
        let mut mech = Ntlm::new(&spec_credentials(false));
        mech.initial_response().unwrap();
        assert!(matches!(
            mech.respond(b"NTLMSSP\0"),
            Err(SaslError::BadChallenge(_))
        ));
        assert!(matches!(
            mech.respond(&good),
            Err(SaslError::UnexpectedStep(_))
        ));
    }

    #[test]
    fn oversized_target_info_is_a_typed_error() {
        // 65488 octets of target info do not fit the NT response's length.
        let mut info = Vec::new();
        while info.len() < 65_535 - 47 {
            info.extend_from_slice(&[1, 0, 0xf0, 0x0f]);
            info.resize(info.len() + 0x0ff0, b'x');
        }
        info.truncate(65_535 - 47);
        let challenge = NtlmChallenge {
            flags: DEFAULT_FLAGS,
            server_challenge: SERVER_CHALLENGE,
            target_name: Vec::new(),
            target_info: info,
            timestamp: None,
        };
        let m = Ntlm::new(&spec_credentials(false))
            .with_client_challenge(CLIENT_CHALLENGE)
            .with_timestamp(0);
        assert!(matches!(
            m.authenticate(&challenge),
            Err(SaslError::BadChallenge(_))
        ));
        let mut fits = challenge.clone();
        fits.target_info.truncate(65_535 - 48);
        let message = m.authenticate(&fits).unwrap();
        assert_eq!(security_buffer(&message, 20).unwrap().len(), 65_535);
        // NTLMv1 ignores target information.
        let mut c = spec_credentials(true);
        c.ntlm_v1 = true;
        assert!(
            Ntlm::new(&c)
                .with_client_challenge(CLIENT_CHALLENGE)
                .authenticate(&challenge)
                .is_ok()
        );
    }

    #[test]
    fn fuzz_corpus_and_regressions_replay() {
        // The committed cargo-fuzz seeds and crash artifacts, on stable.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut replayed = 0;
        for dir in [
            root.join("corpus/ntlm_challenge"),
            root.join("regressions/ntlm_challenge"),
        ] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| fuzz_ntlm_challenge(&data));
                assert!(outcome.is_ok(), "invariant failed on {}", path.display());
                replayed += 1;
            }
        }
        assert!(replayed > 0, "no corpus for ntlm_challenge");
    }

    #[test]
    fn fuzz_harness_seeds() {
        fuzz_ntlm_challenge(&challenge_message(DEFAULT_FLAGS, &spec_target_info()));
        fuzz_ntlm_challenge(&challenge_message(u32::MAX, &[]));
        fuzz_ntlm_challenge(b"NTLMSSP\0");
        fuzz_ntlm_challenge(b"");
    }

    /// Challenge-shaped input: a valid header with random fields and tail.
    fn challenge_like() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<[u8; 8]>(),
            any::<u32>(),
            any::<[u8; 8]>(),
            any::<[u8; 8]>(),
            proptest::collection::vec(any::<u8>(), 0..200),
            any::<bool>(),
        )
            .prop_map(|(name, flags, info, version, tail, small)| {
                let mut m = SIGNATURE.to_vec();
                m.extend_from_slice(&2u32.to_le_bytes());
                let mut name = name;
                let mut info = info;
                if small {
                    // Keep offsets and lengths within reach of the tail.
                    name[0] %= 64;
                    name[1] = 0;
                    name[4] %= 128;
                    name[5..8].fill(0);
                    info[0] %= 64;
                    info[1] = 0;
                    info[4] %= 128;
                    info[5..8].fill(0);
                }
                m.extend_from_slice(&name);
                m.extend_from_slice(&flags.to_le_bytes());
                m.extend_from_slice(&SERVER_CHALLENGE);
                m.extend_from_slice(&[0; 8]);
                m.extend_from_slice(&info);
                m.extend_from_slice(&version);
                m.extend_from_slice(&tail);
                m
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            fuzz_ntlm_challenge(&bytes);
        }

        #[test]
        fn challenge_like_bytes_never_panic(bytes in challenge_like()) {
            fuzz_ntlm_challenge(&bytes);
        }

        #[test]
        fn av_pairs_never_panic(info in proptest::collection::vec(any::<u8>(), 0..300)) {
            fuzz_ntlm_challenge(&challenge_message(DEFAULT_FLAGS, &info));
        }
    }
}
