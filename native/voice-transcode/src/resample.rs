//! Mono audio at a rate libopus does not take (44.1, 22.05, 11.025, 32 kHz, …) to 16 kHz voice, as FFmpeg's
//! `-ar 16000` does, with rubato's FFT resampler (fixed ratio, anti-aliased), chunk by chunk so a long call is never
//! held whole. Its delay is trimmed at the start and the output ends where the input does.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

/// The rate calls are resampled to.
pub const VOICE_RATE: u32 = 16_000;
/// Input rates this stage accepts; outside them a file is not audio this path knows (and FFT sizes stay small).
pub const RESAMPLED_RATES: std::ops::RangeInclusive<u32> = 4_000..=192_000;
const CHUNK_FRAMES: usize = 1024;

pub struct ToVoiceRate {
    resampler: Fft<f32>,
    pending: Vec<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
    /// Output frames still to drop at the start (the resampler's delay).
    delay_left: usize,
    input_frames: u64,
    emitted: u64,
    ratio: f64,
}

impl ToVoiceRate {
    pub fn new(input_rate: u32) -> Result<Self, String> {
        if !RESAMPLED_RATES.contains(&input_rate) {
            return Err(format!("sample rate {input_rate} Hz"));
        }
        let resampler =
            Fft::<f32>::new(input_rate as usize, VOICE_RATE as usize, CHUNK_FRAMES, 1, FixedSync::Input)
                .map_err(|error| format!("resampler for {input_rate} Hz: {error}"))?;
        let delay_left = resampler.output_delay();
        let output = vec![0.0; resampler.output_frames_max()];
        let input = vec![0.0; resampler.input_frames_max()];
        Ok(Self {
            resampler,
            pending: Vec::new(),
            input,
            output,
            delay_left,
            input_frames: 0,
            emitted: 0,
            ratio: f64::from(VOICE_RATE) / f64::from(input_rate),
        })
    }

    /// Takes `samples`; hands whatever is resampled so far to `sink`.
    pub fn push<E>(
        &mut self,
        samples: &[f32],
        sink: &mut impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.pending.extend_from_slice(samples);
        self.input_frames += samples.len() as u64;
        let mut start = 0;
        while self.pending.len() - start >= self.resampler.input_frames_next() {
            let need = self.resampler.input_frames_next();
            let written = self.process(start, need, None);
            start += need;
            self.emit(written, u64::MAX, sink)?;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Resamples what is left and the resampler's tail, up to the length the input stands for.
    pub fn finish<E>(mut self, sink: &mut impl FnMut(&[f32]) -> Result<(), E>) -> Result<(), E> {
        let expected = (self.input_frames as f64 * self.ratio).ceil() as u64;
        // The delay is under two chunks; a bound keeps this loop finite whatever happens.
        for _ in 0..8 {
            if self.emitted >= expected {
                break;
            }
            let left = self.pending.len().min(self.resampler.input_frames_next());
            let written = self.process(0, left, Some(left));
            self.pending.drain(..left);
            self.emit(written, expected, sink)?;
        }
        Ok(())
    }

    /// Runs one chunk from `pending[start..start + len]` (zero-padded when `partial`); returns frames written.
    fn process(&mut self, start: usize, len: usize, partial: Option<usize>) -> usize {
        let need = self.resampler.input_frames_next();
        self.input[..len].copy_from_slice(&self.pending[start..start + len]);
        self.input[len..need].fill(0.0);
        let input = InterleavedSlice::new(&self.input[..need], 1, need);
        let capacity = self.output.len();
        let output = InterleavedSlice::new_mut(&mut self.output[..], 1, capacity);
        let (Ok(input), Ok(mut output)) = (input, output) else { return 0 };
        let indexing = partial.map(|n| Indexing::new().partial_len(n));
        self.resampler
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .map_or(0, |(_, written)| written)
    }

    fn emit<E>(
        &mut self,
        written: usize,
        limit: u64,
        sink: &mut impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<(), E> {
        let skip = self.delay_left.min(written);
        self.delay_left -= skip;
        let room = limit.saturating_sub(self.emitted).min((written - skip) as u64) as usize;
        if room > 0 {
            sink(&self.output[skip..skip + room])?;
            self.emitted += room as u64;
        }
        Ok(())
    }
}
