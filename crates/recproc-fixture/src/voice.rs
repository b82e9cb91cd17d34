//! One participant's microphone track as Janus records it, planned and assembled (pure): its
//! 20 ms packets from the voice's start to the leave, which are never sent (muted
//! stretches), the sound to encode (the participant's beeps), the G.711 payloads, and the
//! `.mjr` bytes: one coded frame per RTP packet, the marker on the first, the sequence
//! numbers consecutive over what is sent, the RTP clock running on through what is not.

use super::g711;
use super::mjr;
use super::rtp::RtpStream;
use super::scenario::{Participant, VoiceCodec};
use super::wav;
use crate::timestamp::Timestamp;

/// Every packet carries this much sound.
pub const PACKET_SECONDS: f64 = 0.02;

/// What to encode and which packets to send, in packet indices from the voice's start.
#[derive(Debug, Clone, PartialEq)]
pub struct VoicePlan {
    pub codec: VoiceCodec,
    /// Seconds from the call start of packet 0 (the header's `s`).
    pub start: f64,
    pub leave: f64,
    /// Packet `i` holds the sound from `start + i * 20 ms`; there are `packets` of them.
    pub packets: usize,
    /// `[from, to)` packet ranges that are never sent.
    pub muted: Vec<(usize, usize)>,
    /// The beeps' pitch.
    pub frequency: f64,
}

impl VoicePlan {
    /// Plans a validated participant's microphone track from `start` to `leave` (seconds
    /// from the call start), beeping at `frequency`.
    pub fn new(p: &Participant, start: f64, leave: f64, frequency: f64) -> VoicePlan {
        let packets = (((leave - start) / PACKET_SECONDS).round() as usize).max(1);
        // First packet starting at or after `t`.
        let index =
            |t: f64| (((t - start) / PACKET_SECONDS - 1e-6).ceil().max(0.0) as usize).min(packets);
        let muted = p
            .muted
            .iter()
            .map(|&(from, to)| (index(from), index(to)))
            .filter(|(a, b)| a < b)
            .collect();
        VoicePlan {
            codec: p.voice_codec,
            start,
            leave,
            packets,
            muted,
            frequency,
        }
    }

    /// Samples per packet at the codec's clock.
    pub fn packet_samples(&self) -> usize {
        (f64::from(self.codec.clock_rate()) * PACKET_SECONDS).round() as usize
    }

    /// The voice's sound for all its packets, mono at `rate` Hz, starting `advance` samples
    /// after the voice's start (and running on as long after its end): beeps at each whole
    /// second of the call from the start to the leave.
    pub fn pcm(&self, rate: u32, advance: usize) -> Vec<i16> {
        let count = (self.packets as f64 * PACKET_SECONDS * f64::from(rate)).round() as usize;
        let from = self.start + advance as f64 / f64::from(rate);
        let voice = wav::Voice {
            frequency: self.frequency,
            present: vec![(self.start, self.leave)],
        };
        wav::sound(rate, from, count, &[voice])
    }

    /// The G.711 payloads (µ-law or A-law of the 8 kHz sound), one per packet; `None` for
    /// Opus.
    pub fn g711_payloads(&self) -> Option<Vec<Vec<u8>>> {
        let law: fn(i16) -> u8 = match self.codec {
            VoiceCodec::Opus => return None,
            VoiceCodec::Pcmu => g711::mulaw,
            VoiceCodec::Pcma => g711::alaw,
        };
        let pcm = self.pcm(self.codec.clock_rate(), 0);
        Some(
            pcm.chunks(self.packet_samples())
                .map(|chunk| chunk.iter().copied().map(law).collect())
                .collect(),
        )
    }

    /// Whether packet `i` is written to the recording.
    pub fn is_sent(&self, i: usize) -> bool {
        !self.muted.iter().any(|&(a, b)| a <= i && i < b)
    }

    /// The first packet written, if any.
    pub fn first_sent(&self) -> Option<usize> {
        (0..self.packets).find(|&i| self.is_sent(i))
    }

    /// The `.mjr` file for the packets' `payloads`, whose packet 0 is at `created`: the
    /// first sent packet has RTP timestamp 0 and sequence 1, each packet's record time is
    /// its media time (it arrived on time).
    pub fn mjr_bytes(
        &self,
        payloads: &[Vec<u8>],
        created: Timestamp,
        ssrc: u32,
    ) -> Result<Vec<u8>, String> {
        if payloads.len() != self.packets {
            return Err(format!(
                "{} payloads for {} packets",
                payloads.len(),
                self.packets
            ));
        }
        let first = self
            .first_sent()
            .ok_or("no packet is sent (muted stretches cover the whole voice)")?;
        let first_time = created.add_seconds(first as f64 * PACKET_SECONDS);
        let mut out = mjr::audio_header(
            self.codec.mjr_name(),
            created.as_micros(),
            first_time.as_micros(),
        );
        let mut stream = RtpStream::new(self.codec.payload_type(), ssrc);
        let per_packet = self.packet_samples() as u64;
        for (i, payload) in payloads
            .iter()
            .enumerate()
            .filter(|&(i, _)| self.is_sent(i))
        {
            let ticks = (i - first) as u64 * per_packet;
            let ms = ((i - first) as f64 * PACKET_SECONDS * 1000.0).round() as u32;
            let packet = stream.audio(ticks as u32, i == first, payload);
            mjr::push_packet(&mut out, ms, &packet);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RTP packets of an `.mjr`: (record ms, marker, payload type, seq, timestamp,
    /// ssrc, payload).
    type Record = (u32, bool, u8, u16, u32, u32, Vec<u8>);

    fn records(mjr: &[u8]) -> (serde_json::Value, Vec<Record>) {
        let len = usize::from(u16::from_be_bytes([mjr[8], mjr[9]]));
        let header = serde_json::from_slice(&mjr[10..10 + len]).unwrap();
        let mut at = 10 + len;
        let mut out = Vec::new();
        while at < mjr.len() {
            assert_eq!(&mjr[at..at + 4], b"MEET");
            let ms = u32::from_be_bytes(mjr[at + 4..at + 8].try_into().unwrap());
            let n = usize::from(u16::from_be_bytes([mjr[at + 8], mjr[at + 9]]));
            let p = &mjr[at + 10..at + 10 + n];
            out.push((
                ms,
                p[1] & 0x80 != 0,
                p[1] & 0x7f,
                u16::from_be_bytes([p[2], p[3]]),
                u32::from_be_bytes(p[4..8].try_into().unwrap()),
                u32::from_be_bytes(p[8..12].try_into().unwrap()),
                p[12..].to_vec(),
            ));
            at += 10 + n;
        }
        (header, out)
    }

    fn muted_voice(codec: VoiceCodec) -> (Participant, VoicePlan) {
        let mut p = Participant::new("a", "red", 1.0, 3.0);
        p.voice_codec = codec;
        p.muted = vec![(1.5, 2.0)];
        let plan = VoicePlan::new(&p, 1.0, 3.0, 440.0);
        (p, plan)
    }

    #[test]
    fn plans_20_ms_packets_and_muted_ranges() {
        let (_, plan) = muted_voice(VoiceCodec::Opus);
        assert_eq!(plan.packets, 100);
        assert_eq!(plan.muted, vec![(25, 50)]);
        assert!(plan.is_sent(24) && !plan.is_sent(25) && !plan.is_sent(49) && plan.is_sent(50));
        assert_eq!(plan.packet_samples(), 960);
        assert_eq!(plan.pcm(48_000, 0).len(), 96_000);
        let mut p = Participant::new("a", "red", 0.0, 1.0);
        p.muted = vec![(0.0, 0.5)];
        let plan = VoicePlan::new(&p, 0.0, 1.0, 440.0);
        assert_eq!(plan.first_sent(), Some(25));
    }

    #[test]
    fn opus_packets_run_on_the_48_khz_clock_with_the_sequence_unbroken_by_a_mute() {
        let (_, plan) = muted_voice(VoiceCodec::Opus);
        let payloads: Vec<Vec<u8>> = (0..100).map(|i| vec![0xf8, i as u8]).collect();
        let created = Timestamp::from_micros(1_000_000_000);
        let bytes = plan.mjr_bytes(&payloads, created, 0x5eea_0001).unwrap();
        let (header, packets) = records(&bytes);
        assert_eq!(
            header,
            serde_json::json!({"t": "a", "c": "opus", "s": 1_000_000_000, "u": 1_000_000_000})
        );
        assert_eq!(packets.len(), 75);
        for (k, p) in packets.iter().enumerate() {
            let i = if k < 25 { k } else { k + 25 };
            assert_eq!(p.0, i as u32 * 20, "record time");
            assert_eq!(p.1, k == 0, "marker on the first packet only");
            assert_eq!(p.2, 111);
            assert_eq!(p.3, k as u16 + 1, "sequence");
            assert_eq!(p.4, i as u32 * 960, "timestamp");
            assert_eq!(p.5, 0x5eea_0001);
            assert_eq!(p.6, payloads[i]);
        }
        // Across the mute: consecutive sequence numbers, 500 ms more on the clock.
        assert_eq!(
            (packets[25].3 - packets[24].3, packets[25].4 - packets[24].4),
            (1, 24_960)
        );
        assert!(plan.mjr_bytes(&payloads[1..], created, 1).is_err());
    }

    #[test]
    fn a_voice_muted_at_its_start_begins_with_its_first_sent_packet() {
        let mut p = Participant::new("a", "red", 0.0, 1.0);
        p.voice_codec = VoiceCodec::Pcma;
        p.muted = vec![(0.0, 0.1)];
        let plan = VoicePlan::new(&p, 0.0, 1.0, 440.0);
        let payloads = plan.g711_payloads().unwrap();
        let bytes = plan
            .mjr_bytes(&payloads, Timestamp::from_micros(0), 8)
            .unwrap();
        let (header, packets) = records(&bytes);
        assert_eq!(header["c"], "pcma");
        assert_eq!(
            (header["s"].as_i64(), header["u"].as_i64()),
            (Some(0), Some(100_000))
        );
        assert_eq!(packets.len(), 45);
        let first = &packets[0];
        assert_eq!(
            (first.0, first.1, first.2, first.3, first.4),
            (0, true, 8, 1, 0)
        );
        assert_eq!((packets[1].3, packets[1].4), (2, 160));
        p.muted = vec![(0.0, 1.0)];
        let all_muted = VoicePlan::new(&p, 0.0, 1.0, 440.0);
        assert!(all_muted
            .mjr_bytes(&payloads, Timestamp::from_micros(0), 8)
            .unwrap_err()
            .contains("muted"));
    }

    #[test]
    fn g711_payloads_are_160_samples_of_the_beeps() {
        let mut p = Participant::new("a", "red", 0.5, 2.0);
        p.voice_codec = VoiceCodec::Pcmu;
        let plan = VoicePlan::new(&p, 0.5, 2.0, 440.0);
        let payloads = plan.g711_payloads().unwrap();
        assert_eq!(payloads.len(), 75);
        assert!(payloads.iter().all(|p| p.len() == 160));
        // Silence until the beep at 1 s (packet 25), which lasts 100 ms (5 packets).
        assert!(payloads[..25].iter().flatten().all(|&b| b == 0xff));
        assert!(payloads[25..30]
            .iter()
            .all(|p| p.iter().any(|&b| b != 0xff)));
        assert!(payloads[30..].iter().flatten().all(|&b| b == 0xff));
        assert_eq!(VoicePlan::new(&p, 0.5, 2.0, 440.0).codec.payload_type(), 0);
        p.voice_codec = VoiceCodec::Opus;
        assert_eq!(VoicePlan::new(&p, 0.5, 2.0, 440.0).g711_payloads(), None);
    }
}
