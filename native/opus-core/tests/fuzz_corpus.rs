//! The corpus run: at least 100,000 generated cases each for the Ogg page parser, the Opus TOC and packet
//! validator, and the chunk ring, each checked against an independent reference (a page written by `write_page`,
//! RFC 6716 §3.1–3.2 written out plainly, a model of what the ring must hold). `cargo test --release` runs it in CI
//! (`bun run test:rust`); PROPTEST_CASES does not apply here, FUZZ_CASES scales every property (default 100,000).

use std::collections::BTreeMap;

use opus_core::ogg_page::{PageSpec, parse_page, write_page};
use opus_core::opus_packet::{MAX_PACKET_SAMPLES, inspect_packet, parse_toc, validate_packet};
use opus_core::ring::ChunkRing;
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per property: FUZZ_CASES, at least the 100,000 the CI run promises by default.
fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

fn config() -> Config {
    Config { cases: cases(), failure_persistence: None, ..Config::default() }
}

// ---------------------------------------------------------------------------------------------------------
// Ogg pages

/// A page's fields and a body, with lacing values as a real muxer writes them (255s, then the remainder).
fn page_spec() -> impl Strategy<Value = (u8, i64, u32, u32, Vec<u8>)> {
    (0u8..8, any::<i64>(), any::<u32>(), any::<u32>(), prop::collection::vec(any::<u8>(), 0..2000))
}

fn lacing_for(body_len: usize) -> Vec<u8> {
    let mut lacing = vec![255u8; body_len / 255];
    lacing.push((body_len % 255) as u8);
    lacing
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn ogg_pages_round_trip_and_refuse_any_changed_byte(
        (header_type, granule, serial, sequence, body) in page_spec(),
        cut in any::<usize>(),
        flip_at in any::<usize>(),
        mask in 1u8..=255,
        trailing in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let lacing = lacing_for(body.len());
        let mut page = Vec::new();
        let spec = PageSpec { header_type, granule_position: granule, serial, sequence, lacing: &lacing, body: &body };
        write_page(&mut page, &spec);

        // The whole page, with anything after it, parses back to exactly what was written.
        let mut stream = page.clone();
        stream.extend_from_slice(&trailing);
        let parsed = parse_page(&stream).unwrap().expect("a whole page");
        prop_assert_eq!(parsed.len, page.len());
        prop_assert_eq!(
            (parsed.header_type, parsed.granule_position, parsed.serial, parsed.sequence),
            (header_type, granule, serial, sequence)
        );
        prop_assert_eq!(parsed.lacing, &lacing[..]);
        prop_assert_eq!(parsed.body, &body[..]);

        // Every strict prefix is "need more input", never an error or a page.
        let prefix = &page[..cut % page.len()];
        prop_assert!(matches!(parse_page(prefix), Ok(None)), "prefix of {} bytes", prefix.len());

        // One changed byte anywhere is never taken for the same page (CRC-32 catches every single-byte change;
        // a changed lacing value may make the page look longer, which is "need more input").
        let mut damaged = page.clone();
        let at = flip_at % damaged.len();
        damaged[at] ^= mask;
        if let Ok(Some(other)) = parse_page(&damaged) {
            prop_assert!(other.len != page.len(), "byte {} changed, page still accepted", at);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Opus TOC and packets (RFC 6716), against the RFC written out

/// Frame size in samples at 48 kHz per TOC configuration, RFC 6716 Table 2 (2.5, 5, 10, 20, 40, 60 ms): SILK NB,
/// MB, WB (configurations 0–11), Hybrid SWB, FB (12–15), CELT NB, WB, SWB, FB (16–31).
const FRAME_SAMPLES: [u32; 32] = [
    480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 480, 960, 120, 240, 480, 960,
    120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,
];
const MAX_FRAME_BYTES: usize = 1275;

/// RFC 6716 §3.2.1: a frame length in one byte (0–251) or two (252–255, then ×4).
fn reference_length(bytes: &[u8]) -> Option<(usize, usize)> {
    match bytes {
        [] => None,
        [first, ..] if *first < 252 => Some((*first as usize, 1)),
        [_] => None,
        [first, second, ..] => Some((*first as usize + 4 * *second as usize, 2)),
    }
}

/// The frame lengths and padding (length bytes plus padding bytes) of a packet obeying R1–R7, or None.
fn reference_packet(packet: &[u8]) -> Option<(Vec<usize>, usize)> {
    let toc = *packet.first()?;
    let body = &packet[1..];
    let frame_samples = FRAME_SAMPLES[(toc >> 3) as usize];
    let frames: Vec<usize>;
    let mut padding = 0;
    match toc & 3 {
        0 => frames = vec![body.len()],
        1 => {
            if body.len() % 2 == 1 {
                return None;
            }
            frames = vec![body.len() / 2, body.len() / 2];
        }
        2 => {
            let (first, used) = reference_length(body)?;
            let rest = body.len() - used;
            if first > rest {
                return None;
            }
            frames = vec![first, rest - first];
        }
        _ => {
            let (&count_byte, mut rest) = body.split_first()?;
            let count = (count_byte & 0x3f) as usize;
            if count == 0 || count as u32 * frame_samples > 5760 {
                return None;
            }
            if count_byte & 0x40 != 0 {
                let mut padding_bytes = 0;
                loop {
                    let (&byte, after) = rest.split_first()?;
                    rest = after;
                    padding += 1;
                    padding_bytes += if byte == 255 { 254 } else { byte as usize };
                    if byte != 255 {
                        break;
                    }
                }
                if padding_bytes > rest.len() {
                    return None;
                }
                padding += padding_bytes;
                rest = &rest[..rest.len() - padding_bytes];
            }
            if count_byte & 0x80 != 0 {
                let mut lengths = Vec::with_capacity(count);
                for _ in 1..count {
                    let (len, used) = reference_length(rest)?;
                    rest = &rest[used..];
                    lengths.push(len);
                }
                let coded: usize = lengths.iter().sum();
                if coded > rest.len() {
                    return None;
                }
                lengths.push(rest.len() - coded);
                frames = lengths;
            } else {
                if rest.len() % count != 0 {
                    return None;
                }
                frames = vec![rest.len() / count; count];
            }
        }
    }
    if frames.iter().any(|&len| len > MAX_FRAME_BYTES) {
        return None;
    }
    Some((frames, padding))
}

/// Packets shaped like real ones often enough to be valid: a TOC, for code 3 a frame count byte with few frames,
/// optional padding lengths, small length bytes, then any bytes.
fn packet() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        (0u8..=3, 1u8..=6, any::<bool>(), any::<bool>()),
        prop::collection::vec(prop_oneof![3 => 0u8..=60, 1 => any::<u8>()], 0..6),
        prop::collection::vec(any::<u8>(), 0..1400),
    )
        .prop_map(|(toc, (count_high, count, vbr, padded), head, tail)| {
            let mut packet = vec![toc];
            if toc & 3 == 3 {
                let count = if count_high == 0 { 0 } else { count };
                packet.push(count | (u8::from(vbr) << 7) | (u8::from(padded) << 6));
            }
            packet.extend_from_slice(&head);
            packet.extend_from_slice(&tail);
            packet
        })
}

#[test]
fn every_toc_byte_matches_rfc_6716_table_2() {
    for byte in 0..=255u8 {
        let toc = parse_toc(byte);
        assert_eq!(toc.config, byte >> 3);
        assert_eq!(toc.frame_samples, FRAME_SAMPLES[(byte >> 3) as usize], "TOC {byte:#04x}");
        assert_eq!(toc.stereo, byte & 0x04 != 0);
        assert_eq!(toc.frame_count_code, byte & 0x03);
    }
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn opus_packets_are_judged_as_rfc_6716_says(data in packet()) {
        let expected = reference_packet(&data);
        match inspect_packet(&data) {
            Ok(info) => {
                let (frames, padding) = expected.expect("inspect_packet accepted a packet the RFC refuses");
                let lengths: Vec<usize> = info.frame_lengths().iter().map(|&l| l as usize).collect();
                prop_assert_eq!(lengths, frames);
                prop_assert_eq!(info.padding_len, padding);
                prop_assert!(info.duration_samples() <= MAX_PACKET_SAMPLES);
                prop_assert_eq!(validate_packet(&data).ok(), Some(info.duration_samples()));
            }
            Err(_) => {
                prop_assert!(expected.is_none(), "refused a packet the RFC accepts: {:?}", expected);
                prop_assert!(validate_packet(&data).is_err());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The chunk ring, against a model of every chunk pushed

#[derive(Debug, Clone)]
enum RingOp {
    Push { len: usize, fill: u8 },
    ReadAfter(u64),
    Latest(usize),
}

fn ring_ops() -> impl Strategy<Value = (usize, usize, u64, Vec<RingOp>)> {
    (
        1usize..12,
        1usize..600,
        prop_oneof![3 => 0u64..100, 1 => Just(u64::MAX - 40)],
        prop::collection::vec(
            prop_oneof![
                6 => (0usize..300, any::<u8>()).prop_map(|(len, fill)| RingOp::Push { len, fill }),
                2 => any::<u64>().prop_map(RingOp::ReadAfter),
                1 => (0usize..16).prop_map(RingOp::Latest),
            ],
            1..40,
        ),
    )
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn ring_holds_a_suffix_of_what_was_pushed_within_its_bounds((capacity, budget, first, ops) in ring_ops()) {
        let mut ring = ChunkRing::new(capacity, budget, first).unwrap();
        // Every chunk ever accepted, by sequence.
        let mut pushed: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for op in ops {
            match op {
                RingOp::Push { len, fill } => {
                    // Sequences near u64::MAX would overflow: the ring is never that old in practice.
                    if ring.next_sequence() == u64::MAX {
                        break;
                    }
                    let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
                    let before = (ring.len(), ring.total_bytes(), ring.next_sequence());
                    match ring.push(&data, len as f64) {
                        Ok(sequence) => {
                            prop_assert_eq!(sequence, before.2);
                            pushed.insert(sequence, data);
                            // The chunk just pushed is always held.
                            prop_assert_eq!(ring.newest_sequence(), Some(sequence));
                        }
                        Err(_) => {
                            prop_assert!(len > budget, "refused a {}-byte chunk under a {}-byte budget", len, budget);
                            prop_assert_eq!((ring.len(), ring.total_bytes(), ring.next_sequence()), before);
                        }
                    }
                }
                RingOp::ReadAfter(after) => {
                    let read: Vec<u64> = ring.read_after(after).map(|e| e.sequence).collect();
                    let held: Vec<u64> = ring.latest(usize::MAX).map(|e| e.sequence).filter(|&s| s > after).collect();
                    prop_assert_eq!(read, held);
                }
                RingOp::Latest(count) => {
                    let latest: Vec<u64> = ring.latest(count).map(|e| e.sequence).collect();
                    prop_assert_eq!(latest.len(), count.min(ring.len()));
                    prop_assert_eq!(latest.last().copied(), if count == 0 { None } else { ring.newest_sequence() });
                }
            }
            // Bounds, and the held chunks are the newest ones, consecutive, each with exactly its bytes.
            prop_assert!(ring.len() <= capacity);
            prop_assert!(ring.total_bytes() <= budget);
            let held: Vec<_> = ring.latest(usize::MAX).collect();
            prop_assert_eq!(held.len(), ring.len());
            prop_assert_eq!(held.iter().map(|e| e.data.len()).sum::<usize>(), ring.total_bytes());
            if let Some(newest) = held.last() {
                prop_assert_eq!(newest.sequence + 1, ring.next_sequence());
            }
            for (i, entry) in held.iter().enumerate() {
                prop_assert_eq!(entry.sequence, held[0].sequence + i as u64);
                prop_assert_eq!(Some(&entry.data.to_vec()), pushed.get(&entry.sequence));
                prop_assert_eq!(entry.timestamp, entry.data.len() as f64);
            }
        }
    }
}
