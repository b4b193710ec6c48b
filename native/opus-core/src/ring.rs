//! A bounded ring of live chunks (sequence, timestamp, bytes) for SSE resume. Chunk bytes live in one
//! preallocated arena, so a push is a copy plus bookkeeping with no allocation, and memory never
//! exceeds the byte budget plus `capacity` small slots.

use std::collections::VecDeque;

use crate::error::{Error, ErrorCode, Result};

#[derive(Debug, Clone, Copy)]
struct Slot {
    sequence: u64,
    timestamp: f64,
    offset: usize,
    len: usize,
    /// How many times the write position had wrapped when this chunk was written. Only chunks of the
    /// previous lap can sit where the next chunk goes.
    lap: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry<'a> {
    pub sequence: u64,
    pub timestamp: f64,
    pub data: &'a [u8],
}

pub struct ChunkRing {
    capacity: usize,
    arena: Vec<u8>,
    slots: VecDeque<Slot>,
    write_offset: usize,
    lap: u64,
    next_sequence: u64,
    total_bytes: usize,
}

impl ChunkRing {
    /// A ring holding at most `capacity` chunks and `byte_budget` bytes; the first chunk pushed gets
    /// `first_sequence`.
    pub fn new(capacity: usize, byte_budget: usize, first_sequence: u64) -> Result<Self> {
        if capacity == 0 || byte_budget == 0 {
            return Err(Error::new(ErrorCode::InvalidArgument, "capacity and byte budget must be positive"));
        }
        Ok(Self {
            capacity,
            arena: vec![0; byte_budget],
            slots: VecDeque::with_capacity(capacity),
            write_offset: 0,
            lap: 0,
            next_sequence: first_sequence,
            total_bytes: 0,
        })
    }

    /// Stores a copy of `data`, evicting the oldest chunks as needed, and returns its sequence.
    pub fn push(&mut self, data: &[u8], timestamp: f64) -> Result<u64> {
        let len = data.len();
        if len > self.arena.len() {
            return Err(Error::new(
                ErrorCode::ChunkTooLarge,
                format!("a {len}-byte chunk exceeds the ring's {}-byte budget", self.arena.len()),
            ));
        }
        if self.slots.len() == self.capacity {
            self.evict_oldest();
        }
        if self.write_offset + len > self.arena.len() {
            // The chunk must be contiguous: skip the arena's tail, dropping the old chunks still in it.
            while self.slots.front().is_some_and(|s| s.lap < self.lap) {
                self.evict_oldest();
            }
            self.lap += 1;
            self.write_offset = 0;
        }
        let end = self.write_offset + len;
        while self.slots.front().is_some_and(|s| s.lap < self.lap && s.offset < end) {
            self.evict_oldest();
        }
        self.arena[self.write_offset..end].copy_from_slice(data);
        let sequence = self.next_sequence;
        self.slots.push_back(Slot { sequence, timestamp, offset: self.write_offset, len, lap: self.lap });
        self.next_sequence += 1;
        self.write_offset = end;
        self.total_bytes += len;
        Ok(sequence)
    }

    fn evict_oldest(&mut self) {
        if let Some(slot) = self.slots.pop_front() {
            self.total_bytes -= slot.len;
        }
    }

    fn entry(&self, slot: &Slot) -> Entry<'_> {
        Entry {
            sequence: slot.sequence,
            timestamp: slot.timestamp,
            data: &self.arena[slot.offset..slot.offset + slot.len],
        }
    }

    /// Chunks with a sequence greater than `sequence`, oldest first. A client further behind than the
    /// ring reaches gets everything still held; compare with [`Self::oldest_sequence`] to detect the gap.
    pub fn read_after(&self, sequence: u64) -> impl ExactSizeIterator<Item = Entry<'_>> {
        let skip = match self.slots.front() {
            Some(oldest) if sequence >= oldest.sequence => {
                usize::try_from(sequence - oldest.sequence + 1).unwrap_or(usize::MAX).min(self.slots.len())
            }
            _ => 0,
        };
        self.slots.range(skip..).map(|slot| self.entry(slot))
    }

    /// The newest `count` chunks, oldest first.
    pub fn latest(&self, count: usize) -> impl ExactSizeIterator<Item = Entry<'_>> {
        let skip = self.slots.len().saturating_sub(count);
        self.slots.range(skip..).map(|slot| self.entry(slot))
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Bytes of the chunks held (not counting the arena's unused space).
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn byte_budget(&self) -> usize {
        self.arena.len()
    }

    pub fn oldest_sequence(&self) -> Option<u64> {
        self.slots.front().map(|s| s.sequence)
    }

    pub fn newest_sequence(&self) -> Option<u64> {
        self.slots.back().map(|s| s.sequence)
    }

    /// Sequence the next pushed chunk will get.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequences<'a>(entries: impl Iterator<Item = Entry<'a>>) -> Vec<u64> {
        entries.map(|e| e.sequence).collect()
    }

    #[test]
    fn push_assigns_sequences_and_read_after_resumes() {
        let mut ring = ChunkRing::new(4, 1024, 1).unwrap();
        for i in 0..3u8 {
            assert_eq!(ring.push(&[i; 10], 100.0 + i as f64).unwrap(), 1 + i as u64);
        }
        assert_eq!(sequences(ring.read_after(1)), vec![2, 3]);
        assert_eq!(sequences(ring.read_after(0)), vec![1, 2, 3]);
        assert!(ring.read_after(3).next().is_none());
        assert!(ring.read_after(99).next().is_none());
        let second = ring.read_after(1).next().unwrap();
        assert_eq!((second.timestamp, second.data), (101.0, &[1u8; 10][..]));
        assert_eq!((ring.len(), ring.total_bytes()), (3, 30));
    }

    #[test]
    fn capacity_evicts_the_oldest() {
        let mut ring = ChunkRing::new(3, 1024, 10).unwrap();
        for i in 0..5u8 {
            ring.push(&[i], 0.0).unwrap();
        }
        assert_eq!(sequences(ring.read_after(0)), vec![12, 13, 14]);
        assert_eq!(
            (ring.oldest_sequence(), ring.newest_sequence(), ring.next_sequence()),
            (Some(12), Some(14), 15)
        );
        assert_eq!(ring.total_bytes(), 3);
    }

    #[test]
    fn byte_budget_evicts_the_oldest_and_data_stays_intact() {
        let mut ring = ChunkRing::new(100, 100, 0).unwrap();
        for i in 0..50u8 {
            ring.push(&vec![i; 30 + (i as usize % 7)], i as f64).unwrap();
            assert!(ring.total_bytes() <= 100);
            for entry in ring.latest(usize::MAX) {
                let expected = entry.sequence as u8;
                assert!(entry.data.iter().all(|&b| b == expected), "chunk {} corrupted", entry.sequence);
                assert_eq!(entry.data.len(), 30 + (expected as usize % 7));
            }
            assert_eq!(ring.newest_sequence(), Some(i as u64));
        }
        assert!(ring.len() >= 2);
    }

    #[test]
    fn latest_returns_the_newest_in_order() {
        let mut ring = ChunkRing::new(10, 1000, 1).unwrap();
        for _ in 0..6 {
            ring.push(b"abc", 0.0).unwrap();
        }
        assert_eq!(sequences(ring.latest(2)), vec![5, 6]);
        assert_eq!(sequences(ring.latest(100)).len(), 6);
        assert_eq!(ring.latest(0).len(), 0);
    }

    #[test]
    fn oversized_chunks_and_bad_sizes_are_rejected() {
        let mut ring = ChunkRing::new(2, 8, 0).unwrap();
        assert_eq!(ring.push(&[0; 9], 0.0).unwrap_err().code, ErrorCode::ChunkTooLarge);
        assert_eq!(ring.push(&[1; 8], 0.0).unwrap(), 0, "a chunk of exactly the budget fits");
        assert_eq!(ChunkRing::new(0, 8, 0).err().unwrap().code, ErrorCode::InvalidArgument);
        assert_eq!(ChunkRing::new(1, 0, 0).err().unwrap().code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn empty_chunks_are_kept_and_cost_no_bytes() {
        let mut ring = ChunkRing::new(4, 4, 0).unwrap();
        ring.push(b"", 0.0).unwrap();
        ring.push(b"abcd", 0.0).unwrap();
        ring.push(b"", 0.0).unwrap();
        assert_eq!(ring.read_after(0).map(|e| e.data.len()).collect::<Vec<_>>(), vec![4, 0]);
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn random_workload_matches_a_simple_model() {
        let mut ring = ChunkRing::new(16, 500, 0).unwrap();
        let mut model: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
        let mut seed = 0x9e37_79b9_u32;
        for step in 0..5000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let len = (seed % 120) as usize;
            let data: Vec<u8> = (0..len).map(|i| (step as usize + i) as u8).collect();
            let sequence = ring.push(&data, step as f64).unwrap();
            model.push_back((sequence, data));
            while model.len() > 16 {
                model.pop_front();
            }
            let held: Vec<(u64, Vec<u8>)> =
                ring.latest(usize::MAX).map(|e| (e.sequence, e.data.to_vec())).collect();
            // The ring may drop more than the model (byte budget), but always the oldest, never corrupting.
            let model_len = model.len();
            assert_eq!(&held[..], &model.make_contiguous()[model_len - held.len()..]);
            assert!(ring.total_bytes() <= 500);
            assert_eq!(ring.total_bytes(), held.iter().map(|(_, d)| d.len()).sum::<usize>());
        }
    }
}
