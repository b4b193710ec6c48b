//! Property tests: the demuxer, validator and classifier see well over 100,000 random and mutated
//! inputs and must never panic; valid input must survive a mux → demux round trip under any split.

use opus_core::classify::classify_chunk;
use opus_core::ogg_demux::{CollectSink, OggDemuxer};
use opus_core::ogg_mux::{MuxOptions, OggMuxer};
use opus_core::opus_head::{OpusHead, OpusTags};
use opus_core::opus_packet::{MAX_FRAME_LEN, MAX_PACKET_SAMPLES, inspect_packet};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// A valid Opus packet: a random TOC and a payload shaped by its frame packing code.
fn valid_packet() -> impl Strategy<Value = Vec<u8>> {
    (0u8..=255, prop::collection::vec(any::<u8>(), 0..200)).prop_map(|(toc, payload)| {
        let mut packet = vec![toc & !0x03];
        packet.extend_from_slice(&payload);
        packet
    })
}

fn mux(packets: &[Vec<u8>], serial: u32) -> Vec<u8> {
    let head = OpusHead::new(2, 312, 48_000, 0).unwrap();
    let tags = OpusTags { vendor: "proptest".into(), comments: vec!["A=b".into()] };
    let options = MuxOptions { serial, max_page_body: 700, max_page_samples: 48_000 };
    let mut muxer = OggMuxer::new(&head, &tags, options).unwrap();
    for packet in packets {
        muxer.write_packet(packet).unwrap();
    }
    muxer.finish().unwrap();
    muxer.take_output()
}

/// Feeds `input` in pieces cut at `cuts` (any values; they are folded into range).
fn demux_split(input: &[u8], cuts: &[usize]) -> CollectSink {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    let mut demuxer = OggDemuxer::new(1 << 16);
    let mut sink = CollectSink::default();
    let mut start = 0;
    for point in points.into_iter().chain([input.len()]) {
        demuxer.push(&input[start..point], &mut sink);
        start = point;
    }
    demuxer.finish(&mut sink);
    sink
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..40)).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        2 => (any::<usize>(), 1usize..300).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(mut data: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = data.len();
        match mutation {
            Mutation::Flip { at, mask } if len > 0 => data[at % len] ^= mask,
            Mutation::Insert { at, bytes } => {
                let at = at % (len + 1);
                data.splice(at..at, bytes.iter().copied());
            }
            Mutation::Delete { at, len: count } if len > 0 => {
                let at = at % len;
                data.drain(at..(at + count).min(len));
            }
            Mutation::Truncate { at } => data.truncate(at % (len + 1)),
            _ => {}
        }
    }
    data
}

fn check_packet_invariants(data: &[u8]) {
    if let Ok(info) = inspect_packet(data) {
        assert!(info.duration_samples() <= MAX_PACKET_SAMPLES);
        assert!(info.frame_count >= 1);
        let frames: usize = info.frame_lengths().iter().map(|&l| l as usize).sum();
        assert!(info.frame_lengths().iter().all(|&l| l as usize <= MAX_FRAME_LEN));
        assert!(1 + frames + info.padding_len <= data.len());
    }
}

proptest! {
    #![proptest_config(config(40_000))]
    #[test]
    fn demuxer_survives_random_bytes(
        input in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        // Half the inputs start with a capture pattern so the page parser, not only the resync scan, sees noise.
        let mut with_capture = b"OggS\0".to_vec();
        with_capture.extend_from_slice(&input);
        demux_split(&input, &cuts);
        demux_split(&with_capture, &cuts);
    }
}

proptest! {
    #![proptest_config(config(20_000))]
    #[test]
    fn demuxer_survives_mutated_streams(
        packets in prop::collection::vec(valid_packet(), 1..12),
        mutations in prop::collection::vec(mutation(), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..5),
    ) {
        let stream = apply(mux(&packets, 0x5eed), &mutations);
        let sink = demux_split(&stream, &cuts);
        for packet in &sink.packets {
            check_packet_invariants(&packet.data);
        }
        classify_chunk(&stream);
    }
}

proptest! {
    #![proptest_config(config(5_000))]
    #[test]
    fn mux_then_demux_round_trips_under_any_split(
        packets in prop::collection::vec(valid_packet(), 0..30),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        serial in any::<u32>(),
    ) {
        let stream = mux(&packets, serial);
        let sink = demux_split(&stream, &cuts);
        prop_assert!(sink.issues.is_empty(), "{:?}", sink.issues);
        prop_assert_eq!(sink.packets.len(), packets.len() + 2);
        let audio: Vec<Vec<u8>> = sink.packets[2..].iter().map(|p| p.data.clone()).collect();
        prop_assert_eq!(audio, packets.clone());
        prop_assert!(sink.packets.iter().all(|p| p.serial == serial));
        let expected: i64 = packets.iter().map(|p| inspect_packet(p).unwrap().duration_samples() as i64).sum();
        prop_assert_eq!(sink.packets.last().map_or(0, |p| p.granule_position), expected);
        prop_assert_eq!(classify_chunk(&stream).duration_samples, expected as u64);
    }
}

proptest! {
    #![proptest_config(config(40_000))]
    #[test]
    fn validator_survives_random_bytes(input in prop::collection::vec(any::<u8>(), 0..400)) {
        check_packet_invariants(&input);
        classify_chunk(&input);
    }
}

proptest! {
    #![proptest_config(config(20_000))]
    #[test]
    fn validator_survives_mutated_code3_packets(
        frame_count in 0u8..64,
        vbr in any::<bool>(),
        padding in any::<bool>(),
        config_bits in 0u8..32,
        tail in prop::collection::vec(any::<u8>(), 0..3000),
        mutations in prop::collection::vec(mutation(), 0..3),
    ) {
        let mut packet = vec![(config_bits << 3) | 0x03, frame_count | (u8::from(vbr) << 7) | (u8::from(padding) << 6)];
        packet.extend_from_slice(&tail);
        check_packet_invariants(&apply(packet, &mutations));
    }
}
