//! examples/common/huge_buffer.rs (examples/remux's in-memory files) behaves as
//! `std::io::Cursor<Vec<u8>>` does: the same bytes, positions, reads and errors after the
//! same sequence of writes, seeks and reads, including writes past the end (zero-filled
//! gaps) and growth past the expected size.

use std::io::{Cursor, Read, Seek, SeekFrom, Write};

#[path = "../examples/common/huge_buffer.rs"]
mod huge_buffer;
use huge_buffer::HugeBuffer;

/// A small deterministic generator (xorshift64*), so that a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs `steps` random operations on both, comparing every result and the final bytes;
/// returns the final length.
fn compare(expected_len: usize, seed: u64, steps: usize, max_write: u64) -> usize {
    let mut ours = HugeBuffer::with_expected_len(expected_len);
    let mut std = Cursor::new(Vec::new());
    let mut rng = Rng(seed);
    for step in 0..steps {
        let len = std.get_ref().len() as u64;
        match rng.below(10) {
            // Mostly appends and overwrites, as a muxer does.
            0..=5 => {
                let n = rng.below(max_write) as usize;
                let fill = (step % 251) as u8;
                let data: Vec<u8> = (0..n).map(|i| fill.wrapping_add(i as u8)).collect();
                assert_eq!(ours.write(&data).ok(), std.write(&data).ok(), "step {step}");
            }
            6 => {
                // Anywhere up to a little past the end (a gap to zero-fill).
                let to = rng.below(len + 70_000);
                assert_eq!(
                    ours.seek(SeekFrom::Start(to)).ok(),
                    std.seek(SeekFrom::Start(to)).ok()
                );
            }
            7 => {
                // From one byte before the start to a little past the end.
                let by = rng.below(len + 70_000) as i64 - len as i64 - 1;
                let a = ours.seek(SeekFrom::End(by));
                let b = std.seek(SeekFrom::End(by));
                assert_eq!(a.is_ok(), b.is_ok(), "step {step}: End({by})");
                assert_eq!(a.ok(), b.ok());
            }
            8 => {
                // From one byte before the start to a little past the end.
                let pos = std.position() as i64;
                let by = rng.below(len + 70_000) as i64 - pos - 1;
                let a = ours.seek(SeekFrom::Current(by));
                let b = std.seek(SeekFrom::Current(by));
                assert_eq!(a.is_ok(), b.is_ok(), "step {step}: Current({by})");
                assert_eq!(a.ok(), b.ok());
            }
            _ => {
                let n = rng.below(max_write) as usize;
                let (mut a, mut b) = (vec![0; n], vec![0; n]);
                assert_eq!(ours.read(&mut a).ok(), std.read(&mut b).ok(), "step {step}");
                assert_eq!(a, b, "step {step}: bytes read");
            }
        }
        assert_eq!(ours.stream_position().ok(), std.stream_position().ok());
    }
    assert_eq!(ours.as_slice(), std.get_ref().as_slice());
    std.get_ref().len()
}

#[test]
fn small_writes_without_an_expected_size() {
    assert!(compare(0, 1, 3000, 5000) > 100_000);
}

#[test]
fn small_writes_into_a_small_expected_size() {
    assert!(compare(1000, 2, 3000, 5000) > 100_000);
}

#[test]
fn growth_past_the_expected_size() {
    // The capacity for 2 MiB expected is 4 MiB (2 MiB blocks for 1.25 times as much):
    // growing past 8 MiB means at least two regrowths.
    assert!(compare(2 << 20, 3, 1000, 256 * 1024) > 8 << 20);
}

#[test]
fn large_writes_across_blocks() {
    assert!(compare(6 << 20, 4, 300, 1 << 20) > 4 << 20);
}

#[test]
fn empty_buffer() {
    let mut ours = HugeBuffer::with_expected_len(0);
    assert_eq!(ours.as_slice(), b"");
    let mut byte = [7u8; 4];
    assert_eq!(ours.read(&mut byte).unwrap(), 0);
    assert!(ours.seek(SeekFrom::Current(-1)).is_err());
    // A gap before the first write is zero-filled, as Cursor does.
    ours.seek(SeekFrom::Start(3)).unwrap();
    ours.write_all(b"ab").unwrap();
    assert_eq!(ours.as_slice(), b"\0\0\0ab");
}
