//! Property tests: random bytes, and the fixtures with bytes changed, cut short or spliced, must never panic the
//! transcoder (a panic in the addon is a crash of the server). Each either transcodes or is refused.

use proptest::prelude::*;
use proptest::test_runner::Config;
use voice_transcode::{VoiceOptions, transcode_voice};

const FIXTURES: [&[u8]; 4] = [
    include_bytes!("fixtures/tone-16k-lc.m4a"),
    include_bytes!("fixtures/tone-8k-lc.aac"),
    include_bytes!("fixtures/tone-8k.mp3"),
    include_bytes!("fixtures/tone-44k-stereo.mp3"),
];

fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).map_or(2_000, |n: u32| n / 50)
}

fn options() -> VoiceOptions {
    // Small limits keep each case cheap; the paths through them are the same.
    VoiceOptions { max_seconds: 2, max_output_bytes: 16 * 1024, ..VoiceOptions::default() }
}

/// A small PCM16 WAV header claiming `rate`, `channels`, `bits` and `data_len`, followed by `body`.
fn wav(rate: u32, channels: u16, bits: u16, data_len: u32, body: &[u8]) -> Vec<u8> {
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + body.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&rate.wrapping_mul(u32::from(channels) * u32::from(bits) / 8).to_le_bytes());
    out.extend_from_slice(&(channels.wrapping_mul(bits / 8)).to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(body);
    out
}

proptest! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, ..Config::default() })]

    #[test]
    fn random_bytes(input in prop::collection::vec(any::<u8>(), 0..8192)) {
        let _ = transcode_voice(&input, &options());
    }

    #[test]
    fn fixtures_with_bytes_changed(
        which in 0..FIXTURES.len(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..32),
    ) {
        let mut input = FIXTURES[which].to_vec();
        for (at, value) in changes {
            let at = at.index(input.len());
            input[at] = value;
        }
        let _ = transcode_voice(&input, &options());
    }

    #[test]
    fn fixtures_cut_or_spliced(which in 0..FIXTURES.len(), cut in any::<prop::sample::Index>(), other in 0..FIXTURES.len()) {
        let input = FIXTURES[which];
        let at = cut.index(input.len() + 1);
        let _ = transcode_voice(&input[..at], &options());
        let mut spliced = input[..at].to_vec();
        spliced.extend_from_slice(&FIXTURES[other][at.min(FIXTURES[other].len())..]);
        let _ = transcode_voice(&spliced, &options());
    }

    #[test]
    fn wav_headers_that_lie(
        rate in prop_oneof![Just(0u32), Just(8_000), Just(16_000), Just(48_000), any::<u32>()],
        channels in prop_oneof![Just(0u16), Just(1), Just(2), any::<u16>()],
        bits in prop_oneof![Just(0u16), Just(8), Just(16), Just(24), Just(32), any::<u16>()],
        data_len in prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()],
        body in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let _ = transcode_voice(&wav(rate, channels, bits, data_len, &body), &options());
    }
}
