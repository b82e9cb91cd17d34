//! Reading Janus `.mjr` recordings: the JSON header (codec, created `s`, first packet written
//! `u`) and a structural walk of the packet records, so that a truncated or corrupt file is
//! named as such before any tool runs on it, and its RTP clock's leaps are found (see
//! [`super::leap`]); [`reanchor`] writes the copy with those leaps taken out. The format
//! (version 2): `MJR00002`, a u16 BE header length, the JSON header; then records of `MEET`,
//! u32 BE milliseconds since the first packet was written, u16 BE length, and that many bytes
//! of RTP.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::Deserialize;

use super::leap::{Leap, Reanchor};
use crate::timestamp::Timestamp;

/// The first bytes of a version 2 recording.
pub(crate) const MAGIC_V2: &[u8; 8] = b"MJR00002";
const MAGIC_PREFIX: &[u8; 5] = b"MJR00";
/// The first bytes of every packet record.
pub(crate) const RECORD_MAGIC: &[u8; 4] = b"MEET";
/// No RTP packet a recorder writes is larger than this (Janus buffers are 1500 bytes; the
/// margin covers extensions). A bigger length means the record is corrupt.
const MAX_PACKET: usize = 16 * 1024;
const RTP_HEADER: usize = 12;
/// How much of a packet after its fixed header is read to find its header extensions: 15
/// CSRCs and an extension block of a few elements fit.
const MAX_EXTENSION_READ: usize = 256;
/// 9999-12-31T23:59:59.999999Z in microseconds since the epoch: no header time is later.
const LAST_TIME_US: i64 = 253_402_300_799_999_999;

/// The media kind in the header's `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Video,
    Audio,
    Data,
}

/// The codec of a recorded video track (the `.mjr` header's `c`) that recproc converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackCodec {
    Vp8,
    Vp9,
    H264,
    Av1,
}

impl TrackCodec {
    /// The container janus-pp-rec writes for this codec (1.1.2 writes AV1 to MP4 only).
    pub fn container_extension(self) -> &'static str {
        match self {
            TrackCodec::Vp8 | TrackCodec::Vp9 => "webm",
            TrackCodec::H264 | TrackCodec::Av1 => "mp4",
        }
    }
}

/// The codec of a recorded audio track (the `.mjr` header's `c`) that recproc converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceCodec {
    Opus,
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    G722,
}

impl VoiceCodec {
    /// The container janus-pp-rec writes for this codec as recorded (what split mode
    /// delivers): Ogg Opus, or WAV.
    pub fn container_extension(self) -> &'static str {
        match self {
            VoiceCodec::Opus => "opus",
            VoiceCodec::Pcmu | VoiceCodec::Pcma | VoiceCodec::G722 => "wav",
        }
    }

    /// The container janus-pp-rec writes for this codec to be mixed, and the ffmpeg format
    /// it is read as: one that keeps every packet's time. An Ogg page dates only its last
    /// packet, so in janus-pp-rec's `.opus` the packets before a silence of the sender that
    /// share a page with the first after it are read as if they came after the silence;
    /// Matroska dates each packet. janus-pp-rec's WAV has the silence written out.
    pub fn mix_container(self) -> (&'static str, &'static str) {
        match self {
            VoiceCodec::Opus => ("mka", "matroska"),
            VoiceCodec::Pcmu | VoiceCodec::Pcma | VoiceCodec::G722 => ("wav", "wav"),
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawHeader {
    t: String,
    c: String,
    s: i64,
    u: i64,
    /// The RTP header extensions the track was recorded with: ID → URI (read only when it
    /// is an object of that shape).
    #[serde(default)]
    x: serde_json::Value,
}

/// The URI of the video-orientation (CVO) RTP header extension.
const VIDEO_ORIENTATION: &str = "urn:3gpp:video-orientation";

/// The parsed header of a `.mjr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    /// The codec as the header names it (`vp8`, `h264`, `opus`, …).
    pub codec: String,
    /// When the recorder was created.
    pub created: Timestamp,
    /// When the first packet was written.
    pub first_packet: Timestamp,
    /// The ID the video-orientation extension has in the packets (the header's `x`).
    pub orientation_id: Option<u8>,
}

impl Header {
    /// The rate of the track's RTP clock, when recproc knows it: 90 kHz for video, 48 kHz for
    /// Opus, 8 kHz for G.711 and G.722.
    pub fn clock_rate(&self) -> Option<u32> {
        match (self.kind, self.codec.as_str()) {
            (Kind::Video, _) => Some(90_000),
            (Kind::Audio, "opus" | "multiopus") => Some(48_000),
            (Kind::Audio, "pcmu" | "pcma" | "g722") => Some(8_000),
            _ => None,
        }
    }

    /// The video codec, or an error naming what the file holds instead.
    pub fn video_codec(&self) -> Result<TrackCodec, MjrError> {
        if self.kind != Kind::Video {
            return Err(MjrError::NotThatKind {
                kind: self.kind.as_str(),
                expected: Kind::Video.as_str(),
            });
        }
        match self.codec.as_str() {
            "vp8" => Ok(TrackCodec::Vp8),
            "vp9" => Ok(TrackCodec::Vp9),
            "h264" => Ok(TrackCodec::H264),
            "av1" => Ok(TrackCodec::Av1),
            other => Err(MjrError::UnsupportedCodec {
                kind: "video",
                codec: other.to_owned(),
                supported: "vp8, vp9, h264 and av1",
            }),
        }
    }

    /// The audio codec, or an error naming what the file holds instead.
    pub fn voice_codec(&self) -> Result<VoiceCodec, MjrError> {
        if self.kind != Kind::Audio {
            return Err(MjrError::NotThatKind {
                kind: self.kind.as_str(),
                expected: Kind::Audio.as_str(),
            });
        }
        match self.codec.as_str() {
            "opus" => Ok(VoiceCodec::Opus),
            "pcmu" => Ok(VoiceCodec::Pcmu),
            "pcma" => Ok(VoiceCodec::Pcma),
            "g722" => Ok(VoiceCodec::G722),
            other => Err(MjrError::UnsupportedCodec {
                kind: "audio",
                codec: other.to_owned(),
                supported: "opus, pcmu, pcma and g722",
            }),
        }
    }
}

impl Kind {
    /// `video`, `audio` or `data`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Video => "video",
            Kind::Audio => "audio",
            Kind::Data => "data",
        }
    }
}

/// What a full walk of the file found.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub header: Header,
    pub packets: u64,
    /// Milliseconds after the first packet at which the last one was written.
    pub last_packet_ms: u32,
    /// Where the RTP clock leapt, in file order (none for a track of unknown clock rate).
    pub leaps: Vec<Leap>,
    /// The signalled rotation (clockwise degrees: 0, 90, 180, 270) from the first packet on
    /// and where it changes: (seconds of media after the first packet, by the re-anchored
    /// RTP timestamps, degrees). Empty when the track carries no video-orientation extension.
    pub rotations: Vec<(f64, u16)>,
    /// An audio track's packets, in seconds of media after the first (re-anchored RTP
    /// timestamps), in file order: where its sender went quiet. Empty for video, whose frames
    /// ffprobe lists.
    pub audio_times: Vec<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MjrError {
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
    #[error("not a Janus recording: it does not start with MJR00002")]
    NotMjr,
    #[error(
        "an old-format recording ({0}): only MJR00002 files (Janus 0.7.3 and later) are supported"
    )]
    OldVersion(String),
    #[error("the header is cut short: the file ends inside it")]
    TruncatedHeader,
    #[error("the JSON header is invalid: {0}")]
    BadHeader(String),
    #[error("holds {kind}, not {expected}")]
    NotThatKind {
        kind: &'static str,
        expected: &'static str,
    },
    #[error("{kind} codec {codec:?} is not supported ({supported} are)")]
    UnsupportedCodec {
        kind: &'static str,
        codec: String,
        supported: &'static str,
    },
    #[error("truncated: packet {index} at byte {offset} is cut short (the file ends {missing} bytes early)")]
    Truncated {
        index: u64,
        offset: u64,
        missing: u64,
    },
    #[error("corrupt at byte {offset} (packet {index}): {what}")]
    Corrupt {
        index: u64,
        offset: u64,
        what: String,
    },
    #[error("holds no packets: nothing was recorded")]
    Empty,
}

/// Parses the header bytes that follow the magic and length.
pub(crate) fn parse_header(json: &[u8]) -> Result<Header, MjrError> {
    let raw: RawHeader =
        serde_json::from_slice(json).map_err(|e| MjrError::BadHeader(e.to_string()))?;
    let kind = match raw.t.as_str() {
        "v" => Kind::Video,
        "a" => Kind::Audio,
        "d" => Kind::Data,
        other => {
            return Err(MjrError::BadHeader(format!(
                "unknown media type t={other:?}"
            )))
        }
    };
    if raw.u < raw.s || raw.s <= 0 {
        return Err(MjrError::BadHeader(format!(
            "first packet time u={} is before creation time s={}",
            raw.u, raw.s
        )));
    }
    if raw.u > LAST_TIME_US {
        return Err(MjrError::BadHeader(format!(
            "first packet time u={} is after the year 9999",
            raw.u
        )));
    }
    let orientation_id = raw
        .x
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, uri)| uri.as_str() == Some(VIDEO_ORIENTATION))
        .find_map(|(id, _)| id.parse::<u8>().ok().filter(|&id| id > 0));
    Ok(Header {
        kind,
        codec: raw.c,
        created: Timestamp::from_micros(raw.s),
        first_packet: Timestamp::from_micros(raw.u),
        orientation_id,
    })
}

/// Reads the header and walks every packet record of the file at `path`.
pub(crate) fn inspect(path: &Path) -> Result<Inspection, MjrError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    inspect_reader(BufReader::new(file), len)
}

/// [`inspect`] over any seekable reader of `len` bytes.
pub fn inspect_reader<R: Read + Seek>(mut r: R, len: u64) -> Result<Inspection, MjrError> {
    let header_len = read_magic(&mut r, len)?;
    let mut json = vec![0u8; header_len as usize];
    r.read_exact(&mut json)?;
    let header = parse_header(&json)?;

    let mut clock = header.clock_rate().map(Reanchor::new);
    let mut offset = 10 + header_len;
    let mut packets = 0u64;
    let mut last_packet_ms = 0u32;
    let cvo = header.orientation_id.filter(|_| header.kind == Kind::Video);
    let mut rotations = Rotations::default();
    let mut audio = (header.kind == Kind::Audio)
        .then(|| header.clock_rate())
        .flatten()
        .map(|rate| (MediaClock::default(), f64::from(rate)));
    let mut audio_times = Vec::new();
    while offset < len {
        let record = read_record(&mut r, (packets, offset, len - offset), cvo)?;
        let timestamp = match &mut clock {
            Some(clock) => clock.next(record.ms, record.ssrc, record.timestamp),
            None => record.timestamp,
        };
        rotations.next(timestamp, record.rotation);
        if let Some((clock, rate)) = &mut audio {
            audio_times.push(clock.ticks(timestamp) as f64 / *rate);
        }
        last_packet_ms = last_packet_ms.max(record.ms);
        packets += 1;
        offset += 10 + record.size;
    }
    if packets == 0 {
        return Err(MjrError::Empty);
    }
    Ok(Inspection {
        header,
        packets,
        last_packet_ms,
        leaps: clock.map(Reanchor::into_leaps).unwrap_or_default(),
        rotations: rotations.changes,
        audio_times,
    })
}

/// Media time along a track's RTP timestamps, in file order: ticks since the first packet,
/// across the 32-bit wrap.
#[derive(Debug, Default)]
struct MediaClock {
    /// The last timestamp and the ticks up to it.
    last: Option<(u32, i64)>,
}

impl MediaClock {
    /// The ticks from the first packet to one stamped `timestamp`.
    fn ticks(&mut self, timestamp: u32) -> i64 {
        let (last, ticks) = self.last.get_or_insert((timestamp, 0));
        // A step back (reordering) is a small negative difference, not a wrap.
        *ticks += i64::from(timestamp.wrapping_sub(*last) as i32);
        *last = timestamp;
        *ticks
    }
}

/// The rotation a track signals over time, from its packets in file order.
#[derive(Debug, Default)]
struct Rotations {
    /// Media time since the first packet (90 kHz ticks).
    clock: MediaClock,
    changes: Vec<(f64, u16)>,
}

impl Rotations {
    fn next(&mut self, timestamp: u32, rotation: Option<u16>) {
        let ticks = self.clock.ticks(timestamp);
        let Some(degrees) = rotation else { return };
        let at = ticks as f64 / 90_000.0;
        match self.changes.last() {
            // A late packet (a retransmission) from before the last change says nothing new.
            Some(&(since, _)) if at < since => {}
            Some(&(_, current)) if current == degrees => {}
            _ => self.changes.push((at, degrees)),
        }
    }
}

/// The rotation in a video-orientation extension's byte: `0 0 0 0 C F R1 R0`, R1R0 in
/// quarter turns clockwise.
fn cvo_degrees(byte: u8) -> u16 {
    u16::from(byte & 0b11) * 90
}

/// The value of header extension `id` in `ext` (the extension block after the CSRCs:
/// profile, length in words, elements), in the one-byte (RFC 8285, `0xBEDE`) or two-byte
/// (`0x100x`) form; `None` when it is absent or the block is malformed.
fn extension(ext: &[u8], id: u8) -> Option<&[u8]> {
    let profile = u16::from_be_bytes([*ext.first()?, *ext.get(1)?]);
    let words = u16::from_be_bytes([*ext.get(2)?, *ext.get(3)?]) as usize;
    // As much of the block as was read (a long one is cut short, its first elements kept).
    let body = ext.get(4..(4 + words * 4).min(ext.len()))?;
    let two_byte = profile & 0xfff0 == 0x1000;
    if profile != 0xBEDE && !two_byte {
        return None;
    }
    let mut i = 0;
    while i < body.len() {
        let (element, len, start) = match two_byte {
            false => {
                let b = body[i];
                match b >> 4 {
                    0 => {
                        i += 1; // padding
                        continue;
                    }
                    15 => return None,
                    e => (e, usize::from(b & 0x0f) + 1, i + 1),
                }
            }
            true => {
                let e = body[i];
                if e == 0 {
                    i += 1;
                    continue;
                }
                (e, usize::from(*body.get(i + 1)?), i + 2)
            }
        };
        let value = body.get(start..start + len)?;
        if element == id {
            return Some(value);
        }
        i = start + len;
    }
    None
}

/// Copies the recording read from `r` to `w` with its RTP timestamps re-anchored where the
/// clock leapt (see [`super::leap`]); every other byte is kept, so the copy is as long as the
/// original and janus-pp-rec reads it the same way, but for the leaps. Returns the leaps.
pub fn reanchor<R: Read, W: Write>(mut r: R, mut w: W) -> Result<Vec<Leap>, MjrError> {
    let (head, json, header) = read_head(&mut r)?;
    w.write_all(&head)?;
    w.write_all(&json)?;
    let Some(rate) = header.clock_rate() else {
        io::copy(&mut r, &mut w)?;
        return Ok(Vec::new());
    };
    let mut clock = Reanchor::new(rate);
    let mut offset = 10 + json.len() as u64;
    let mut packet = Vec::with_capacity(MAX_PACKET);
    for index in 0u64.. {
        let mut record = [0u8; 10];
        match fill(&mut r, &mut record)? {
            0 => break,
            n if n < record.len() => {
                let missing = (record.len() - n) as u64;
                return Err(MjrError::Truncated {
                    index,
                    offset,
                    missing,
                });
            }
            _ => {}
        }
        let size = u16::from_be_bytes([record[8], record[9]]) as usize;
        packet.resize(size, 0);
        if &record[..4] != RECORD_MAGIC || size < RTP_HEADER {
            let what = "not a packet record".to_owned();
            return Err(MjrError::Corrupt {
                index,
                offset,
                what,
            });
        }
        let got = fill(&mut r, &mut packet)?;
        if got < size {
            let missing = (size - got) as u64;
            return Err(MjrError::Truncated {
                index,
                offset,
                missing,
            });
        }
        let ms = u32::from_be_bytes([record[4], record[5], record[6], record[7]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let timestamp = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let anchored = clock.next(ms, ssrc, timestamp);
        packet[4..8].copy_from_slice(&anchored.to_be_bytes());
        w.write_all(&record)?;
        w.write_all(&packet)?;
        offset += 10 + size as u64;
    }
    w.flush()?;
    Ok(clock.into_leaps())
}

/// The magic and length, the JSON header's bytes, and the header they say.
fn read_head<R: Read>(r: &mut R) -> Result<([u8; 10], Vec<u8>, Header), MjrError> {
    let mut head = [0u8; 10];
    if fill(r, &mut head)? < head.len() || &head[..8] != MAGIC_V2 {
        return Err(MjrError::NotMjr);
    }
    let mut json = vec![0u8; u16::from_be_bytes([head[8], head[9]]) as usize];
    if fill(r, &mut json)? < json.len() {
        return Err(MjrError::TruncatedHeader);
    }
    let header = parse_header(&json)?;
    Ok((head, json, header))
}

/// Reads into `buf` until it is full or the input ends; returns how much was read.
fn fill<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Checks the magic of a file of `len` bytes; returns the length of its JSON header, which
/// follows.
fn read_magic<R: Read>(r: &mut R, len: u64) -> Result<u64, MjrError> {
    let mut magic = [0u8; 8];
    if len < 10 {
        return Err(if len >= 5 && read_prefix_is_mjr(r)? {
            MjrError::TruncatedHeader
        } else {
            MjrError::NotMjr
        });
    }
    r.read_exact(&mut magic)?;
    if &magic != MAGIC_V2 {
        if magic.starts_with(MAGIC_PREFIX) {
            return Err(MjrError::OldVersion(
                String::from_utf8_lossy(&magic).into_owned(),
            ));
        }
        return Err(MjrError::NotMjr);
    }
    let mut two = [0u8; 2];
    r.read_exact(&mut two)?;
    let header_len = u16::from_be_bytes(two) as u64;
    if 10 + header_len > len {
        return Err(MjrError::TruncatedHeader);
    }
    Ok(header_len)
}

/// What a packet record says, as the walk needs it.
struct Record {
    /// When it was written, in milliseconds after the first packet.
    ms: u32,
    /// Its packet's size in bytes.
    size: u64,
    ssrc: u32,
    /// Its RTP timestamp.
    timestamp: u32,
    /// The rotation its video-orientation extension signals, if it carries one.
    rotation: Option<u16>,
}

/// Reads packet record `index` at `offset`, `remaining` bytes before the end of the file,
/// and skips its payload.
fn read_record<R: Read + Seek>(
    r: &mut R,
    (index, offset, remaining): (u64, u64, u64),
    cvo: Option<u8>,
) -> Result<Record, MjrError> {
    let mut record = [0u8; 10];
    let mut rtp = [0u8; RTP_HEADER];
    if remaining < 10 {
        return Err(MjrError::Truncated {
            index,
            offset,
            missing: 10 - remaining,
        });
    }
    r.read_exact(&mut record)?;
    let corrupt = |what: String| MjrError::Corrupt {
        index,
        offset,
        what,
    };
    if &record[..4] != RECORD_MAGIC {
        let found = format!("expected a MEET record, found bytes {:02x?}", &record[..4]);
        return Err(corrupt(found));
    }
    let ms = u32::from_be_bytes([record[4], record[5], record[6], record[7]]);
    let size = u16::from_be_bytes([record[8], record[9]]) as usize;
    if !(RTP_HEADER..=MAX_PACKET).contains(&size) {
        let found = format!("a packet length of {size} bytes is not an RTP packet");
        return Err(corrupt(found));
    }
    if (size as u64) > remaining - 10 {
        return Err(MjrError::Truncated {
            index,
            offset,
            missing: size as u64 - (remaining - 10),
        });
    }
    r.read_exact(&mut rtp)?;
    if rtp[0] >> 6 != 2 {
        return Err(corrupt(format!("RTP version {} (expected 2)", rtp[0] >> 6)));
    }
    let mut read = RTP_HEADER;
    let mut rotation = None;
    // The extension block follows the CSRCs when the X bit is set.
    if let (Some(id), true) = (cvo, rtp[0] & 0x10 != 0) {
        let mut rest = vec![0u8; (size - RTP_HEADER).min(MAX_EXTENSION_READ)];
        r.read_exact(&mut rest)?;
        read += rest.len();
        let csrcs = usize::from(rtp[0] & 0x0f) * 4;
        rotation = rest
            .get(csrcs..)
            .and_then(|ext| extension(ext, id))
            .and_then(|v| v.first())
            .map(|&b| cvo_degrees(b));
    }
    r.seek(SeekFrom::Current((size - read) as i64))?;
    Ok(Record {
        ms,
        size: size as u64,
        ssrc: u32::from_be_bytes([rtp[8], rtp[9], rtp[10], rtp[11]]),
        timestamp: u32::from_be_bytes([rtp[4], rtp[5], rtp[6], rtp[7]]),
        rotation,
    })
}

fn read_prefix_is_mjr<R: Read>(r: &mut R) -> io::Result<bool> {
    let mut p = [0u8; 5];
    r.read_exact(&mut p)?;
    Ok(&p == MAGIC_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const HEADER: &str = r#"{"t": "v", "c": "vp8", "s": 1795461832734528, "u": 1795461832959518}"#;

    fn file(header: &str, packets: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = MAGIC_V2.to_vec();
        out.extend_from_slice(&(header.len() as u16).to_be_bytes());
        out.extend_from_slice(header.as_bytes());
        for (ms, p) in packets {
            out.extend_from_slice(RECORD_MAGIC);
            out.extend_from_slice(&ms.to_be_bytes());
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    fn rtp(len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x80;
        p
    }

    fn inspect_bytes(b: &[u8]) -> Result<Inspection, MjrError> {
        inspect_reader(Cursor::new(b), b.len() as u64)
    }

    #[test]
    fn reads_header_and_counts_packets() {
        let b = file(HEADER, &[(0, rtp(100)), (33, rtp(1200)), (66, rtp(12))]);
        let i = inspect_bytes(&b).unwrap();
        assert_eq!(i.packets, 3);
        assert_eq!(i.last_packet_ms, 66);
        assert_eq!(i.header.kind, Kind::Video);
        assert_eq!(i.header.video_codec().unwrap(), TrackCodec::Vp8);
        assert_eq!(i.header.first_packet.as_micros(), 1795461832959518);
        assert_eq!(i.header.created.as_micros(), 1795461832734528);
    }

    #[test]
    fn a_file_cut_inside_a_packet_is_truncated_naming_the_packet() {
        let mut b = file(HEADER, &[(0, rtp(100)), (33, rtp(200))]);
        b.truncate(b.len() - 50);
        let e = inspect_bytes(&b).unwrap_err();
        assert!(
            matches!(
                e,
                MjrError::Truncated {
                    index: 1,
                    missing: 50,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn a_file_cut_inside_a_record_header_is_truncated() {
        let mut b = file(HEADER, &[(0, rtp(100)), (33, rtp(200))]);
        b.truncate(b.len() - 205);
        assert!(matches!(
            inspect_bytes(&b).unwrap_err(),
            MjrError::Truncated { index: 1, .. }
        ));
    }

    #[test]
    fn a_file_cut_inside_the_header_says_so() {
        let b = file(HEADER, &[]);
        assert!(matches!(
            inspect_bytes(&b[..30]).unwrap_err(),
            MjrError::TruncatedHeader
        ));
        assert!(matches!(
            inspect_bytes(&b[..7]).unwrap_err(),
            MjrError::TruncatedHeader
        ));
    }

    #[test]
    fn garbage_between_records_is_corrupt_with_its_offset() {
        let mut b = file(HEADER, &[(0, rtp(100)), (33, rtp(200))]);
        let second = 10 + HEADER.len() + 10 + 100;
        b[second] = b'X';
        match inspect_bytes(&b).unwrap_err() {
            MjrError::Corrupt { index, offset, .. } => {
                assert_eq!(index, 1);
                assert_eq!(offset, second as u64);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_non_rtp_payload_is_corrupt() {
        let mut bad = rtp(40);
        bad[0] = 0x00;
        let b = file(HEADER, &[(0, bad)]);
        assert!(inspect_bytes(&b)
            .unwrap_err()
            .to_string()
            .contains("RTP version 0"));
    }

    #[test]
    fn other_files_are_not_mjr() {
        assert!(matches!(
            inspect_bytes(b"RIFF....WAVEfmt ").unwrap_err(),
            MjrError::NotMjr
        ));
        assert!(matches!(inspect_bytes(b"").unwrap_err(), MjrError::NotMjr));
        assert!(matches!(
            inspect_bytes(b"MJR00001xxxxxxxxxxxx").unwrap_err(),
            MjrError::OldVersion(_)
        ));
    }

    #[test]
    fn a_header_alone_is_empty() {
        assert!(matches!(
            inspect_bytes(&file(HEADER, &[])).unwrap_err(),
            MjrError::Empty
        ));
    }

    #[test]
    fn bad_json_header_is_named() {
        let e = inspect_bytes(&file("{\"t\": \"v\"", &[(0, rtp(20))])).unwrap_err();
        assert!(matches!(e, MjrError::BadHeader(_)), "{e:?}");
    }

    #[test]
    fn audio_and_unknown_codecs_are_refused_for_video() {
        let h = parse_header(br#"{"t":"a","c":"opus","s":1,"u":2}"#).unwrap();
        assert!(h.video_codec().unwrap_err().to_string().contains("audio"));
        // Janus 1.x records H.265; janus-pp-rec converts it, recproc does not render it.
        let h = parse_header(br#"{"t":"v","c":"h265","s":1,"u":2}"#).unwrap();
        let e = h.video_codec().unwrap_err();
        assert!(matches!(e, MjrError::UnsupportedCodec { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            r#"video codec "h265" is not supported (vp8, vp9, h264 and av1 are)"#
        );
    }

    #[test]
    fn each_video_codec_recproc_takes_has_the_container_janus_pp_rec_writes() {
        for (name, codec, ext) in [
            ("vp8", TrackCodec::Vp8, "webm"),
            ("vp9", TrackCodec::Vp9, "webm"),
            ("h264", TrackCodec::H264, "mp4"),
            ("av1", TrackCodec::Av1, "mp4"),
        ] {
            let json = format!(r#"{{"t":"v","c":"{name}","s":1,"u":2}}"#);
            let h = parse_header(json.as_bytes()).unwrap();
            assert_eq!(h.video_codec().unwrap(), codec, "{name}");
            assert_eq!(codec.container_extension(), ext, "{name}");
        }
    }

    #[test]
    fn first_packet_before_creation_is_a_bad_header() {
        assert!(parse_header(br#"{"t":"v","c":"vp8","s":10,"u":2}"#).is_err());
    }

    #[test]
    fn a_first_packet_after_the_year_9999_is_a_bad_header() {
        let h = |u: i64| format!(r#"{{"t":"v","c":"vp8","s":10,"u":{u}}}"#);
        let e = parse_header(h(i64::MAX).as_bytes()).unwrap_err();
        assert!(e.to_string().contains("after the year 9999"), "{e}");
        assert!(parse_header(h(LAST_TIME_US + 1).as_bytes()).is_err());
        let last = parse_header(h(LAST_TIME_US).as_bytes()).unwrap();
        assert_eq!(
            last.first_packet.to_iso_millis(),
            "9999-12-31T23:59:59.999Z"
        );
    }

    /// An RTP packet of `len` bytes with `ts` and `ssrc`.
    fn rtp_at(ts: u32, ssrc: u32, len: usize) -> Vec<u8> {
        let mut p = rtp(len);
        p[1] = 96;
        p[4..8].copy_from_slice(&ts.to_be_bytes());
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        for (i, b) in p[12..].iter_mut().enumerate() {
            *b = i as u8;
        }
        p
    }

    /// 20 s of 15 fps video, two packets a frame, whose clock leaps by `leap` ticks at 8 s.
    fn leaping_track(leap: u32) -> Vec<u8> {
        let packets: Vec<(u32, Vec<u8>)> = (0..300u32)
            .flat_map(|i| {
                let ms = i * 1000 / 15;
                let ts = 777 + i * 6000 + if i >= 120 { leap } else { 0 };
                [(ms, rtp_at(ts, 42, 300)), (ms, rtp_at(ts, 42, 80))]
            })
            .collect();
        file(HEADER, &packets)
    }

    /// (ms, ts) of every record of a file.
    fn times(b: &[u8]) -> Vec<(u32, u32)> {
        let mut at = 10 + u16::from_be_bytes([b[8], b[9]]) as usize;
        let mut out = Vec::new();
        while at < b.len() {
            let ms = u32::from_be_bytes(b[at + 4..at + 8].try_into().unwrap());
            let n = u16::from_be_bytes([b[at + 8], b[at + 9]]) as usize;
            let ts = u32::from_be_bytes(b[at + 14..at + 18].try_into().unwrap());
            out.push((ms, ts));
            at += 10 + n;
        }
        out
    }

    const SIX_HOURS: u32 = 6 * 3600 * 90_000;

    #[test]
    fn the_walk_finds_where_and_how_far_the_clock_leapt() {
        let i = inspect_bytes(&leaping_track(SIX_HOURS)).unwrap();
        assert_eq!(i.packets, 600);
        assert_eq!(i.leaps.len(), 1, "{:?}", i.leaps);
        assert_eq!(i.leaps[0].packet, 240);
        assert_eq!(i.leaps[0].at_ms, 8000);
        assert!((i.leaps[0].seconds - 21_600.0).abs() < 0.01);
        assert!(inspect_bytes(&leaping_track(0)).unwrap().leaps.is_empty());
    }

    #[test]
    fn the_re_anchored_copy_changes_only_the_timestamps_after_the_leap() {
        let original = leaping_track(SIX_HOURS);
        let mut copy = Vec::new();
        let leaps = reanchor(Cursor::new(&original), &mut copy).unwrap();
        assert_eq!(leaps, inspect_bytes(&original).unwrap().leaps);
        assert_eq!(copy.len(), original.len());
        let header = 10 + HEADER.len();
        assert_eq!(copy[..header], original[..header]);
        let (before, after) = (times(&original), times(&copy));
        let steady = times(&leaping_track(0));
        for k in 0..before.len() {
            assert_eq!(after[k].0, before[k].0, "arrival times are kept");
            if k < 240 {
                assert_eq!(after[k].1, before[k].1, "record {k} precedes the leap");
            } else {
                let off = after[k].1.wrapping_sub(steady[k].1) as i32;
                assert!(off.abs() <= 180, "record {k} is {off} ticks off its place");
            }
        }
        // Every other byte is the original's.
        let differing = (0..copy.len()).filter(|&i| copy[i] != original[i]).count();
        assert!(differing <= 4 * 360, "{differing} bytes differ");
        assert!(inspect_bytes(&copy).unwrap().leaps.is_empty());
    }

    #[test]
    fn a_track_without_leaps_is_copied_byte_for_byte() {
        let original = leaping_track(0);
        let mut copy = Vec::new();
        assert!(reanchor(Cursor::new(&original), &mut copy)
            .unwrap()
            .is_empty());
        assert_eq!(copy, original);
    }

    #[test]
    fn a_track_of_unknown_clock_is_copied_as_is() {
        let header = r#"{"t": "d", "c": "text", "s": 1, "u": 2}"#;
        let original = file(
            header,
            &[(0, rtp_at(5, 1, 20)), (9, rtp_at(1 << 31, 1, 20))],
        );
        let mut copy = Vec::new();
        assert!(reanchor(Cursor::new(&original), &mut copy)
            .unwrap()
            .is_empty());
        assert_eq!(copy, original);
        assert!(inspect_bytes(&original).unwrap().leaps.is_empty());
    }

    #[test]
    fn re_anchoring_a_damaged_file_is_an_error() {
        let cut = |bytes: usize| {
            let mut b = leaping_track(SIX_HOURS);
            b.truncate(b.len() - bytes);
            reanchor(Cursor::new(&b), Vec::new()).unwrap_err()
        };
        // The last record is 10 + 80 bytes, the one before 10 + 300.
        let e = cut(5);
        assert!(
            matches!(
                e,
                MjrError::Truncated {
                    index: 599,
                    missing: 5,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = cut(86);
        assert!(
            matches!(
                e,
                MjrError::Truncated {
                    index: 599,
                    missing: 6,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = cut(90 + 295);
        assert!(
            matches!(
                e,
                MjrError::Truncated {
                    index: 598,
                    missing: 295,
                    ..
                }
            ),
            "{e:?}"
        );
        let mut b = leaping_track(SIX_HOURS);
        let last = b.len() - 90;
        b[last] = b'X';
        let e = reanchor(Cursor::new(&b), Vec::new()).unwrap_err();
        assert!(matches!(e, MjrError::Corrupt { index: 599, .. }), "{e:?}");
        let e = reanchor(Cursor::new(b"RIFF...."), Vec::new()).unwrap_err();
        assert!(matches!(e, MjrError::NotMjr), "{e:?}");
    }

    #[test]
    fn clock_rates_follow_the_kind_and_codec() {
        let rate = |json: &str| parse_header(json.as_bytes()).unwrap().clock_rate();
        assert_eq!(rate(r#"{"t":"v","c":"h264","s":1,"u":2}"#), Some(90_000));
        assert_eq!(rate(r#"{"t":"a","c":"opus","s":1,"u":2}"#), Some(48_000));
        assert_eq!(rate(r#"{"t":"a","c":"pcmu","s":1,"u":2}"#), Some(8_000));
        assert_eq!(rate(r#"{"t":"a","c":"l16","s":1,"u":2}"#), None);
        assert_eq!(rate(r#"{"t":"d","c":"text","s":1,"u":2}"#), None);
    }

    #[test]
    fn audio_codecs_are_named_and_others_refused_by_kind() {
        let header = |json: &str| parse_header(json.as_bytes()).unwrap();
        let opus = header(r#"{"t":"a","c":"opus","s":1,"u":2}"#);
        assert_eq!(opus.voice_codec().unwrap(), VoiceCodec::Opus);
        assert_eq!(VoiceCodec::Opus.container_extension(), "opus");
        let pcma = header(r#"{"t":"a","c":"pcma","s":1,"u":2}"#).voice_codec();
        assert_eq!(pcma.unwrap().container_extension(), "wav");
        let e = header(r#"{"t":"a","c":"isac","s":1,"u":2}"#)
            .voice_codec()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"audio codec "isac" is not supported (opus, pcmu, pcma and g722 are)"#
        );
        let e = header(HEADER).voice_codec().unwrap_err();
        assert_eq!(e.to_string(), "holds video, not audio");
        assert_eq!(
            opus.video_codec().unwrap_err().to_string(),
            "holds audio, not video"
        );
    }

    #[test]
    fn an_audio_walk_gives_each_packets_media_time_across_the_wrap() {
        // 20 ms Opus packets, the clock passing 2^32 after the second; then the sender
        // stops for a second (the clock runs on) and one packet comes late.
        let start = u32::MAX - 1500;
        let at = |n: u32| start.wrapping_add(n * 960);
        let packets = [
            (0, rtp_at(at(0), 7, 40)),
            (20, rtp_at(at(1), 7, 40)),
            (40, rtp_at(at(2), 7, 40)),
            (1060, rtp_at(at(53), 7, 40)),
            (1061, rtp_at(at(52), 7, 40)),
        ];
        let header = r#"{"t":"a","c":"opus","s":1795461832734528,"u":1795461832959518}"#;
        let i = inspect_bytes(&file(header, &packets)).unwrap();
        assert_eq!(i.audio_times, [0.0, 0.02, 0.04, 1.06, 1.04]);
        // Video's frame times come from ffprobe.
        let v = inspect_bytes(&file(HEADER, &[(0, rtp_at(5, 7, 40))])).unwrap();
        assert!(v.audio_times.is_empty());
    }

    /// An RTP packet at `ts` carrying, when given, a video-orientation byte under ID 3 (one-
    /// byte form, after a padding byte and another element), with `csrcs` CSRCs.
    fn rtp_cvo(ts: u32, cvo: Option<u8>, csrcs: u8) -> Vec<u8> {
        let mut p = rtp_at(ts, 42, 12);
        p[0] |= csrcs;
        p.extend(std::iter::repeat_n(0xcc, usize::from(csrcs) * 4));
        if let Some(byte) = cvo {
            p[0] |= 0x10;
            // Element 1 (two bytes), padding, element 3 (one byte): 5 bytes, two words.
            p.extend([
                0xBE, 0xDE, 0x00, 0x02, 0x11, 0xaa, 0xbb, 0x00, 0x30, byte, 0, 0,
            ]);
        }
        p.extend([0x90; 50]);
        p
    }

    #[test]
    fn the_rotation_is_read_from_the_video_orientation_extension() {
        let header = r#"{"t":"v","c":"vp8","x":{"1":"urn:ietf:params:rtp-hdrext:sdes:mid","3":"urn:3gpp:video-orientation"},"s":1,"u":2}"#;
        let packets = [
            (0, rtp_cvo(1000, None, 0)),
            (0, rtp_cvo(1000, Some(0b0000_0001), 0)),
            (33, rtp_cvo(1000 + 3000, Some(0b0000_1001), 2)),
            (66, rtp_cvo(1000 + 6000, None, 0)),
            (99, rtp_cvo(1000 + 180_000, Some(0b11), 0)),
            (99, rtp_cvo(1000 + 180_000, Some(0b11), 15)),
            (132, rtp_cvo(1000 + 270_000, Some(0b10), 0)),
        ];
        let i = inspect_bytes(&file(header, &packets)).unwrap();
        assert_eq!(i.header.orientation_id, Some(3));
        assert_eq!(i.rotations, vec![(0.0, 90), (2.0, 270), (3.0, 180)]);
        // Without the header's `x` the extension is not looked for.
        let plain = r#"{"t":"v","c":"vp8","s":1,"u":2}"#;
        assert_eq!(
            inspect_bytes(&file(plain, &packets)).unwrap().rotations,
            vec![]
        );
    }

    #[test]
    fn the_rotation_clock_runs_across_the_rtp_timestamp_wrap() {
        let header = r#"{"t":"v","c":"vp8","x":{"3":"urn:3gpp:video-orientation"},"s":1,"u":2}"#;
        let start = u32::MAX - 44_999;
        let packets = [
            (0, rtp_cvo(start, Some(0), 0)),
            (500, rtp_cvo(start.wrapping_add(45_000), None, 0)),
            (1000, rtp_cvo(start.wrapping_add(90_000), Some(1), 0)),
        ];
        let i = inspect_bytes(&file(header, &packets)).unwrap();
        assert_eq!(i.rotations, vec![(0.0, 0), (1.0, 90)]);
    }

    #[test]
    fn a_late_packet_from_before_a_turn_does_not_turn_back() {
        let header = r#"{"t":"v","c":"vp8","x":{"3":"urn:3gpp:video-orientation"},"s":1,"u":2}"#;
        let packets = [
            (0, rtp_cvo(0, Some(1), 0)),
            (1000, rtp_cvo(90_000, Some(3), 0)),
            (1010, rtp_cvo(87_000, Some(1), 0)),
            (1033, rtp_cvo(93_000, Some(3), 0)),
        ];
        let i = inspect_bytes(&file(header, &packets)).unwrap();
        assert_eq!(i.rotations, vec![(0.0, 90), (1.0, 270)]);
        // An `x` of another shape is not read, and not an error.
        let odd = r#"{"t":"v","c":"vp8","x":["urn:3gpp:video-orientation"],"s":1,"u":2}"#;
        let i = inspect_bytes(&file(odd, &packets)).unwrap();
        assert_eq!((i.header.orientation_id, i.rotations), (None, vec![]));
    }

    #[test]
    fn header_extensions_are_found_in_either_form() {
        // One-byte: padding, ID 2 (3 bytes), ID 5 (1 byte).
        let one = [0xBE, 0xDE, 0, 2, 0, 0x22, 1, 2, 3, 0x50, 7, 0];
        assert_eq!(extension(&one, 5), Some(&[7u8][..]));
        assert_eq!(extension(&one, 2), Some(&[1u8, 2, 3][..]));
        assert_eq!(extension(&one, 4), None);
        // Two-byte (0x1000): ID 200 (2 bytes), ID 5 (1 byte).
        let two = [0x10, 0x00, 0, 2, 200, 2, 9, 9, 5, 1, 3, 0];
        assert_eq!(extension(&two, 5), Some(&[3u8][..]));
        // Cut short: what was read is read; an unknown profile, ID 15 (stop): nothing.
        assert_eq!(extension(&one[..9], 2), Some(&[1u8, 2, 3][..]));
        assert_eq!(extension(&one[..8], 5), None);
        assert_eq!(extension(&[0xAB, 0xCD, 0, 1, 0x50, 1, 0, 0], 5), None);
        assert_eq!(extension(&[0xBE, 0xDE, 0, 1, 0xF0, 0x50, 1, 0], 5), None);
        assert_eq!(cvo_degrees(0b0000_1110), 180);
    }

    #[test]
    fn the_real_janus_recordings_inspect_cleanly() {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real-janus/three-join-leave");
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut seen = 0;
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "mjr") {
                let i = inspect(&p).unwrap();
                assert!(i.packets > 100, "{p:?}");
                assert_eq!(i.leaps, vec![], "{p:?}: a real recording has no leap");
                // Desktop browsers' cameras: the extension is there, upright.
                if i.header.kind == Kind::Video {
                    assert_eq!(i.header.orientation_id, Some(13), "{p:?}");
                    assert_eq!(i.rotations.first().map(|r| r.1), Some(0), "{p:?}");
                    assert!(i.rotations.iter().all(|r| r.1 == 0), "{p:?}");
                }
                seen += 1;
            }
        }
        assert_eq!(seen, 6);
    }
}
