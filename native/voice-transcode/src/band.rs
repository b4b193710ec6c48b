//! Whether a call holds anything above 4 kHz. Scanner audio almost never does: trunk-recorder and SDRTrunk record at
//! 8 kHz (P25, DMR and NXDN vocoders synthesize 8 kHz speech; analog channels pass about 300–3,000 Hz), and an uploader
//! that converts to 16 kHz (AAC-LC at 16 kHz is common) only adds an empty upper band. Coding that band as Opus
//! wideband costs libopus twice the work of narrowband (SILK at a 16 kHz internal rate with a 16th-order predictor,
//! against 8 kHz and 10th order) and spends bits on silence; coded as narrowband, the same 16 kbit/s go to the band
//! that carries the voice. Calls with real content up there (wideband recordings) stay wideband.
//!
//! The decision is made once per call from its first [`PROBE_SECONDS`] (most calls are shorter, so usually from the
//! whole of it): the energy of its spectrum above [`NARROWBAND_EDGE_HZ`] against the whole spectrum's. The samples held
//! meanwhile are bounded by the window (10 s at 48 kHz: 1.9 MB).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Opus narrowband codes up to this frequency (RFC 6716 §2).
pub const NARROWBAND_EDGE_HZ: f64 = 4_000.0;
/// How much of a call the decision looks at.
pub const PROBE_SECONDS: u32 = 10;
/// Energy above the edge, relative to the whole signal, under which the upper band counts as empty: audio resampled
/// from 8 kHz measures about −55 dB (resampler and AAC noise), wideband speech about −25 dB.
pub const EMPTY_UPPER_BAND_DB: f64 = -40.0;

/// The band a call is coded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceBand {
    /// Nothing above 4 kHz: coded as Opus narrowband.
    Narrow,
    /// Content above 4 kHz: coded as wide as the input rate allows (wideband at most).
    Wide,
}

/// Analysis frames: 20 ms, Hann-windowed, so a bin is 50 Hz wide at any rate and a tone's leakage 14 bins away (a
/// 3.4 kHz voice formant against the 4.1 kHz edge) is below −80 dB.
const FRAMES_PER_SECOND: u32 = 50;
/// Bins within this much of the edge count as voice band: the window's main lobe spreads a tone ±100 Hz.
const EDGE_GUARD_HZ: f64 = 100.0;

/// Holds the first samples of a call and measures them; see the module's description.
pub struct BandProbe {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    edge_bin: usize,
    total: f64,
    upper: f64,
    held: Vec<f32>,
    measured: usize,
    capacity: usize,
}

impl BandProbe {
    /// A probe for mono audio at `rate` (above 8 kHz, where an upper band exists).
    pub fn new(rate: u32) -> Self {
        let frame_len = (rate / FRAMES_PER_SECOND).max(2) as usize;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(frame_len);
        let window = (0..frame_len)
            .map(|n| (0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / frame_len as f64).cos()) as f32)
            .collect();
        let bin_hz = f64::from(rate) / frame_len as f64;
        let edge_bin = ((NARROWBAND_EDGE_HZ + EDGE_GUARD_HZ) / bin_hz).ceil() as usize;
        let capacity = (rate * PROBE_SECONDS) as usize;
        Self {
            frame: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            fft,
            window,
            edge_bin,
            total: 0.0,
            upper: 0.0,
            held: Vec::with_capacity(capacity.min(1 << 20)),
            measured: 0,
            capacity,
        }
    }

    /// Measures and holds what fits of `samples`; returns the rest (non-empty only once the probe is full).
    pub fn take<'s>(&mut self, samples: &'s [f32]) -> &'s [f32] {
        let fit = (self.capacity - self.held.len()).min(samples.len());
        self.held.extend_from_slice(&samples[..fit]);
        let frame_len = self.window.len();
        while self.held.len() - self.measured >= frame_len {
            let chunk = &self.held[self.measured..self.measured + frame_len];
            for ((slot, &sample), &weight) in self.frame.iter_mut().zip(chunk).zip(&self.window) {
                *slot = sample * weight;
            }
            self.measured += frame_len;
            if self.fft.process(&mut self.frame, &mut self.spectrum).is_err() {
                continue;
            }
            for (bin, value) in self.spectrum.iter().enumerate() {
                let power = f64::from(value.norm_sqr());
                self.total += power;
                if bin >= self.edge_bin {
                    self.upper += power;
                }
            }
        }
        &samples[fit..]
    }

    pub fn is_full(&self) -> bool {
        self.held.len() >= self.capacity
    }

    /// The band the call is coded in, from what was measured so far.
    pub fn band(&self) -> VoiceBand {
        let limit = 10f64.powf(EMPTY_UPPER_BAND_DB / 10.0);
        if self.upper <= self.total * limit { VoiceBand::Narrow } else { VoiceBand::Wide }
    }

    /// The samples held so far, to be encoded first.
    pub fn held(&self) -> &[f32] {
        &self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tones(rate: u32, seconds: f64, parts: &[(f64, f32)]) -> Vec<f32> {
        let frames = (f64::from(rate) * seconds) as usize;
        (0..frames)
            .map(|n| {
                let t = n as f64 / f64::from(rate);
                parts.iter().map(|&(f, a)| a * (t * f * std::f64::consts::TAU).sin() as f32).sum()
            })
            .collect()
    }

    fn band_of(rate: u32, samples: &[f32]) -> VoiceBand {
        let mut probe = BandProbe::new(rate);
        probe.take(samples);
        probe.band()
    }

    #[test]
    fn voice_band_tones_are_narrow_and_upper_band_tones_wide() {
        for rate in [16_000, 24_000, 48_000] {
            assert_eq!(
                band_of(rate, &tones(rate, 1.0, &[(300.0, 0.3), (1_000.0, 0.3), (3_400.0, 0.3)])),
                VoiceBand::Narrow
            );
            // 1 % of the energy above the edge (−20 dB) is content.
            assert_eq!(band_of(rate, &tones(rate, 1.0, &[(1_000.0, 0.5), (6_000.0, 0.05)])), VoiceBand::Wide);
        }
    }

    #[test]
    fn the_threshold_sits_at_minus_40_db() {
        // −34 dB above the edge is wide, −46 dB is narrow.
        assert_eq!(band_of(16_000, &tones(16_000, 1.0, &[(1_000.0, 0.5), (6_000.0, 0.01)])), VoiceBand::Wide);
        assert_eq!(
            band_of(16_000, &tones(16_000, 1.0, &[(1_000.0, 0.5), (6_000.0, 0.0025)])),
            VoiceBand::Narrow
        );
    }

    #[test]
    fn silence_is_narrow() {
        assert_eq!(band_of(16_000, &vec![0.0; 16_000]), VoiceBand::Narrow);
        assert_eq!(band_of(16_000, &[]), VoiceBand::Narrow);
    }

    #[test]
    fn the_probe_holds_at_most_its_window_and_returns_the_rest() {
        let mut probe = BandProbe::new(16_000);
        let samples = vec![0.1; 16_000 * PROBE_SECONDS as usize + 500];
        let rest = probe.take(&samples);
        assert_eq!(rest.len(), 500);
        assert!(probe.is_full());
        assert!(probe.take(&samples[..10]).len() == 10);
        assert_eq!(probe.held().len(), 16_000 * PROBE_SECONDS as usize);
    }
}
