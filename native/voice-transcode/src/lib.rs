//! A scanner call's audio to Opus voice packets in process: symphonia demuxes and decodes the formats call uploaders
//! send (WAV PCM, MP3, AAC-LC in MP4/M4A or ADTS), the channels are mixed to mono, and libopus encodes 16 kbit/s
//! voice in 100 ms packets. One FFmpeg process per call costs about 50 ms of CPU before it decodes anything, which
//! caps two cores well below the calls/s Airwave must sustain; this path costs a few ms plus the encoder.
//!
//! Anything this path does not handle exactly as FFmpeg would is a [`Refusal`], never a guess: a container or codec
//! it does not know, HE-AAC (symphonia decodes AAC-LC only), or a packet that fails to decode. The caller then hands
//! the file to FFmpeg, which stays the reference for what is audio. Rates libopus takes (8, 12, 16, 24, 48 kHz) go to
//! it as they are; others are resampled to 16 kHz first ([`resample`]).

pub mod band;
pub mod resample;

use std::io::Cursor;

use band::{BandProbe, VoiceBand};
use resample::{ToVoiceRate, VOICE_RATE};

use symphonia::core::codecs::CodecInfo;
use symphonia::core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as DecodeError;
use symphonia::core::formats::probe::{Hint, Probe, ProbeOptions};
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// Sample rates libopus encodes from directly; its SILK layer resamples internally to the coded bandwidth.
pub const OPUS_INPUT_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

/// How far past the start the probe looks for a container (after any ID3v2 tag): a call file starts with one, so
/// bytes that only look like audio somewhere deep inside are not taken for it.
const PROBE_DEPTH: u32 = 16 * 1024;

/// How the voice is encoded and where it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoiceOptions {
    /// Target bit rate (VBR), bit/s.
    pub bitrate: i32,
    /// libopus complexity 0–10: its CPU cost per second of audio.
    pub complexity: i32,
    /// Audio past this many seconds is dropped (FFmpeg's `-t`).
    pub max_seconds: u32,
    /// Encoding stops once the packets reach this many bytes (FFmpeg's `-fs`).
    pub max_output_bytes: usize,
}

impl Default for VoiceOptions {
    fn default() -> Self {
        Self { bitrate: 16_000, complexity: 3, max_seconds: 600, max_output_bytes: 4 * 1024 * 1024 }
    }
}

/// The encoded call: packets laid end to end in `data`, packet `i` ending at `ends[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoicePackets {
    pub data: Vec<u8>,
    pub ends: Vec<u32>,
    /// The decoded audio's sample rate, which the encoder took as it was.
    pub input_rate: u32,
    /// The source codec: `aac`, `mp3` or `pcm`.
    pub codec: &'static str,
    /// Audio frames decoded (at `input_rate`), after the cut at `max_seconds`.
    pub decoded_frames: u64,
    /// The band the call was coded in ([`band`]).
    pub band: VoiceBand,
}

impl VoicePackets {
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(start, end)| &self.data[start as usize..end as usize])
    }
}

/// Why this path did not transcode the file; the caller then asks FFmpeg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A container, codec, codec feature or sample rate this path does not handle.
    Unsupported(String),
    /// Bytes that did not demux or decode cleanly (or held no audio).
    Undecodable(String),
}

impl Refusal {
    /// The stable code JavaScript branches on.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Unsupported(_) => "UNSUPPORTED_AUDIO",
            Self::Undecodable(_) => "UNDECODABLE_AUDIO",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Unsupported(message) | Self::Undecodable(message) => message,
        }
    }
}

fn undecodable(what: &str, error: DecodeError) -> Refusal {
    match error {
        DecodeError::Unsupported(feature) => Refusal::Unsupported(format!("{what}: unsupported {feature}")),
        other => Refusal::Undecodable(format!("{what}: {other}")),
    }
}

/// Transcodes a whole call held in memory. Never panics on any input (tests/no_panic.rs); the binding still
/// catches one, as a last line.
pub fn transcode_voice(input: &[u8], options: &VoiceOptions) -> Result<VoicePackets, Refusal> {
    let mut format = open_format(input)?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| Refusal::Unsupported("no audio track".into()))?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .ok_or_else(|| Refusal::Unsupported("no audio codec parameters".into()))?
        .clone();
    let (mut decoder, codec) = open_decoder(&params)?;
    let rate = decoder
        .codec_params()
        .sample_rate
        .or(params.sample_rate)
        .ok_or_else(|| Refusal::Unsupported("no sample rate".into()))?;
    let mut resampler = if OPUS_INPUT_RATES.contains(&rate) {
        None
    } else {
        Some(ToVoiceRate::new(rate).map_err(Refusal::Unsupported)?)
    };
    let mut encoder = VoiceSink::new(if resampler.is_some() { VOICE_RATE } else { rate }, options)?;
    let max_frames = u64::from(options.max_seconds) * u64::from(rate);
    let mut decoded_frames = 0u64;
    let mut interleaved: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    while decoded_frames < max_frames && !encoder.full() {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(error) => return Err(undecodable("demuxing", error)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let audio = decoder.decode(&packet).map_err(|error| undecodable("decoding", error))?;
        if audio.spec().rate() != rate {
            return Err(Refusal::Unsupported("the sample rate changes within the file".into()));
        }
        let channels = audio.spec().channels().count();
        if channels == 0 {
            return Err(Refusal::Undecodable("a packet with no channels".into()));
        }
        audio.copy_to_vec_interleaved(&mut interleaved);
        let frames = interleaved.len() / channels;
        // Gapless trimming the demuxer knows of (encoder delay and padding), as FFmpeg applies it.
        let skip = (packet.trim_start.get() as usize).min(frames);
        let keep_end = frames.saturating_sub(packet.trim_end.get() as usize).max(skip);
        let room = (max_frames - decoded_frames) as usize;
        let keep_end = keep_end.min(skip + room);
        mono.clear();
        mono.extend(
            interleaved[skip * channels..keep_end * channels]
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        match resampler.as_mut() {
            Some(resampler) => resampler.push(&mono, &mut |samples| encoder.push_all(samples))?,
            None => encoder.push_all(&mono)?,
        }
        decoded_frames += (keep_end - skip) as u64;
    }
    if decoded_frames == 0 {
        return Err(Refusal::Undecodable("no audio in it".into()));
    }
    if let Some(resampler) = resampler {
        resampler.finish(&mut |samples| encoder.push_all(samples))?;
    }
    let (data, ends, band) = encoder.finish()?;
    Ok(VoicePackets { data, ends, input_rate: rate, codec, decoded_frames, band })
}

fn open_format(input: &[u8]) -> Result<Box<dyn FormatReader + '_>, Refusal> {
    let mut probe =
        Probe::new_with_options(&ProbeOptions { max_probe_depth: PROBE_DEPTH, ..Default::default() });
    symphonia::default::register_enabled_formats(&mut probe);
    let source = MediaSourceStream::new(Box::new(Cursor::new(input)), Default::default());
    probe.probe(&Hint::new(), source, FormatOptions::default(), MetadataOptions::default()).map_err(|error| {
        match error {
            DecodeError::Unsupported(_) => Refusal::Unsupported("not a WAV, MP3, MP4 or ADTS file".into()),
            other => undecodable("probing", other),
        }
    })
}

/// A decoder for `params`, or a refusal for what symphonia would get wrong or cannot do.
pub fn open_decoder(params: &AudioCodecParameters) -> Result<(Box<dyn AudioDecoder>, &'static str), Refusal> {
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|error| match error {
            // symphonia refuses explicitly signalled HE-AAC (SBR, PS) as "aac too complex".
            DecodeError::Unsupported(feature) => Refusal::Unsupported(format!("codec: {feature}")),
            other => undecodable("opening the decoder", other),
        })?;
    let codec = codec_name(decoder.codec_info());
    if params.codec == CODEC_ID_AAC {
        // symphonia 0.6 refuses SBR signalled hierarchically (object type 5 or 29) but reads past the backward
        // compatible signal (AAC-LC, then the 0x2b7 sync extension with SBR present) and would decode the core alone.
        if params.extra_data.as_deref().is_some_and(asc_signals_sbr) {
            return Err(Refusal::Unsupported("HE-AAC (SBR signalled in the AudioSpecificConfig)".into()));
        }
        // Implicitly signalled HE-AAC: the AudioSpecificConfig describes only the AAC-LC core (half the rate), while
        // the container's sample entry has the rate after SBR. symphonia would decode the core alone and lose the
        // upper half of the band, so such a file is FFmpeg's.
        let container_rate = params.sample_rate;
        let core_rate = decoder.codec_params().sample_rate;
        if let (Some(container), Some(core)) = (container_rate, core_rate)
            && container != core
        {
            return Err(Refusal::Unsupported(format!(
                "AAC whose container says {container} Hz over a {core} Hz core (HE-AAC)"
            )));
        }
    }
    Ok((decoder, codec))
}

/// MSB-first bits of an AudioSpecificConfig; reading past the end gives `None`.
struct Bits<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn read(&mut self, count: usize) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..count {
            let byte = *self.bytes.get(self.at / 8)?;
            value = (value << 1) | u32::from((byte >> (7 - self.at % 8)) & 1);
            self.at += 1;
        }
        Some(value)
    }

    fn left(&self) -> usize {
        (self.bytes.len() * 8).saturating_sub(self.at)
    }

    fn object_type(&mut self) -> Option<u32> {
        match self.read(5)? {
            31 => Some(32 + self.read(6)?),
            aot => Some(aot),
        }
    }

    fn sampling_frequency(&mut self) -> Option<()> {
        if self.read(4)? == 15 {
            self.read(24)?;
        }
        Some(())
    }
}

/// Whether an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) signals SBR or PS: object type 5 or 29, or an AAC
/// config followed by the 0x2b7 sync extension with SBR present. Unreadable configs say no; symphonia judges those.
pub fn asc_signals_sbr(asc: &[u8]) -> bool {
    let mut bits = Bits { bytes: asc, at: 0 };
    let mut signals = || -> Option<bool> {
        let object_type = bits.object_type()?;
        bits.sampling_frequency()?;
        let channel_config = bits.read(4)?;
        if object_type == 5 || object_type == 29 {
            return Some(true);
        }
        // GASpecificConfig for the AAC object types; others carry no sync extension this path could meet.
        if !matches!(object_type, 1..=4 | 6 | 7 | 17 | 19..=23) || channel_config == 0 {
            return Some(false);
        }
        bits.read(1)?; // frameLengthFlag
        if bits.read(1)? == 1 {
            bits.read(14)?; // coreCoderDelay
        }
        let extension = bits.read(1)?;
        if object_type == 6 || object_type == 20 {
            bits.read(3)?; // layerNr
        }
        if extension == 1 {
            if object_type == 22 {
                bits.read(16)?; // numOfSubFrame, layer_length
            }
            if matches!(object_type, 17 | 19 | 20 | 23) {
                bits.read(3)?; // resilience flags
            }
            bits.read(1)?; // extensionFlag3
        }
        if bits.left() < 16 || bits.read(11)? != 0x2b7 {
            return Some(false);
        }
        match bits.object_type()? {
            5 | 29 => Some(bits.read(1)? == 1),
            _ => Some(false),
        }
    };
    signals().unwrap_or(false)
}

fn codec_name(info: &CodecInfo) -> &'static str {
    match info.short_name {
        "aac" => "aac",
        "mp3" | "mp1" | "mp2" => "mp3",
        _ => "pcm",
    }
}

/// Where the mono samples go: at rates with an upper band, to the band probe until it has decided, then to an encoder
/// for the band it chose; at 8 and 12 kHz straight to the encoder.
enum VoiceSink<'o> {
    Probing { probe: BandProbe, rate: u32, options: &'o VoiceOptions },
    Encoding { encoder: VoiceEncoder, band: VoiceBand },
}

impl<'o> VoiceSink<'o> {
    fn new(rate: u32, options: &'o VoiceOptions) -> Result<Self, Refusal> {
        if rate <= 12_000 {
            let band = if rate <= 8_000 { VoiceBand::Narrow } else { VoiceBand::Wide };
            return Ok(Self::Encoding { encoder: VoiceEncoder::new(rate, options, band)?, band });
        }
        Ok(Self::Probing { probe: BandProbe::new(rate), rate, options })
    }

    fn full(&self) -> bool {
        matches!(self, Self::Encoding { encoder, .. } if encoder.full())
    }

    fn push_all(&mut self, samples: &[f32]) -> Result<(), Refusal> {
        match self {
            Self::Encoding { encoder, .. } => encoder.push_all(samples),
            Self::Probing { probe, .. } => {
                let rest = probe.take(samples);
                if probe.is_full() {
                    self.start_encoding()?;
                    self.push_all(rest)?;
                }
                Ok(())
            }
        }
    }

    /// Ends the probe: an encoder for the band it found, fed the samples it held.
    fn start_encoding(&mut self) -> Result<(), Refusal> {
        let Self::Probing { probe, rate, options } = self else { return Ok(()) };
        let band = probe.band();
        let mut encoder = VoiceEncoder::new(*rate, options, band)?;
        encoder.push_all(probe.held())?;
        *self = Self::Encoding { encoder, band };
        Ok(())
    }

    fn finish(mut self) -> Result<(Vec<u8>, Vec<u32>, VoiceBand), Refusal> {
        self.start_encoding()?;
        match self {
            Self::Encoding { encoder, band } => {
                let (data, ends) = encoder.finish()?;
                Ok((data, ends, band))
            }
            Self::Probing { .. } => unreachable!("start_encoding always leaves the sink encoding"),
        }
    }
}

/// libopus fed mono float samples, 100 ms at a time.
struct VoiceEncoder {
    encoder: opus::Encoder,
    frame: Vec<f32>,
    frame_len: usize,
    data: Vec<u8>,
    ends: Vec<u32>,
    max_output_bytes: usize,
    scratch: Vec<u8>,
}

/// Largest packet libopus may make for one call (RFC 6716: 120 ms × 1275 bytes per 20 ms frame, with headroom).
const MAX_PACKET_BYTES: usize = 4000;

impl VoiceEncoder {
    fn new(rate: u32, options: &VoiceOptions, band: VoiceBand) -> Result<Self, Refusal> {
        let internal =
            |what: &str, error: opus::Error| Refusal::Unsupported(format!("libopus {what}: {error}"));
        let mut encoder = opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Voip)
            .map_err(|e| internal("encoder", e))?;
        encoder.set_bitrate(opus::Bitrate::Bits(options.bitrate)).map_err(|e| internal("bitrate", e))?;
        encoder.set_complexity(options.complexity).map_err(|e| internal("complexity", e))?;
        // At most 16 kHz voice whatever the input rate, as FFmpeg's `-ar 16000` gives; narrowband when the call has
        // nothing above 4 kHz (band.rs). Lower rates stay as narrow as they are.
        let max_bandwidth = match band {
            VoiceBand::Narrow => opus::Bandwidth::Narrowband,
            VoiceBand::Wide => opus::Bandwidth::Wideband,
        };
        encoder.set_max_bandwidth(max_bandwidth).map_err(|e| internal("bandwidth", e))?;
        encoder.set_signal(opus::Signal::Voice).map_err(|e| internal("signal", e))?;
        encoder.set_expert_frame_duration(opus::FrameSize::Ms100).map_err(|e| internal("frame size", e))?;
        let frame_len = rate as usize / 10;
        Ok(Self {
            encoder,
            frame: Vec::with_capacity(frame_len),
            frame_len,
            data: Vec::new(),
            ends: Vec::new(),
            max_output_bytes: options.max_output_bytes,
            scratch: vec![0; MAX_PACKET_BYTES],
        })
    }

    fn full(&self) -> bool {
        self.data.len() >= self.max_output_bytes
    }

    fn push_all(&mut self, samples: &[f32]) -> Result<(), Refusal> {
        let mut rest = samples;
        while !rest.is_empty() && !self.full() {
            let take = (self.frame_len - self.frame.len()).min(rest.len());
            self.frame.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.frame.len() == self.frame_len {
                self.encode_frame()?;
            }
        }
        Ok(())
    }

    fn encode_frame(&mut self) -> Result<(), Refusal> {
        let written = self
            .encoder
            .encode_float(&self.frame, &mut self.scratch)
            .map_err(|error| Refusal::Undecodable(format!("libopus encode: {error}")))?;
        self.data.extend_from_slice(&self.scratch[..written]);
        self.ends.push(self.data.len() as u32);
        self.frame.clear();
        Ok(())
    }

    /// Encodes what is left, padded with silence to a whole packet (as FFmpeg's libopus wrapper does).
    fn finish(mut self) -> Result<(Vec<u8>, Vec<u32>), Refusal> {
        if !self.frame.is_empty() && !self.full() {
            self.frame.resize(self.frame_len, 0.0);
            self.encode_frame()?;
        }
        Ok((self.data, self.ends))
    }
}
