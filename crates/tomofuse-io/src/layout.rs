//! The voxel data path shared by the NIfTI and NRRD readers and the NIfTI writer: file order
//! (`i` fastest) <-> tomofuse's C layout (`k` fastest) in ONE pass that also does the byte order,
//! the type conversion and the scaling, over slabs of whole slices.
//!
//! Why: a volume's file order reverses every axis of its memory order. The old path decoded
//! into a second buffer, then let ndarray transpose element by element (strided through 170 MB),
//! and wrote through the `nifti` crate's writer: 10x slower than SimpleITK. Here `S` slices are
//! read at a time and, per tile of rows, `S` consecutive `k` values go to each output row, so
//! both sides stay in cache. The slab reader runs on its own thread: reading (or inflating) the
//! next slab overlaps converting the current one.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use rayon::prelude::*;
use std::io::{Read, Write};

/// Bytes per slab: large enough to amortise a read call and a rayon fan-out, small enough to
/// stay far below the volume.
const SLAB_BYTES: usize = 8 << 20;

/// Rows `i` per reading task: the task's slab rows (`BI` values of each slice row) and output
/// lines stay in L1/L2 while it sweeps `j`.
const BI: usize = 64;

/// Rows `j` per writing task.
const BJ: usize = 8;

/// A stored element type: plain bytes with a byte swap and the conversions to f32 the readers
/// have always used (64-bit integers go through f64, as `decode_f32` does).
pub(crate) trait Raw: bytemuck::Pod + Send + Sync {
    fn swap(self) -> Self;
    /// `self as f64 as f32`, written so the compiler needs no f64 round trip when it is exact.
    fn to_f32(self) -> f32;
    fn to_f64(self) -> f64;
}

macro_rules! raw_int {
    ($($t:ty => $via:ty),*) => {$(
        impl Raw for $t {
            #[inline(always)]
            fn swap(self) -> Self {
                self.swap_bytes()
            }
            #[inline(always)]
            fn to_f32(self) -> f32 {
                self as $via as f32
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
// Integers up to 32 bits are exact in f64, so `as f32` rounds once exactly as `as f64 as f32`.
raw_int!(u8 => f32, i8 => f32, i16 => f32, u16 => f32, i32 => f32, u32 => f32, i64 => f64, u64 => f64);

impl Raw for f32 {
    #[inline(always)]
    fn swap(self) -> Self {
        f32::from_bits(self.to_bits().swap_bytes())
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Raw for f64 {
    #[inline(always)]
    fn swap(self) -> Self {
        f64::from_bits(self.to_bits().swap_bytes())
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
}

/// A zeroed f32 buffer for a volume about to be filled. On Linux its pages are advised to be
/// 2 MiB transparent huge pages: filling a fresh 100+ MB buffer otherwise costs a page fault
/// per 4 KiB, measured at about as much time as the conversion itself.
pub(crate) fn zeroed_f32(n: usize) -> Vec<f32> {
    let mut v = vec![0f32; n];
    #[cfg(target_os = "linux")]
    advise_huge_pages(&mut v);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(v: &mut [f32]) {
    const HUGE: usize = 2 << 20;
    let start = v.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(v);
    let first = start.next_multiple_of(HUGE);
    if end >= first + HUGE {
        let len = (end - first) / HUGE * HUGE;
        // SAFETY: [first, first + len) lies inside `v`'s allocation, which we own mutably.
        // MADV_HUGEPAGE changes only how the kernel backs the pages, never their contents; a
        // refusal (THP disabled, old kernel) is harmless, so the result is ignored.
        unsafe {
            libc::madvise(first as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
}

/// Voxel grid and stored encoding of the data being read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub shape: [usize; 3],
    pub big_endian: bool,
    /// `(slope, inter)` applied in f64.
    pub scale: Option<(f64, f64)>,
}

impl Grid {
    fn plane(&self) -> usize {
        self.shape[0] * self.shape[1]
    }
}

/// Converts whole slices `k0..k0 + planes.len()` (`planes[s]` = slice `k0 + s` in file order,
/// `ni*nj` values) into the C-layout output `dst` (all `ni*nj*nk` voxels).
fn scatter_slices<U: Raw>(planes: &[&[U]], k0: usize, g: &Grid, dst: &mut [f32]) {
    let swap = g.big_endian != cfg!(target_endian = "big");
    match (swap, g.scale) {
        (false, None) => scatter_with(planes, k0, g.shape, dst, |u: U| u.to_f32()),
        (true, None) => scatter_with(planes, k0, g.shape, dst, |u: U| u.swap().to_f32()),
        (false, Some((s, i))) => scatter_with(planes, k0, g.shape, dst, move |u: U| {
            (u.to_f64() * s + i) as f32
        }),
        (true, Some((s, i))) => scatter_with(planes, k0, g.shape, dst, move |u: U| {
            (u.swap().to_f64() * s + i) as f32
        }),
    }
}

/// File order is `[k][j][i]`, the C layout `[i][j][k]`: every axis reverses. A task owns `BI`
/// consecutive `i` (a contiguous piece of the output). For each `j` it converts the slab's
/// slice rows (contiguous, vectorisable) into a small tile, then writes each output row's slab
/// of `k`s from the tile: both memory sides are touched sequentially, the transpose itself
/// happens in L1.
#[inline(always)]
fn scatter_with<U: Copy + Sync, V: Copy + Default + Send, F: Fn(U) -> V + Sync>(
    planes: &[&[U]],
    k0: usize,
    shape: [usize; 3],
    dst: &mut [V],
    conv: F,
) {
    let [ni, nj, nk] = shape;
    let count = planes.len();
    dst.par_chunks_mut(BI * nj * nk)
        .enumerate()
        .for_each(|(b, out)| {
            let i0 = b * BI;
            let bi = out.len() / (nj * nk);
            let mut tile = vec![V::default(); count * bi];
            for j in 0..nj {
                let src = j * ni + i0;
                for (t, plane) in tile.chunks_exact_mut(bi).zip(planes) {
                    for (t, &u) in t.iter_mut().zip(&plane[src..src + bi]) {
                        *t = conv(u);
                    }
                }
                for (ii, row) in out.chunks_exact_mut(nj * nk).enumerate() {
                    let o = &mut row[j * nk + k0..j * nk + k0 + count];
                    for (o, &t) in o.iter_mut().zip(tile[ii..].iter().step_by(bi)) {
                        *o = t;
                    }
                }
            }
        });
}

/// Lays decoded slices `k0..k0 + planes.len()` (file order, `ni*nj` values each) into their
/// place in the C-layout `dst` (the whole volume), for readers that decode slab by slab.
pub(crate) fn planes_into_c(planes: &[&[f32]], k0: usize, shape: [usize; 3], dst: &mut [f32]) {
    scatter_with(planes, k0, shape, dst, |x| x);
}

/// Copies slices `k0..k0 + count` of the C-layout `src` into `dst` (`count` slices, file
/// order), for writers. A task owns `BJ` rows `j` of every slice in the slab; for each `j` it
/// copies the slab's `k`s of every C-layout row `(i, j)` (one cache line each) into a tile,
/// then writes each slice's row from the tile (measured 2x faster than writing the slices
/// straight from the rows).
fn gather_slices<S: Copy + Sync, T: bytemuck::Pod + Send + Sync>(
    src: &[S],
    shape: [usize; 3],
    k0: usize,
    dst: &mut [T],
    conv: &(impl Fn(S) -> T + Sync),
) {
    let [ni, nj, nk] = shape;
    let p_total = ni * nj;
    let count = dst.len() / p_total;
    // Split every slice into blocks of rows and regroup the pieces by block.
    let mut rows: Vec<std::slice::ChunksMut<'_, T>> = dst
        .chunks_mut(p_total)
        .map(|r| r.chunks_mut(BJ * ni))
        .collect();
    let blocks: Vec<Vec<&mut [T]>> = (0..nj.div_ceil(BJ))
        .map(|_| rows.iter_mut().filter_map(|r| r.next()).collect())
        .collect();
    blocks
        .into_par_iter()
        .enumerate()
        .for_each(|(b, mut segs)| {
            let j0 = b * BJ;
            let bj = segs.first().map_or(0, |s| s.len() / ni);
            let mut tile = vec![T::zeroed(); ni * count];
            for jj in 0..bj {
                let (base, stride) = ((j0 + jj) * nk + k0, nj * nk);
                // Slab depths of the usual slice sizes get a fixed-size copy (inlined moves,
                // not a memcpy call per C-layout row).
                match count {
                    4 => fill_tile::<S, T, 4>(&mut tile, src, base, stride, conv),
                    8 => fill_tile::<S, T, 8>(&mut tile, src, base, stride, conv),
                    16 => fill_tile::<S, T, 16>(&mut tile, src, base, stride, conv),
                    32 => fill_tile::<S, T, 32>(&mut tile, src, base, stride, conv),
                    _ => {
                        for (i, t) in tile.chunks_exact_mut(count).enumerate() {
                            let at = base + i * stride;
                            for (t, &v) in t.iter_mut().zip(&src[at..at + count]) {
                                *t = conv(v);
                            }
                        }
                    }
                }
                for (s, seg) in segs.iter_mut().enumerate() {
                    let row = &mut seg[jj * ni..(jj + 1) * ni];
                    for (o, &t) in row.iter_mut().zip(tile[s..].iter().step_by(count)) {
                        *o = t;
                    }
                }
            }
        });
}

/// `tile[i * N..(i + 1) * N] = src[base + i * stride..][..N]` for every `i`.
#[inline(always)]
fn fill_tile<S: Copy, T: Copy, const N: usize>(
    tile: &mut [T],
    src: &[S],
    base: usize,
    stride: usize,
    conv: &impl Fn(S) -> T,
) {
    for (i, t) in tile.chunks_exact_mut(N).enumerate() {
        let at = base + i * stride;
        let t: &mut [T; N] = t.try_into().expect("chunks of N");
        let s: &[S; N] = src[at..at + N].try_into().expect("N values");
        *t = s.map(conv);
    }
}

/// Reads `total` bytes from `r` in slabs of whole slices on a helper thread, handing each slab
/// to `consume(slab, first_slice)` on the calling thread. Returns the bytes read, short of
/// `total` only when the stream ended early (the caller reports the truncation).
fn pipelined<R: Read + Send>(
    mut r: R,
    total: u64,
    slice_bytes: usize,
    slab_bytes: usize,
    mut consume: impl FnMut(&[u8], usize),
) -> std::io::Result<u64> {
    let slices = (total / slice_bytes as u64) as usize;
    let per = (slab_bytes / slice_bytes).clamp(1, slices.max(1));
    let slab = per * slice_bytes;
    // u64 storage keeps every slab 8-byte aligned for the cast to the stored type.
    let new_buf = || vec![0u64; slab.div_ceil(8)];
    let fill = |r: &mut R, buf: &mut Vec<u64>, want: usize| -> std::io::Result<usize> {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(buf.as_mut_slice());
        crate::nii::read_up_to(r, &mut bytes[..want])
    };
    if total <= slab as u64 {
        let mut buf = new_buf();
        let n = fill(&mut r, &mut buf, total as usize)?;
        if n as u64 == total {
            consume(&bytemuck::cast_slice(buf.as_slice())[..n], 0);
        }
        return Ok(n as u64);
    }
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u64>, usize)>(1);
        let (free_tx, free_rx) = std::sync::mpsc::sync_channel::<Vec<u64>>(2);
        free_tx.send(new_buf()).ok();
        free_tx.send(new_buf()).ok();
        let producer = scope.spawn(move || -> std::io::Result<u64> {
            let mut done = 0u64;
            while done < total {
                let Ok(mut buf) = free_rx.recv() else { break };
                let want = (total - done).min(slab as u64) as usize;
                let n = fill(&mut r, &mut buf, want)?;
                done += n as u64;
                if n < want || full_tx.send((buf, n)).is_err() {
                    break;
                }
            }
            Ok(done)
        });
        let mut k0 = 0;
        for (buf, n) in full_rx.iter() {
            consume(&bytemuck::cast_slice(buf.as_slice())[..n], k0);
            k0 += n / slice_bytes;
            // The reader may have finished and gone: keep draining what it sent.
            let _ = free_tx.send(buf);
        }
        drop(free_tx);
        producer.join().expect("slab reader thread panicked")
    })
}

/// Why [`read_volume`] returned no volume.
#[derive(Debug)]
pub(crate) enum ReadFail {
    Io(std::io::Error),
    /// The stream ended after this many bytes.
    Short(u64),
}

/// Reads the voxel data (all voxels' stored bytes, file order) from `r` and returns it as f32
/// in C layout, byte-swapped and scaled in the same pass.
pub(crate) fn read_volume<R: Read + Send>(
    r: R,
    dtype: crate::DType,
    g: &Grid,
) -> std::result::Result<Vec<f32>, ReadFail> {
    read_volume_slabs(r, dtype, g, SLAB_BYTES)
}

fn read_volume_slabs<R: Read + Send>(
    r: R,
    dtype: crate::DType,
    g: &Grid,
    slab_bytes: usize,
) -> std::result::Result<Vec<f32>, ReadFail> {
    use crate::DType as D;
    let n: usize = g.shape.iter().product();
    let total = n as u64 * dtype.size() as u64;
    let slice_bytes = g.plane() * dtype.size();
    // Allocated without touching its pages: memory grows only as slabs are converted.
    let mut out = zeroed_f32(n);
    macro_rules! go {
        ($t:ty) => {
            pipelined(r, total, slice_bytes, slab_bytes, |b, k0| {
                let vals: &[$t] = bytemuck::cast_slice(b);
                let planes: Vec<&[$t]> = vals.chunks_exact(g.plane()).collect();
                scatter_slices::<$t>(&planes, k0, g, &mut out)
            })
        };
    }
    let got = match dtype {
        D::U8 => go!(u8),
        D::I8 => go!(i8),
        D::I16 => go!(i16),
        D::U16 => go!(u16),
        D::I32 => go!(i32),
        D::U32 => go!(u32),
        D::I64 => go!(i64),
        D::U64 => go!(u64),
        D::F32 => go!(f32),
        D::F64 => go!(f64),
    };
    match got {
        Ok(k) if k == total => Ok(out),
        Ok(k) => Err(ReadFail::Short(k)),
        Err(e) => Err(ReadFail::Io(e)),
    }
}

/// Writes the C-layout `src` (shape `[ni, nj, nk]`) in file order, little-endian, into `dst`
/// (all `ni*nj*nk` values): a memory-mapped output file, so the transposing pass writes the
/// page cache directly on every rayon thread, with no buffer and no serial copy behind it.
pub(crate) fn gather_file_order<S: Copy + Sync, T: bytemuck::Pod + Send + Sync>(
    src: &[S],
    shape: [usize; 3],
    dst: &mut [T],
    conv: &(impl Fn(S) -> T + Sync),
) {
    let size = std::mem::size_of::<T>();
    let plane = shape[0] * shape[1];
    let per = (SLAB_BYTES / (plane * size).max(1)).clamp(1, shape[2].max(1));
    for (c, slab) in dst.chunks_mut(per * plane.max(1)).enumerate() {
        gather_slices(src, shape, c * per, slab, conv);
        to_le(slab);
    }
}

/// Puts values in the files' byte order (little-endian): nothing to do on little-endian hosts.
fn to_le<T: bytemuck::Pod>(slab: &mut [T]) {
    let size = std::mem::size_of::<T>();
    if cfg!(target_endian = "big") && size > 1 {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(slab);
        for v in bytes.chunks_exact_mut(size) {
            v.reverse();
        }
    }
}

/// Writes the C-layout `src` (shape `[ni, nj, nk]`) to `w` in file order, little-endian, slab
/// by slab. `sink` receives each slab's bytes.
pub(crate) fn write_file_order<S: Copy + Sync, T: bytemuck::Pod + Send + Sync>(
    src: &[S],
    shape: [usize; 3],
    conv: &(impl Fn(S) -> T + Sync),
    sink: impl FnMut(&[u8]) -> std::io::Result<()> + Send,
) -> std::io::Result<()> {
    write_file_order_slabs(src, shape, SLAB_BYTES, conv, sink)
}

fn write_file_order_slabs<S: Copy + Sync, T: bytemuck::Pod + Send + Sync>(
    src: &[S],
    shape: [usize; 3],
    slab_bytes: usize,
    conv: &(impl Fn(S) -> T + Sync),
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()> + Send,
) -> std::io::Result<()> {
    let size = std::mem::size_of::<T>();
    let plane = shape[0] * shape[1];
    let per = (slab_bytes / (plane * size).max(1)).clamp(1, shape[2]);
    if per >= shape[2] {
        let mut buf: Vec<T> = vec![T::zeroed(); shape[2] * plane];
        gather_slices(src, shape, 0, &mut buf, conv);
        to_le(&mut buf);
        return sink(bytemuck::cast_slice(&buf));
    }
    // Two buffers: the next slab is gathered (on the rayon threads) while a helper thread
    // hands the previous one to `sink` (a write into the page cache, or the gzip deflater).
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<T>, usize)>(1);
        let (free_tx, free_rx) = std::sync::mpsc::sync_channel::<Vec<T>>(2);
        for _ in 0..2 {
            free_tx.send(vec![T::zeroed(); per * plane]).ok();
        }
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for (mut buf, len) in full_rx.iter() {
                to_le(&mut buf[..len]);
                sink(bytemuck::cast_slice(&buf[..len]))?;
                // The gatherer may be done: nothing left to recycle for.
                let _ = free_tx.send(buf);
            }
            Ok(())
        });
        let mut k0 = 0;
        while k0 < shape[2] {
            // Err: the writer stopped on an error, which join() returns below.
            let Ok(mut buf) = free_rx.recv() else { break };
            let count = per.min(shape[2] - k0);
            gather_slices(src, shape, k0, &mut buf[..count * plane], conv);
            if full_tx.send((buf, count * plane)).is_err() {
                break;
            }
            k0 += count;
        }
        drop(full_tx);
        writer.join().expect("slab writer thread panicked")
    })
}

/// Bytes of uncompressed input per independently deflated block: pigz's idea (blocks
/// compressed in parallel, joined by sync flushes into one standard gzip member) with blocks
/// large enough that dropping the 32 KiB history between them costs well under 1% in size.
const GZ_BLOCK: usize = 1 << 20;

/// A gzip writer (one standard member: any gunzip, nibabel or ITK reads it) that deflates
/// blocks of its input on all rayon threads.
pub(crate) struct ParGzWriter<W: Write> {
    inner: W,
    level: Compression,
    pending: Vec<u8>,
    crc: Crc,
    header_done: bool,
}

impl<W: Write> ParGzWriter<W> {
    pub fn new(inner: W, level: Compression) -> Self {
        Self {
            inner,
            level,
            pending: Vec::new(),
            crc: Crc::new(),
            header_done: false,
        }
    }

    fn header(&mut self) -> std::io::Result<()> {
        if !self.header_done {
            // magic, deflate, no flags, no mtime, no extra flags, OS unknown (as flate2 writes).
            self.inner
                .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
            self.header_done = true;
        }
        Ok(())
    }

    /// Deflates `data` (whole blocks; the last one ends the stream when `last`) in parallel.
    fn deflate(&mut self, data: &[u8], last: bool) -> std::io::Result<()> {
        self.header()?;
        let level = self.level;
        let nblocks = data.len().div_ceil(GZ_BLOCK).max(1);
        let out: Vec<(Vec<u8>, Crc)> = (0..nblocks)
            .into_par_iter()
            .map(|b| {
                let chunk =
                    &data[(b * GZ_BLOCK).min(data.len())..((b + 1) * GZ_BLOCK).min(data.len())];
                let mut crc = Crc::new();
                crc.update(chunk);
                let finish = last && b + 1 == nblocks;
                deflate_block(chunk, level, finish).map(|z| (z, crc))
            })
            .collect::<std::io::Result<_>>()?;
        for (z, crc) in out {
            self.inner.write_all(&z)?;
            self.crc.combine(&crc);
        }
        Ok(())
    }

    /// Queues `data`, deflating every whole multiple of the block size.
    pub fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut data = data;
        if !self.pending.is_empty() {
            let take = (GZ_BLOCK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < GZ_BLOCK {
                return Ok(());
            }
            let p = std::mem::take(&mut self.pending);
            self.deflate(&p, false)?;
        }
        let whole = data.len() / GZ_BLOCK * GZ_BLOCK;
        if whole > 0 {
            self.deflate(&data[..whole], false)?;
        }
        self.pending.extend_from_slice(&data[whole..]);
        Ok(())
    }

    /// Ends the deflate stream, writes the gzip trailer and returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        let p = std::mem::take(&mut self.pending);
        self.deflate(&p, true)?;
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

/// Raw deflate of one block: sync-flushed (byte-aligned, not final) so blocks concatenate into
/// one deflate stream, or finished when it is the stream's last block.
fn deflate_block(data: &[u8], level: Compression, finish: bool) -> std::io::Result<Vec<u8>> {
    let mut c = Compress::new(level, false);
    let mut out = Vec::with_capacity(data.len() / 2 + (64 << 10));
    let flush = if finish {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        if out.capacity() - out.len() < (16 << 10) {
            out.reserve(out.capacity());
        }
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        if finish {
            if status == Status::StreamEnd {
                break;
            }
        } else if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            // zlib's rule: a flush is complete once it returns with output space left.
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;
    use crate::dtype::decode_f32;
    use tomofuse_core::{Geometry, Space, Volume};

    const ALL: [DType; 10] = [
        DType::U8,
        DType::I8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::F32,
        DType::F64,
    ];

    fn unit() -> Geometry {
        let id = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        Geometry::new([1.0; 3], [0.0; 3], id, Space::Lps).unwrap()
    }

    /// Deterministic bytes (xorshift): every bit pattern, incl. NaNs and huge 64-bit integers.
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    /// The slab reader gives exactly what the old path gave (`decode_f32`, then the C layout
    /// through `Volume::from_vec_f`), for every type, byte order, scaling and slab split,
    /// including planes that are not a multiple of the task block.
    #[test]
    fn slab_reader_equals_the_old_decode_path() {
        for shape in [[5, 4, 3], [300, 7, 11], [17, 19, 1], [1, 1, 9]] {
            for (t, &dtype) in ALL.iter().enumerate() {
                let n: usize = shape.iter().product();
                let raw = bytes(n * dtype.size(), 77 + t as u64);
                let plane = shape[0] * shape[1] * dtype.size();
                for big_endian in [false, true] {
                    for scale in [None, Some((2.5, -10.0)), Some((1e-3, 7.25))] {
                        let old = Volume::from_vec_f(
                            shape,
                            decode_f32(&raw, dtype, big_endian, scale),
                            unit(),
                        )
                        .unwrap();
                        let old = old.data.as_slice().unwrap();
                        let g = Grid {
                            shape,
                            big_endian,
                            scale,
                        };
                        for slab in [1, plane, 3 * plane + 1, usize::MAX / 2] {
                            let new = read_volume_slabs(raw.as_slice(), dtype, &g, slab).unwrap();
                            assert!(
                                same(&new, old),
                                "{dtype} {shape:?} big {big_endian} {scale:?} slab {slab}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn short_stream_is_reported_with_its_length() {
        let g = Grid {
            shape: [4, 3, 5],
            big_endian: false,
            scale: None,
        };
        let raw = bytes(4 * 3 * 5 * 2 - 3, 5);
        for slab in [24, 1 << 20] {
            match read_volume_slabs(raw.as_slice(), DType::I16, &g, slab) {
                Err(ReadFail::Short(n)) => assert_eq!(n, raw.len() as u64, "slab {slab}"),
                other => panic!("slab {slab}: {other:?}"),
            }
        }
    }

    #[test]
    fn writer_emits_file_order() {
        for shape in [[5, 4, 3], [300, 7, 11], [1, 1, 9], [13, 7, 40]] {
            let n: usize = shape.iter().product();
            let vals: Vec<i16> = (0..n).map(|v| (v as i16).wrapping_mul(31)).collect();
            let vol = Volume::from_vec_c(shape, vals, unit()).unwrap();
            let want: Vec<u8> = vol
                .to_vec_f()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let plane = shape[0] * shape[1] * 2;
            // Slab depths 1, 2, 4, 8, 16, 32 (the fixed-size copies), odd, the whole volume.
            let depths = [1, 2, 4, 8, 16, 32].map(|d| d * plane);
            for slab in depths.into_iter().chain([2 * plane + 5, usize::MAX / 2]) {
                let mut got = Vec::new();
                write_file_order_slabs(vol.data.as_slice().unwrap(), shape, slab, &|x| x, |b| {
                    got.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
                assert_eq!(got, want, "{shape:?} slab {slab}");
            }
        }
    }

    #[test]
    fn planes_assemble_like_from_vec_f() {
        let shape = [300, 7, 5];
        let planes: Vec<Vec<f32>> = (0..5)
            .map(|k| (0..2100).map(|p| (k * 10_000 + p) as f32).collect())
            .collect();
        let flat: Vec<f32> = planes.iter().flatten().copied().collect();
        let old = Volume::from_vec_f(shape, flat, unit()).unwrap();
        // Laid out in uneven slabs (2 + 3 slices), as the DICOM reader does.
        let refs: Vec<&[f32]> = planes.iter().map(Vec::as_slice).collect();
        let mut got = vec![f32::NAN; 300 * 7 * 5];
        planes_into_c(&refs[..2], 0, shape, &mut got);
        planes_into_c(&refs[2..], 2, shape, &mut got);
        assert_eq!(got, old.data.as_slice().unwrap());
    }

    /// One standard gzip member (a single-member decoder reads all of it), whatever the
    /// write sizes, including empty input.
    #[test]
    fn parallel_gzip_is_one_standard_member() {
        let mut data = bytes(GZ_BLOCK * 3 + 12_345, 9);
        for (i, b) in data.iter_mut().enumerate() {
            if (i / 1000) % 3 == 0 {
                *b = (i % 7) as u8; // compressible runs
            }
        }
        for pieces in [vec![data.len()], vec![10, GZ_BLOCK, 1, GZ_BLOCK * 2 + 5]] {
            let mut w = ParGzWriter::new(Vec::new(), Compression::fast());
            let mut at = 0usize;
            for p in pieces.iter().chain(std::iter::once(&usize::MAX)) {
                let end = at.saturating_add(*p).min(data.len());
                w.write_all(&data[at..end]).unwrap();
                at = end;
            }
            let z = w.finish().unwrap();
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(z.as_slice())
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == data, "pieces {pieces:?}");
        }
        let z = ParGzWriter::new(Vec::new(), Compression::fast())
            .finish()
            .unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(z.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert!(back.is_empty());
    }
}
