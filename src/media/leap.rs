//! RTP timestamp leaps inside one recorded track, told apart from real time by the packets'
//! arrival times, and re-anchored (pure). A sender that restarts its encoder may restart its
//! RTP clock at a random value while keeping its SSRC: janus-pp-rec then places everything
//! after that packet hours away (or, for a backward leap, among the earlier packets). The
//! `.mjr` stores when Janus wrote each packet (milliseconds since the first), so a jump of the
//! RTP clock far larger or smaller than the time that really passed is a leap, not media:
//! from that packet on, timestamps are shifted so that the media continues at its arrival
//! time. A 32-bit wraparound, jitter, reordering and a pause in sending are not leaps.

use std::fmt;

/// How far the RTP clock may run ahead of or behind the arrival times between two packets
/// before it counts as a leap. Network jitter and retransmissions stay far below it (a sender
/// drops media rather than delaying it by seconds); an encoder's new random clock is almost
/// always hours away.
pub const LEAP_THRESHOLD_S: f64 = 5.0;

/// One discontinuity of a track's RTP clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leap {
    /// Index of the first packet after the leap, counting every packet record of the file.
    pub packet: u64,
    /// When that packet was written, in milliseconds after the track's first packet.
    pub at_ms: u32,
    /// How far the RTP clock jumped beyond the time that passed, in seconds: positive
    /// forward, negative backward.
    pub seconds: f64,
}

impl fmt::Display for Leap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at {:.3}s (packet {}) {:+.3}s",
            f64::from(self.at_ms) / 1000.0,
            self.packet,
            self.seconds
        )
    }
}

/// The leaps of a track as one log field: `at 8.000s (packet 240) +21600.000s; …`.
pub fn describe(leaps: &[Leap]) -> String {
    leaps
        .iter()
        .map(Leap::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Walks a track's packets in file order, finds its leaps and gives each packet its
/// re-anchored RTP timestamp.
#[derive(Debug, Clone)]
pub struct Reanchor {
    clock_rate: f64,
    /// The SSRC of the first packet: janus-pp-rec drops packets of any other, so they are
    /// neither judged nor changed.
    ssrc: Option<u32>,
    /// The last packet taken as in time: its arrival (ms) and its re-anchored timestamp.
    reference: Option<(u32, u32)>,
    /// Added (wrapping) to every timestamp since the last leap.
    shift: u32,
    /// The shift before the last leap, for packets of the old clock that arrive late.
    previous_shift: Option<u32>,
    packets: u64,
    leaps: Vec<Leap>,
}

impl Reanchor {
    /// For a track whose RTP clock runs at `clock_rate` Hz (90 000 for video).
    pub fn new(clock_rate: u32) -> Self {
        Reanchor {
            clock_rate: f64::from(clock_rate.max(1)),
            ssrc: None,
            reference: None,
            shift: 0,
            previous_shift: None,
            packets: 0,
            leaps: Vec::new(),
        }
    }

    /// Takes the next packet record (written `arrival_ms` after the first, with `ssrc` and
    /// RTP timestamp `timestamp`) and returns its re-anchored timestamp.
    pub fn next(&mut self, arrival_ms: u32, ssrc: u32, timestamp: u32) -> u32 {
        let index = self.packets;
        self.packets += 1;
        if *self.ssrc.get_or_insert(ssrc) != ssrc {
            return timestamp;
        }
        let candidate = timestamp.wrapping_add(self.shift);
        let Some((ref_ms, ref_ts)) = self.reference else {
            self.reference = Some((arrival_ms, candidate));
            return candidate;
        };
        let real = (i64::from(arrival_ms) - i64::from(ref_ms)) as f64 / 1000.0;
        let drift = |ts: u32| self.media_seconds(ref_ts, ts) - real;
        if drift(candidate).abs() <= LEAP_THRESHOLD_S {
            self.reference = Some((arrival_ms, candidate));
            return candidate;
        }
        if let Some(previous) = self.previous_shift {
            let late = timestamp.wrapping_add(previous);
            if drift(late).abs() <= LEAP_THRESHOLD_S {
                // A packet of the old clock that arrived after the leap: keep it where it was.
                return late;
            }
        }
        let anchored = ref_ts.wrapping_add((real * self.clock_rate).round() as i64 as u32);
        self.leaps.push(Leap {
            packet: index,
            at_ms: arrival_ms,
            seconds: drift(candidate),
        });
        self.previous_shift = Some(self.shift);
        self.shift = anchored.wrapping_sub(timestamp);
        self.reference = Some((arrival_ms, anchored));
        anchored
    }

    /// Seconds of media from `from` to `to`, across a 32-bit wraparound: the shorter way round.
    fn media_seconds(&self, from: u32, to: u32) -> f64 {
        f64::from(to.wrapping_sub(from) as i32) / self.clock_rate
    }

    /// The leaps found so far, in file order.
    pub fn leaps(&self) -> &[Leap] {
        &self.leaps
    }

    pub fn into_leaps(self) -> Vec<Leap> {
        self.leaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIDEO: u32 = 90_000;
    const SSRC: u32 = 0x1234;

    /// Timestamps of 15 fps video, one packet per frame, arriving on time from `ts0`.
    fn frames(count: u32, ts0: u32) -> Vec<(u32, u32)> {
        (0..count)
            .map(|i| (i * 1000 / 15, ts0.wrapping_add(i * 6000)))
            .collect()
    }

    /// Asserts that every timestamp is the wanted one within 5 ms (arrival times are whole
    /// milliseconds, so a re-anchored clock is exact only to about one).
    fn assert_near(got: &[u32], want: &[u32], clock: u32) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let off = f64::from(g.wrapping_sub(*w) as i32) / f64::from(clock);
            assert!(off.abs() <= 0.005, "packet {i}: {g} is {off:+.4}s from {w}");
        }
    }

    fn timestamps(packets: &[(u32, u32)]) -> Vec<u32> {
        packets.iter().map(|p| p.1).collect()
    }

    fn run(clock: u32, packets: &[(u32, u32)]) -> (Vec<u32>, Vec<Leap>) {
        let mut r = Reanchor::new(clock);
        let out = packets
            .iter()
            .map(|&(ms, ts)| r.next(ms, SSRC, ts))
            .collect();
        (out, r.into_leaps())
    }

    /// A track whose clock leaps by `leap_ticks` (wrapping) from frame `at` on.
    fn leaping(count: u32, at: u32, leap_ticks: u32) -> Vec<(u32, u32)> {
        frames(count, 1000)
            .into_iter()
            .enumerate()
            .map(|(i, (ms, ts))| match i as u32 >= at {
                true => (ms, ts.wrapping_add(leap_ticks)),
                false => (ms, ts),
            })
            .collect()
    }

    #[test]
    fn steady_media_is_left_alone() {
        let packets = frames(300, 1000);
        let (out, leaps) = run(VIDEO, &packets);
        assert!(leaps.is_empty());
        assert_eq!(out, timestamps(&packets));
    }

    #[test]
    fn a_forward_leap_is_found_and_the_media_continues_at_its_arrival_time() {
        let six_hours = 6 * 3600 * VIDEO;
        let (out, leaps) = run(VIDEO, &leaping(300, 120, six_hours));
        assert_eq!(leaps.len(), 1);
        assert_eq!(leaps[0].packet, 120);
        assert_eq!(leaps[0].at_ms, 8000);
        assert!((leaps[0].seconds - 21_600.0).abs() < 0.01, "{:?}", leaps[0]);
        // Every frame is where it would have been without the leap.
        assert_near(&out, &timestamps(&frames(300, 1000)), VIDEO);
    }

    #[test]
    fn a_backward_leap_is_found_and_re_anchored() {
        let minus_an_hour = (3600 * VIDEO).wrapping_neg();
        let (out, leaps) = run(VIDEO, &leaping(300, 45, minus_an_hour));
        assert_eq!(leaps.len(), 1);
        assert_eq!(leaps[0].packet, 45);
        assert!((leaps[0].seconds + 3600.0).abs() < 0.01, "{:?}", leaps[0]);
        assert_near(&out, &timestamps(&frames(300, 1000)), VIDEO);
    }

    #[test]
    fn a_32_bit_wraparound_is_not_a_leap() {
        // The clock passes 2^32 a second in.
        let packets = frames(60, u32::MAX - 15 * 6000 + 1);
        assert!(packets[20].1 < packets[10].1, "the test crosses the wrap");
        let (out, leaps) = run(VIDEO, &packets);
        assert!(leaps.is_empty(), "{leaps:?}");
        assert_eq!(out, timestamps(&packets));
    }

    #[test]
    fn jitter_reordering_and_bursts_are_not_leaps() {
        let mut packets = frames(200, 5);
        // Arrival jitter of up to 400 ms either way, a reordered pair, and a 3 s stall whose
        // frames then arrive in one burst.
        for (i, p) in packets.iter_mut().enumerate() {
            p.0 += [0, 400, 150, 0, 390][i % 5];
        }
        packets.swap(50, 51);
        for p in &mut packets[100..145] {
            p.0 = 100 * 1000 / 15 + 3000;
        }
        packets.sort_by_key(|p| p.0);
        let (out, leaps) = run(VIDEO, &packets);
        assert!(leaps.is_empty(), "{leaps:?}");
        assert_eq!(out, timestamps(&packets));
    }

    #[test]
    fn a_pause_in_sending_with_the_clock_running_is_not_a_leap() {
        // No packets for 60 s (a muted camera); the RTP clock ran on, as capture clocks do.
        let mut packets = frames(30, 0);
        packets.extend(
            frames(30, 0)
                .into_iter()
                .map(|(ms, ts)| (ms + 62_000, ts.wrapping_add(62 * VIDEO))),
        );
        let (_, leaps) = run(VIDEO, &packets);
        assert!(leaps.is_empty(), "{leaps:?}");
    }

    #[test]
    fn a_clock_that_stood_still_during_a_pause_is_re_anchored_to_real_time() {
        // 60 s without packets, but the timestamps carry on as if no time had passed.
        let mut packets = frames(30, 0);
        let resumed = packets.last().unwrap().1 + 6000;
        packets.extend(
            frames(30, resumed)
                .into_iter()
                .map(|(ms, ts)| (ms + 62_000, ts)),
        );
        let (out, leaps) = run(VIDEO, &packets);
        assert_eq!(leaps.len(), 1);
        assert!((leaps[0].seconds + 60.0).abs() < 0.1, "{:?}", leaps[0]);
        let real = out[30].wrapping_sub(out[29]) as f64 / f64::from(VIDEO);
        assert!((real - (62.0 - 29.0 / 15.0)).abs() < 0.01, "{real}");
    }

    #[test]
    fn a_late_packet_of_the_old_clock_keeps_its_place() {
        let six_hours = 6 * 3600 * VIDEO;
        let mut packets = leaping(200, 100, six_hours);
        // Frame 99 (old clock) is written after frame 100 (new clock).
        packets.swap(99, 100);
        packets[100].0 = packets[99].0;
        let (out, leaps) = run(VIDEO, &packets);
        assert_eq!(leaps.len(), 1, "{leaps:?}");
        let mut want = timestamps(&frames(200, 1000));
        want.swap(99, 100);
        assert_near(&out, &want, VIDEO);
        assert_eq!(out[100], want[100], "the late packet is untouched");
    }

    #[test]
    fn several_leaps_are_each_re_anchored() {
        let mut packets = leaping(300, 60, 1_000_000_000);
        for p in &mut packets[200..] {
            p.1 = p.1.wrapping_add(3_000_000_000);
        }
        let (out, leaps) = run(VIDEO, &packets);
        assert_eq!(
            leaps.iter().map(|l| l.packet).collect::<Vec<_>>(),
            vec![60, 200]
        );
        assert_near(&out, &timestamps(&frames(300, 1000)), VIDEO);
    }

    #[test]
    fn a_leap_across_the_wrap_is_measured_the_short_way_round() {
        // +10 h at 90 kHz is more than half the 32-bit range: it reads as -3.26 h, and the
        // media is re-anchored all the same.
        let ten_hours = 10 * 3600 * VIDEO;
        let (out, leaps) = run(VIDEO, &leaping(100, 50, ten_hours));
        assert_eq!(leaps.len(), 1);
        assert!(leaps[0].seconds < -3.0 * 3600.0, "{:?}", leaps[0]);
        assert_near(&out, &timestamps(&frames(100, 1000)), VIDEO);
    }

    #[test]
    fn packets_of_another_ssrc_are_neither_judged_nor_changed() {
        let mut r = Reanchor::new(VIDEO);
        assert_eq!(r.next(0, SSRC, 100), 100);
        assert_eq!(r.next(10, 99, 4_000_000_000), 4_000_000_000);
        assert_eq!(r.next(66, SSRC, 6100), 6100);
        assert!(r.leaps().is_empty());
    }

    #[test]
    fn audio_clocks_are_judged_at_their_own_rate() {
        // Opus at 48 kHz, 20 ms packets: 960 ticks each. Read at 90 kHz, 10 s of them would
        // look like a 4.7 s drift; at 48 kHz they are on time.
        let packets: Vec<(u32, u32)> = (0..500).map(|i| (i * 20, i * 960)).collect();
        assert!(run(48_000, &packets).1.is_empty());
        let mut leapt = packets.clone();
        for p in &mut leapt[250..] {
            p.1 = p.1.wrapping_add(48_000 * 600);
        }
        let (out, leaps) = run(48_000, &leapt);
        assert_eq!(leaps.len(), 1);
        assert!((leaps[0].seconds - 600.0).abs() < 0.05, "{:?}", leaps[0]);
        assert_near(&out, &timestamps(&packets), 48_000);
    }

    #[test]
    fn leaps_read_as_where_and_how_far() {
        let leaps = [
            Leap {
                packet: 240,
                at_ms: 8000,
                seconds: 21_600.0,
            },
            Leap {
                packet: 400,
                at_ms: 12_345,
                seconds: -3600.5,
            },
        ];
        assert_eq!(
            describe(&leaps),
            "at 8.000s (packet 240) +21600.000s; at 12.345s (packet 400) -3600.500s"
        );
    }
}
