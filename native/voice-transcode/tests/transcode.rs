//! The in-process call transcode against files made as the uploaders make them (fixtures/: FFmpeg's AAC-LC m4a and
//! ADTS, LAME MP3 with an ID3v2 tag; WAV written here), what it must leave to FFmpeg, and its limits. The packets are
//! checked as Opus (RFC 6716 §3, via opus-core) and decoded back with libopus: the tone must still be there.

use opus_core::opus_packet::inspect_packet;
use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::codecs::audio::well_known::CODEC_ID_AAC;
use voice_transcode::band::VoiceBand;
use voice_transcode::{Refusal, VoiceOptions, VoicePackets, asc_signals_sbr, open_decoder, transcode_voice};

const M4A_16K: &[u8] = include_bytes!("fixtures/tone-16k-lc.m4a");
const ADTS_8K: &[u8] = include_bytes!("fixtures/tone-8k-lc.aac");
const MP3_8K_ID3: &[u8] = include_bytes!("fixtures/tone-8k.mp3");
const MP3_44K_STEREO: &[u8] = include_bytes!("fixtures/tone-44k-stereo.mp3");
const FLAC: &[u8] = include_bytes!("fixtures/tone.flac");

/// A PCM16 WAV of a `frequency` Hz tone, as trunk-recorder writes its calls.
pub fn wav_tone(rate: u32, channels: u16, seconds: f64, frequency: f64) -> Vec<u8> {
    let frames = (f64::from(rate) * seconds) as u32;
    let data_len = frames * u32::from(channels) * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for n in 0..frames {
        let t = f64::from(n) / f64::from(rate);
        let sample = ((t * frequency * std::f64::consts::TAU).sin() * 12_000.0) as i16;
        for _ in 0..channels {
            out.extend_from_slice(&sample.to_le_bytes());
        }
    }
    out
}

/// Every packet is a valid 100 ms Opus packet of `bandwidth`; returns their count.
fn check_packets(voice: &VoicePackets, bandwidth: &str) -> usize {
    let mut count = 0;
    for packet in voice.packets() {
        let info = inspect_packet(packet).expect("a valid Opus packet");
        assert_eq!(info.duration_samples(), 4800, "100 ms packets");
        assert_eq!(info.toc.bandwidth.as_str(), bandwidth);
        assert!(!info.toc.stereo);
        count += 1;
    }
    count
}

/// Decodes the packets at 16 kHz and estimates the dominant frequency by zero crossings, past the first packet.
fn tone_frequency(voice: &VoicePackets) -> f64 {
    let mut decoder = opus::Decoder::new(16_000, opus::Channels::Mono).unwrap();
    let mut pcm = Vec::new();
    let mut frame = vec![0f32; 1600];
    for packet in voice.packets() {
        let n = decoder.decode_float(packet, &mut frame, false).unwrap();
        pcm.extend_from_slice(&frame[..n]);
    }
    let steady = &pcm[1600..pcm.len() - 1600];
    let crossings = steady.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
    crossings as f64 / 2.0 / (steady.len() as f64 / 16_000.0)
}

fn options() -> VoiceOptions {
    VoiceOptions::default()
}

#[test]
fn trunk_recorder_wav_at_8_khz_becomes_narrowband_voice_with_the_tone_intact() {
    let voice = transcode_voice(&wav_tone(8_000, 1, 3.0, 600.0), &options()).unwrap();
    assert_eq!((voice.codec, voice.input_rate, voice.decoded_frames), ("pcm", 8_000, 24_000));
    assert_eq!(check_packets(&voice, "NB"), 30);
    let frequency = tone_frequency(&voice);
    assert!((frequency - 600.0).abs() < 15.0, "heard {frequency} Hz");
}

#[test]
fn a_stereo_48_khz_wav_is_mixed_to_mono() {
    let voice = transcode_voice(&wav_tone(48_000, 2, 1.0, 440.0), &options()).unwrap();
    assert_eq!(voice.input_rate, 48_000);
    // Nothing above 4 kHz: coded as the narrowband voice it is (band.rs).
    assert_eq!(voice.band, VoiceBand::Narrow);
    assert_eq!(check_packets(&voice, "NB"), 10);
    assert!((tone_frequency(&voice) - 440.0).abs() < 15.0);
}

#[test]
fn calls_with_content_above_4_khz_stay_wideband() {
    for rate in [16_000, 48_000, 32_000] {
        let voice = transcode_voice(&wav_tone(rate, 1, 1.0, 5_000.0), &options()).unwrap();
        assert_eq!(voice.band, VoiceBand::Wide, "{rate} Hz");
        assert_eq!(check_packets(&voice, "WB"), 10, "{rate} Hz");
        let heard = tone_frequency(&voice);
        assert!((heard - 5_000.0).abs() < 150.0, "{rate} Hz: heard {heard} Hz");
    }
}

#[test]
fn the_band_is_decided_from_the_first_10_s_and_the_whole_call_is_encoded() {
    // 12 s: the probe holds 10 s, decides, and the last 2 s go straight to the encoder.
    let voice = transcode_voice(&wav_tone(16_000, 1, 12.0, 600.0), &options()).unwrap();
    assert_eq!(voice.band, VoiceBand::Narrow);
    assert_eq!(check_packets(&voice, "NB"), 120);
    assert!((tone_frequency(&voice) - 600.0).abs() < 15.0);
}

#[test]
fn aac_lc_m4a_at_16_khz_as_trunk_recorder_uploads_it() {
    let voice = transcode_voice(M4A_16K, &options()).unwrap();
    assert_eq!((voice.codec, voice.input_rate), ("aac", 16_000));
    // 1 s of audio plus the AAC encoder's priming (symphonia 0.6 does not apply MP4 edit lists): 11 packets.
    let count = check_packets(&voice, "NB");
    assert!((10..=11).contains(&count), "{count} packets");
    assert!((tone_frequency(&voice) - 600.0).abs() < 15.0);
}

#[test]
fn aac_lc_in_adts() {
    let voice = transcode_voice(ADTS_8K, &options()).unwrap();
    assert_eq!((voice.codec, voice.input_rate), ("aac", 8_000));
    // ADTS carries no gapless information: the encoder's priming and final padding are decoded too.
    let count = check_packets(&voice, "NB");
    assert!((10..=12).contains(&count), "{count} packets");
}

#[test]
fn sdrtrunk_mp3_with_an_id3v2_tag() {
    let voice = transcode_voice(MP3_8K_ID3, &options()).unwrap();
    assert_eq!((voice.codec, voice.input_rate), ("mp3", 8_000));
    assert!((10..=11).contains(&check_packets(&voice, "NB")));
    assert!((tone_frequency(&voice) - 600.0).abs() < 15.0);
}

#[test]
fn other_rates_are_resampled_to_16_khz() {
    let voice = transcode_voice(MP3_44K_STEREO, &options()).unwrap();
    assert_eq!((voice.codec, voice.input_rate), ("mp3", 44_100));
    assert!((10..=11).contains(&check_packets(&voice, "NB")));
    assert!((tone_frequency(&voice) - 600.0).abs() < 15.0);
    for (rate, frequency) in [(22_050, 1000.0), (11_025, 300.0), (32_000, 2500.0)] {
        let voice = transcode_voice(&wav_tone(rate, 1, 2.0, frequency), &options()).unwrap();
        assert_eq!(voice.input_rate, rate);
        // The resampler's delay is trimmed and the output ends with the input: 2 s are 20 packets.
        assert_eq!(check_packets(&voice, "NB"), 20, "{rate} Hz");
        let heard = tone_frequency(&voice);
        assert!((heard - frequency).abs() < frequency * 0.03, "{rate} Hz: heard {heard} Hz");
    }
}

#[test]
fn what_ffmpeg_must_do_is_refused_as_unsupported() {
    // FLAC is not among the formats this path reads; a rate no audio has is not resampled.
    let refusal = transcode_voice(FLAC, &options()).unwrap_err();
    assert_eq!(refusal.code(), "UNSUPPORTED_AUDIO", "{refusal:?}");
    let refusal = transcode_voice(&wav_tone(1_000, 1, 0.5, 100.0), &options()).unwrap_err();
    assert_eq!(refusal.code(), "UNSUPPORTED_AUDIO", "{refusal:?}");
}

#[test]
fn he_aac_signalled_explicitly_is_refused() {
    // AudioSpecificConfig: object type 5 (SBR), core 16 kHz mono, extension 32 kHz, then AAC-LC.
    let mut params = AudioCodecParameters::new();
    params
        .for_codec(CODEC_ID_AAC)
        .with_sample_rate(32_000)
        .with_channels(Channels::Positioned(Position::FRONT_CENTER))
        .with_extra_data(vec![0x2c, 0x0a, 0x88, 0x00].into_boxed_slice());
    let refusal = open_decoder(&params).err().expect("refused");
    assert_eq!(refusal.code(), "UNSUPPORTED_AUDIO", "{refusal:?}");
}

/// FFmpeg writes AAC-LC's AudioSpecificConfig with the backward compatible sync extension saying "no SBR"
/// (`14 08 56 e5 00`); setting its SBR flag (and the 32 kHz extension rate) makes the same file HE-AAC.
fn as_backward_compatible_he_aac(m4a: &[u8]) -> Vec<u8> {
    let mut out = m4a.to_vec();
    let at = out.windows(10).position(|w| w == [0x05, 0x80, 0x80, 0x80, 0x05, 0x14, 0x08, 0x56, 0xe5, 0x00]);
    out[at.expect("FFmpeg's AAC-LC DecoderSpecificInfo") + 9] = 0xa8;
    out
}

#[test]
fn he_aac_signalled_backward_compatibly_is_refused() {
    assert!(!asc_signals_sbr(&[0x14, 0x08, 0x56, 0xe5, 0x00]), "FFmpeg's AAC-LC");
    assert!(asc_signals_sbr(&[0x14, 0x08, 0x56, 0xe5, 0xa8]));
    assert!(asc_signals_sbr(&[0x2c, 0x0a, 0x88, 0x00]), "hierarchical");
    assert!(!asc_signals_sbr(&[0x14, 0x08]));
    assert!(!asc_signals_sbr(&[]));
    let refusal = transcode_voice(&as_backward_compatible_he_aac(M4A_16K), &options()).unwrap_err();
    assert!(matches!(&refusal, Refusal::Unsupported(m) if m.contains("HE-AAC")), "{refusal:?}");
}

#[test]
fn he_aac_signalled_implicitly_is_refused_by_its_container_rate() {
    // AudioSpecificConfig: AAC-LC 16 kHz mono; the sample entry says 32 kHz (the rate after SBR).
    let mut params = AudioCodecParameters::new();
    params
        .for_codec(CODEC_ID_AAC)
        .with_sample_rate(32_000)
        .with_channels(Channels::Positioned(Position::FRONT_CENTER))
        .with_extra_data(vec![0x14, 0x08].into_boxed_slice());
    let refusal = open_decoder(&params).err().expect("refused");
    assert!(matches!(&refusal, Refusal::Unsupported(m) if m.contains("HE-AAC")), "{refusal:?}");
    // The same config in a container that agrees is plain AAC-LC.
    params.with_sample_rate(16_000);
    assert!(open_decoder(&params).is_ok());
}

#[test]
fn bytes_that_are_not_audio_are_refused() {
    let junk: Vec<&[u8]> =
        vec![&[], &[7; 4096], b"not audio at all", &M4A_16K[..200], b"RIFF\x10\0\0\0WAVEfmt "];
    for input in junk {
        assert!(transcode_voice(input, &options()).is_err(), "{} bytes accepted", input.len());
    }
}

#[test]
fn audio_past_max_seconds_is_cut_off() {
    let capped = VoiceOptions { max_seconds: 1, ..options() };
    let voice = transcode_voice(&wav_tone(8_000, 1, 5.0, 600.0), &capped).unwrap();
    assert_eq!(voice.decoded_frames, 8_000);
    assert_eq!(voice.ends.len(), 10);
}

#[test]
fn encoding_stops_at_max_output_bytes() {
    let capped = VoiceOptions { max_output_bytes: 600, ..options() };
    let voice = transcode_voice(&wav_tone(16_000, 1, 10.0, 600.0), &capped).unwrap();
    assert!(voice.data.len() >= 600 && voice.data.len() < 600 + 4000, "{} bytes", voice.data.len());
    assert!(voice.ends.len() < 100);
}

#[test]
fn complexity_changes_the_work_not_the_format() {
    let input = wav_tone(16_000, 1, 1.0, 600.0);
    for complexity in [0, 3, 10] {
        let voice = transcode_voice(&input, &VoiceOptions { complexity, ..options() }).unwrap();
        assert_eq!(check_packets(&voice, "NB"), 10);
    }
}
