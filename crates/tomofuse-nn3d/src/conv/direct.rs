//! Direct stride-1 and stride-2 convolutions on AVX-512: forward, input gradient (gather
//! form) and weight gradient, with no column matrix at all.
//!
//! For stride 1, the input under one tap of a run of consecutive outputs is a run of
//! consecutive inputs (within a row; within a plane or the whole volume when the padding keeps
//! the size). So each tap is one (masked) vector load per 16 outputs, multiplied into
//! `CB` output channels at once with broadcast weights: `CB x NV` accumulators stay in
//! registers over every input channel and tap, and the output is written once. The masks
//! zero the lanes whose input falls in the padding, so the input is never copied or padded.
//! This is how oneDNN's direct convolutions avoid im2col; here on plain NCDHW tensors. For
//! stride 2 the input is first split into even and odd columns, which makes every tap read
//! consecutive values again.
//!
//! The im2col + GEMM kernel stays the reference and the path for other strides, 1x1x1,
//! kernels wider than [`MAX_K`] and machines without AVX-512.

use super::kernels::{Geom, SyncPtr};

/// Widest kernel side handled (7: ResNet's stem).
const MAX_K: usize = 7;

/// Outputs per batch item and channel below which the im2col + GEMM path is taken: a
/// register block covers 16 consecutive outputs, so on the 2^3 and 1^3 volumes deep in a
/// ResNet most lanes would idle, while the column matrix there is tiny. Measured on the
/// ResNet50-3D (w 0.25) fine-tuning step's layers (example `tiny_ab`): at 4^3 outputs and more
/// the direct kernels are faster, at 2^3 and 1^3 they took 1.3-3x im2col's time.
const MIN_OUTPUTS: usize = 64;

thread_local! {
    /// `None`: the direct kernels where they pay (the default); `Some(true)`: wherever they
    /// apply, whatever the size; `Some(false)`: never. For convolutions called from this
    /// thread.
    static FORCE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Whether this machine runs the direct convolution kernels (AVX-512F).
pub fn direct_conv_supported() -> bool {
    imp::detected()
}

/// Runs `f` with the direct convolution kernels forced wherever they apply (`true`, even on
/// outputs too small for them to pay) or off (`false`), for the convolutions called from this
/// thread: tests and benchmarks compare them with the im2col path on the same machine.
pub fn with_direct_conv<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
    let before = FORCE.with(|e| e.replace(Some(enabled)));
    let r = f();
    FORCE.with(|e| e.set(before));
    r
}

/// Whether the direct kernel handles `g` (a forward geometry, or the gather form of an input
/// gradient) on this machine and thread.
pub(super) fn available(g: &Geom) -> bool {
    let applies = (g.stride == 1 || (g.stride == 2 && g.k != [1, 1, 1]))
        && !g.is_pointwise()
        && g.k.iter().all(|&k| (1..=MAX_K).contains(&k))
        && imp::detected();
    match FORCE.with(|e| e.get()) {
        Some(force) => force && applies,
        None => applies && g.s_out() >= MIN_OUTPUTS,
    }
}

/// y = conv(x, w) (+ bias, then ReLU), N*Cout*S_out. Call only when [`available`] holds.
pub(super) fn fwd(g: &Geom, x: &[f32], w: &[f32], bias: Option<&[f32]>, relu: bool) -> Vec<f32> {
    let len = g.n * g.cout * g.s_out();
    // Not zero-filled: the runs cover every output exactly once, so zeroing would be a whole
    // extra pass over the output.
    let mut y: Vec<f32> = Vec::with_capacity(len);
    imp::fwd(g, x, w, bias, relu, SyncPtr::new(y.as_mut_ptr()));
    // SAFETY: `imp::fwd` wrote all `len` elements (every run of every channel of every batch
    // item and group, the runs tiling each channel's outputs).
    unsafe { y.set_len(len) };
    y
}

/// gx = the gradient of conv(x, w) against x, for `gy` the output's gradient (also the
/// transposed convolution's forward). Call only when [`available`] holds.
pub(super) fn bwd_input(g: &Geom, gy: &[f32], w: &[f32]) -> Vec<f32> {
    imp::bwd_input(g, gy, w)
}

/// gw = the gradient of conv(x, w) against w, for `gy` the output's gradient. Call only when
/// [`available`] holds.
pub(super) fn bwd_weight(g: &Geom, x: &[f32], gy: &[f32]) -> Vec<f32> {
    imp::bwd_weight(g, x, gy)
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::x86_64::*;

    use rayon::prelude::*;

    use super::super::kernels::transpose_weights;
    use super::{Geom, MAX_K, SyncPtr};

    /// Lanes per vector.
    const L: usize = 16;
    /// Vectors (runs of 16 outputs) per tile.
    const NV: usize = 4;
    /// Output channels per register block: CB * NV accumulators + NV inputs + 1 weight <= 32.
    const CB: usize = 6;
    const MAX_TAPS: usize = MAX_K * MAX_K * MAX_K;

    pub(super) fn detected() -> bool {
        std::is_x86_feature_detected!("avx512f")
    }

    /// One run of up to 16 consecutive outputs of one channel plane: its first flat output
    /// index, its length and the output coordinates of its first lane.
    #[derive(Clone, Copy)]
    struct Seg {
        q0: usize,
        len: usize,
        at: [usize; 3],
        /// Column phase of a gather run (outputs at stride * j + phase); 0 otherwise.
        phase: usize,
    }

    /// Runs of at most 16 outputs whose inputs under any tap are consecutive too: a whole
    /// row; whole planes when the rows keep their width; the whole volume when the planes
    /// keep their size too.
    fn segments(g: &Geom) -> Vec<Seg> {
        let [d, h, w] = g.o;
        let unit = if g.stride != 1 || g.o[2] != g.i[2] {
            w
        } else if g.o[1] != g.i[1] {
            h * w
        } else {
            d * h * w
        };
        let total = d * h * w;
        let mut v = Vec::with_capacity(total / L + total / unit.max(1) + 1);
        let mut u0 = 0;
        while u0 < total {
            let u1 = (u0 + unit).min(total);
            let mut q = u0;
            while q < u1 {
                let len = (u1 - q).min(L);
                v.push(Seg {
                    q0: q,
                    len,
                    phase: 0,
                    at: [q / (h * w), (q / w) % h, q % w],
                });
                q += len;
            }
            u0 = u1;
        }
        v
    }

    /// Weights as [group][co block][ci][tap][c], c < the block's width: the order the
    /// register block reads them.
    fn pack_weights(g: &Geom, w: &[f32]) -> Vec<f32> {
        // Each block of cb output channels keeps its place and is transposed from
        // [c][ci, tap] to [ci, tap][c]: written in order (no zero fill first), read from the
        // block's cb rows side by side.
        let (cout_g, m) = (g.cout_g(), g.cin_g() * g.kvol());
        let mut p = Vec::with_capacity(w.len());
        for gr in 0..g.groups {
            let mut c0 = 0;
            while c0 < cout_g {
                let cb = (cout_g - c0).min(CB);
                let start = (gr * cout_g + c0) * m;
                let rows = &w[start..start + cb * m];
                if cb == CB {
                    let r: [&[f32]; CB] = std::array::from_fn(|c| &rows[c * m..(c + 1) * m]);
                    for j in 0..m {
                        p.extend_from_slice(&r.map(|row| row[j]));
                    }
                } else {
                    for j in 0..m {
                        p.extend((0..cb).map(|c| rows[c * m + j]));
                    }
                }
                c0 += cb;
            }
        }
        p
    }

    /// The input as the kernels address it. For stride 2 each channel is split into its even
    /// and odd columns (two half-width volumes), so that every tap again reads consecutive
    /// values for consecutive outputs; for stride 1 it is the input itself.
    struct View<'a> {
        data: std::borrow::Cow<'a, [f32]>,
        /// Values per input channel.
        ch: usize,
        /// Row length: W, or ceil(W / 2) split.
        wh: usize,
        /// Flat offset of each tap (a, b, e), relative to a run's `base`.
        toff: Vec<isize>,
    }

    impl<'a> View<'a> {
        fn new(g: &Geom, x: &'a [f32]) -> Self {
            let (s, dil, pad) = (g.stride, g.dil as isize, g.pad as isize);
            let [di, hi, wi] = g.i;
            let wh = wi.div_ceil(s);
            let ch = s * di * hi * wh;
            let data = if s == 1 {
                std::borrow::Cow::Borrowed(x)
            } else {
                let mut v = vec![0f32; g.n * g.cin * ch];
                v.par_chunks_mut(ch)
                    .zip(x.par_chunks(g.s_in()))
                    .for_each(|(dst, src)| {
                        for (r, half) in dst.chunks_mut(di * hi * wh).enumerate() {
                            for (drow, srow) in half.chunks_mut(wh).zip(src.chunks(wi)) {
                                for (d, v) in drow.iter_mut().zip(srow.iter().skip(r).step_by(s)) {
                                    *d = *v;
                                }
                            }
                        }
                    });
                std::borrow::Cow::Owned(v)
            };
            let (s_i, plane, row) = (s as isize, (di * hi * wh) as isize, wh as isize);
            let mut toff = Vec::with_capacity(g.kvol());
            for a in 0..g.k[0] as isize {
                for b in 0..g.k[1] as isize {
                    for e in 0..g.k[2] as isize {
                        // Column s * ow + e * dil - pad = s * (ow + q) + r: phase r, shift q.
                        let (q, r) = (
                            (e * dil - pad).div_euclid(s_i),
                            (e * dil - pad).rem_euclid(s_i),
                        );
                        toff.push(r * plane + (a * dil * hi as isize + b * dil) * row + q);
                    }
                }
            }
            Self { data, ch, wh, toff }
        }

        /// The first input channel of batch item n, group gr.
        fn channels(&self, g: &Geom, n: usize, gr: usize) -> *const f32 {
            self.data[(n * g.cin + gr * g.cin_g()) * self.ch..].as_ptr()
        }
    }

    /// Per-call constants shared by all tiles.
    struct Ctx<'a> {
        /// The geometry the tiles run: for a gather, the transposed one (channels summed =
        /// the forward's outputs, channels produced = the forward's inputs).
        g: &'a Geom,
        x: View<'a>,
        /// Values per output channel in the buffer the runs address.
        y_ch: usize,
        /// For a gather: the forward geometry whose input gradient it computes.
        gather: Option<&'a Geom>,
        wp: Vec<f32>,
        bias: Option<&'a [f32]>,
        relu: bool,
        segs: Vec<Seg>,
    }

    pub(super) fn fwd(
        g: &Geom,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        relu: bool,
        y: SyncPtr,
    ) {
        let ctx = Ctx {
            g,
            x: View::new(g, x),
            y_ch: g.s_out(),
            gather: None,
            wp: pack_weights(g, w),
            bias,
            relu,
            segs: segments(g),
        };
        run_all(&ctx, y);
    }

    /// Every tile of every batch item and group, in parallel jobs of whole tiles.
    fn run_all(ctx: &Ctx, y: SyncPtr) {
        let g = ctx.g;
        let ntile = ctx.segs.len().div_ceil(NV);
        let units = g.n * g.groups;
        // Enough jobs for rayon to balance two or more threads, few enough to amortise them.
        let per = (units * ntile)
            .div_ceil(16 * rayon::current_num_threads())
            .clamp(1, 64);
        let jobs_per_unit = ntile.div_ceil(per);
        (0..units * jobs_per_unit).into_par_iter().for_each(|j| {
            let (u, jt) = (j / jobs_per_unit, j % jobs_per_unit);
            let t0 = jt * per;
            let t1 = (t0 + per).min(ntile);
            // SAFETY: `available` checked AVX-512F; each job writes only the outputs of its own
            // tiles (disjoint runs of its own batch item and group), all inside y.
            unsafe { run_tiles(ctx, u / g.groups, u % g.groups, t0, t1, y) };
        });
    }

    /// Runs per chunk of the weight gradient: one chunk's gradient rows for one register
    /// block (8 channels x 64 runs x 64 bytes = 32 KiB) stay in cache over every input channel
    /// and tap.
    const WG_RUNS: usize = 64;
    /// Fixed groups of chunks whose partial sums are added in order, so that the weight
    /// gradient does not depend on thread scheduling.
    const WG_GROUPS: usize = 8;
    /// Taps of a kernel row per weight-gradient register block (C x KW accumulators); longer
    /// rows are cut into pieces of KW.
    const KW: usize = 3;

    pub(super) fn bwd_weight(g: &Geom, x: &[f32], gy: &[f32]) -> Vec<f32> {
        let segs = segments(g);
        let xv = View::new(g, x);
        let nchunk = segs.len().div_ceil(WG_RUNS);
        let units = g.n * g.groups * nchunk;
        let per = units.div_ceil(WG_GROUPS).max(1);
        let len = g.cout * g.cin_g() * g.kvol();
        let partials: Vec<Vec<f32>> = (0..units.div_ceil(per))
            .into_par_iter()
            .map(|grp| {
                let mut acc = vec![0f32; len];
                for u in grp * per..((grp + 1) * per).min(units) {
                    let (ng, ch) = (u / nchunk, u % nchunk);
                    let runs = &segs[ch * WG_RUNS..((ch + 1) * WG_RUNS).min(segs.len())];
                    // SAFETY: `available` checked AVX-512F; the chunk's runs lie
                    // inside the output, their masked inputs inside the input.
                    unsafe { wg_chunk(g, &xv, gy, ng / g.groups, ng % g.groups, runs, &mut acc) };
                }
                acc
            })
            .collect();
        let mut gw = vec![0f32; len];
        for p in &partials {
            gw.iter_mut().zip(p).for_each(|(a, b)| *a += *b);
        }
        gw
    }

    /// Adds one chunk of runs (batch item `n`, group `gr`) into `acc` (Cout x Cin_g x kvol).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn wg_chunk(
        g: &Geom,
        xv: &View,
        gy: &[f32],
        n: usize,
        gr: usize,
        runs: &[Seg],
        acc: &mut [f32],
    ) {
        let (cin_g, cout_g, kvol, s_out) = (g.cin_g(), g.cout_g(), g.kvol(), g.s_out());
        let [kd, kh, kw] = g.k;
        let s_in = xv.ch;
        let rm: Vec<RunMasks> = runs.iter().map(|s| RunMasks::new(g, xv.wh, s)).collect();
        let nr = runs.len();
        let x_g = xv.channels(g, n, gr);
        let gy_g = &gy[(n * g.cout + gr * cout_g) * s_out..];
        // Kernel rows (a, b) cut into pieces of up to KW taps (e0..e0 + KW); per piece, each
        // run's masks for its taps (zero past the row's end) and its input offset, and the
        // offsets of its taps from its first.
        let ng = kw.div_ceil(KW);
        let np = kd * kh * ng;
        let mut masks = vec![[0u16; KW]; np * nr];
        let mut offs = vec![0isize; np * nr];
        let mut eo = vec![[0isize; KW]; np];
        let mut pieces = Vec::with_capacity(np);
        for a in 0..kd {
            for b in 0..kh {
                for e0 in (0..kw).step_by(KW) {
                    let pc = (a * kh + b) * ng + e0 / KW;
                    let t0 = (a * kh + b) * kw + e0;
                    let width = (kw - e0).min(KW);
                    let row_off = xv.toff[t0];
                    eo[pc] = std::array::from_fn(|j| {
                        if j < width {
                            xv.toff[t0 + j] - row_off
                        } else {
                            0
                        }
                    });
                    let mut any = 0u16;
                    for (r, m) in rm.iter().enumerate() {
                        let tm: [u16; KW] =
                            std::array::from_fn(
                                |j| if j < width { m.tap(a, b, e0 + j) } else { 0 },
                            );
                        any |= tm.iter().fold(0, |x, y| x | y);
                        masks[pc * nr + r] = tm;
                        offs[pc * nr + r] = m.base + row_off;
                    }
                    if any != 0 {
                        pieces.push((pc, t0, width));
                    }
                }
            }
        }
        // The register block's gradient rows, copied run by run into one contiguous block
        // (zero past each run's length): read once per input channel and kernel row.
        let mut gbuf = vec![0f32; nr * CB_W * L];
        let mut c0 = 0;
        while c0 < cout_g {
            let cb = (cout_g - c0).min(CB_W);
            for (r, s) in runs.iter().enumerate() {
                for c in 0..cb {
                    let dst = &mut gbuf[(r * cb + c) * L..][..L];
                    dst[..s.len].copy_from_slice(&gy_g[(c0 + c) * s_out + s.q0..][..s.len]);
                    dst[s.len..].fill(0.0);
                }
            }
            let gp = gbuf.as_ptr();
            for ci in 0..cin_g {
                let xc = x_g.wrapping_add(ci * s_in);
                for &(pc, t0, width) in &pieces {
                    let (m, o, e) = (&masks[pc * nr..][..nr], &offs[pc * nr..][..nr], eo[pc]);
                    // SAFETY: forwarded; gbuf holds nr x cb vectors.
                    let sums = unsafe {
                        match cb {
                            4 => wg_block::<4>(xc, gp, e, m, o),
                            3 => wg_block::<3>(xc, gp, e, m, o),
                            2 => wg_block::<2>(xc, gp, e, m, o),
                            _ => wg_block::<1>(xc, gp, e, m, o),
                        }
                    };
                    for c in 0..cb {
                        let co = gr * cout_g + c0 + c;
                        let dst = &mut acc[(co * cin_g + ci) * kvol + t0..][..width];
                        for (j, d) in dst.iter_mut().enumerate() {
                            *d += sums[c * KW + j];
                        }
                    }
                }
            }
            c0 += cb;
        }
    }

    /// Output channels per register block of the weight gradient: CB_W x KW accumulators +
    /// KW inputs + 1 gradient vector <= 32 registers.
    const CB_W: usize = 4;

    /// sum over the chunk's runs of gy[c] * x[tap e] for C channels and the KW taps of one
    /// kernel row: C x KW vector accumulators, reduced to scalars at the end (returned as
    /// [c * KW + e], the first C * KW used).
    #[target_feature(enable = "avx512f")]
    #[inline(never)]
    unsafe fn wg_block<const C: usize>(
        xc: *const f32,
        gbuf: *const f32,
        eo: [isize; KW],
        masks: &[[u16; KW]],
        offs: &[isize],
    ) -> [f32; CB_W * KW] {
        let mut acc = [[_mm512_setzero_ps(); KW]; C];
        for (r, (m, &o)) in masks.iter().zip(offs).enumerate() {
            // SAFETY: only the lanes set in the masks are read, inside the input channel.
            let xv: [__m512; KW] = std::array::from_fn(|e| unsafe {
                _mm512_maskz_loadu_ps(m[e], xc.wrapping_offset(o + eo[e]))
            });
            let gp = gbuf.wrapping_add(r * C * L);
            for (c, row) in acc.iter_mut().enumerate() {
                // SAFETY: run r's C gradient vectors follow gp.
                let gv = unsafe { _mm512_loadu_ps(gp.add(c * L)) };
                for e in 0..KW {
                    row[e] = _mm512_fmadd_ps(gv, xv[e], row[e]);
                }
            }
        }
        let mut out = [0f32; CB_W * KW];
        for (c, row) in acc.iter().enumerate() {
            for e in 0..KW {
                out[c * KW + e] = _mm512_reduce_add_ps(row[e]);
            }
        }
        out
    }

    /// Coordinates (d, h, w) of the 16 lanes of a run starting at `at`.
    #[inline]
    fn lane_coords(at: [usize; 3], len: usize, o: [usize; 3]) -> [[usize; 3]; L] {
        let mut c = [[0usize; 3]; L];
        let [mut d, mut h, mut w] = at;
        for p in c.iter_mut().take(len) {
            *p = [d, h, w];
            w += 1;
            if w == o[2] {
                w = 0;
                h += 1;
                if h == o[1] {
                    h = 0;
                    d += 1;
                }
            }
        }
        c
    }

    /// One run's flat input index at the origin tap (lane 0) and, per axis and tap position,
    /// the lanes whose input lies inside the volume.
    struct RunMasks {
        base: isize,
        md: [u16; MAX_K],
        mh: [u16; MAX_K],
        mw: [u16; MAX_K],
    }

    impl RunMasks {
        /// No run: every lane masked off.
        const EMPTY: Self = Self {
            base: 0,
            md: [0; MAX_K],
            mh: [0; MAX_K],
            mw: [0; MAX_K],
        };

        /// `wh`: the input view's row length.
        fn new(g: &Geom, wh: usize, s: &Seg) -> Self {
            let (st, pad, dil) = (g.stride, g.pad as isize, g.dil as isize);
            let [di, hi, wi] = g.i;
            let (id0, ih0) = ((st * s.at[0]) as isize - pad, (st * s.at[1]) as isize - pad);
            let mut r = Self {
                base: (id0 * hi as isize + ih0) * wh as isize + s.at[2] as isize,
                ..Self::EMPTY
            };
            if s.at[2] + s.len <= g.o[2] {
                // Within one row (the common case): depth and height are the same for every
                // lane, and the lanes inside along the row are one range.
                let all = lane_range(0, s.len);
                let inside = |c: isize, n: usize| c >= 0 && c < n as isize;
                for a in 0..g.k[0] {
                    r.md[a] = if inside(id0 + a as isize * dil, di) {
                        all
                    } else {
                        0
                    };
                }
                for b in 0..g.k[1] {
                    r.mh[b] = if inside(ih0 + b as isize * dil, hi) {
                        all
                    } else {
                        0
                    };
                }
                for e in 0..g.k[2] {
                    // Lane l reads column st * (at + l) + off: inside for lo <= l < hi.
                    let (st_i, off) = (st as isize, e as isize * dil - pad);
                    let first = (st * s.at[2]) as isize + off;
                    let lo = if first >= 0 {
                        0
                    } else {
                        (-first + st_i - 1) / st_i
                    };
                    let hi_l = if first >= wi as isize {
                        0
                    } else {
                        (wi as isize - first + st_i - 1) / st_i
                    };
                    r.mw[e] = lane_range(
                        lo.min(s.len as isize) as usize,
                        hi_l.min(s.len as isize) as usize,
                    );
                }
                return r;
            }
            let c = lane_coords(s.at, s.len, g.o);
            for a in 0..g.k[0] {
                r.md[a] = lanes_in(&c, 0, st, s.len, a as isize * dil - pad, di);
            }
            for b in 0..g.k[1] {
                r.mh[b] = lanes_in(&c, 1, st, s.len, b as isize * dil - pad, hi);
            }
            for e in 0..g.k[2] {
                r.mw[e] = lanes_in(&c, 2, st, s.len, e as isize * dil - pad, wi);
            }
            r
        }

        /// Lanes whose input under tap (a, b, e) lies inside the volume.
        #[inline]
        fn tap(&self, a: usize, b: usize, e: usize) -> u16 {
            self.md[a] & self.mh[b] & self.mw[e]
        }
    }

    /// Lanes lo..hi as a mask.
    #[inline]
    fn lane_range(lo: usize, hi: usize) -> u16 {
        if lo >= hi {
            return 0;
        }
        let upto = |n: usize| if n >= L { u16::MAX } else { (1u16 << n) - 1 };
        upto(hi) & !upto(lo)
    }

    /// Lanes (of `len`) whose input coordinate along `axis`, `stride * c + off`, lies in
    /// `0..n`.
    #[inline]
    fn lanes_in(
        c: &[[usize; 3]; L],
        axis: usize,
        stride: usize,
        len: usize,
        off: isize,
        n: usize,
    ) -> u16 {
        let mut m = 0u16;
        for (l, cl) in c.iter().enumerate().take(len) {
            let v = (stride * cl[axis]) as isize + off;
            if v >= 0 && v < n as isize {
                m |= 1 << l;
            }
        }
        m
    }

    /// Tiles `t0..t1` of batch item `n`, group `gr`.
    #[target_feature(enable = "avx512f")]
    unsafe fn run_tiles(ctx: &Ctx, n: usize, gr: usize, t0: usize, t1: usize, y: SyncPtr) {
        let g = ctx.g;
        let (cin_g, cout_g, kvol, s_out) = (g.cin_g(), g.cout_g(), g.kvol(), ctx.y_ch);
        let s_in = ctx.x.ch;
        let x_g = ctx.x.channels(g, n, gr);
        let mut offs = [0isize; MAX_TAPS * NV];
        let mut masks = [0u16; MAX_TAPS * NV];
        let mut active = [0usize; MAX_TAPS];
        for tile in t0..t1 {
            let segs = &ctx.segs[tile * NV..((tile + 1) * NV).min(ctx.segs.len())];
            let nact = if let Some(f) = ctx.gather {
                gather_taps(f, segs, &mut masks, &mut offs, &mut active)
            } else {
                forward_taps(ctx, segs, &mut masks, &mut offs, &mut active)
            };
            let mut c0 = 0;
            let mut wpo = gr * cout_g * cin_g * kvol;
            while c0 < cout_g {
                let cb = (cout_g - c0).min(CB);
                let wb = ctx.wp[wpo..].as_ptr();
                let acts = &active[..nact];
                let (om, oo) = (&masks[..nact * NV], &offs[..nact * NV]);
                let yo = (n * g.cout + gr * cout_g + c0) * s_out;
                let out = Out {
                    y: y.get().wrapping_add(yo),
                    s_out,
                    segs,
                    bias: ctx.bias.map(|b| &b[gr * cout_g + c0..]),
                    relu: ctx.relu,
                };
                // SAFETY: forwarded; the block's weights are cb * kvol * cin_g values from wpo.
                unsafe {
                    match cb {
                        6 => block::<6>(x_g, s_in, cin_g, wb, kvol, acts, om, oo, &out),
                        5 => block::<5>(x_g, s_in, cin_g, wb, kvol, acts, om, oo, &out),
                        4 => block::<4>(x_g, s_in, cin_g, wb, kvol, acts, om, oo, &out),
                        3 => block::<3>(x_g, s_in, cin_g, wb, kvol, acts, om, oo, &out),
                        2 => block::<2>(x_g, s_in, cin_g, wb, kvol, acts, om, oo, &out),
                        _ => block::<1>(x_g, s_in, cin_g, wb, kvol, acts, om, oo, &out),
                    }
                }
                wpo += cb * kvol * cin_g;
                c0 += cb;
            }
        }
    }

    /// The tap table of one tile of forward runs: per active tap, each run's lane mask and
    /// input offset. Returns the number of active taps (those with any lane inside).
    fn forward_taps(
        ctx: &Ctx,
        segs: &[Seg],
        masks: &mut [u16],
        offs: &mut [isize],
        active: &mut [usize],
    ) -> usize {
        let g = ctx.g;
        let rm: [RunMasks; NV] = std::array::from_fn(|v| {
            segs.get(v)
                .map_or(RunMasks::EMPTY, |s| RunMasks::new(g, ctx.x.wh, s))
        });
        tap_table(g.k, masks, offs, active, |[a, b, e], t, v| {
            (rm[v].tap(a, b, e), rm[v].base + ctx.x.toff[t])
        })
    }

    /// Fills the tap table of one tile: `lane(tap (a, b, e), flat tap t, run v)` gives run v's
    /// lane mask and offset under that tap. Returns the number of active taps, those with a
    /// lane inside for some run, listed first.
    fn tap_table(
        k: [usize; 3],
        masks: &mut [u16],
        offs: &mut [isize],
        active: &mut [usize],
        mut lane: impl FnMut([usize; 3], usize, usize) -> (u16, isize),
    ) -> usize {
        let mut nact = 0;
        let mut t = 0;
        for a in 0..k[0] {
            for b in 0..k[1] {
                for e in 0..k[2] {
                    let mut any = 0u16;
                    for v in 0..NV {
                        let (m, o) = lane([a, b, e], t, v);
                        masks[nact * NV + v] = m;
                        offs[nact * NV + v] = o;
                        any |= m;
                    }
                    if any != 0 {
                        active[nact] = t;
                        nact += 1;
                    }
                    t += 1;
                }
            }
        }
        nact
    }

    /// The tap table of one tile of gather runs (input gradient of the forward geometry
    /// `f`): run at (d, h, j) of phase r holds the input-gradient positions (d, h, s * j + r);
    /// tap (a, b, e) reaches them from output (d + p - a * dil) / s, likewise for h and for
    /// the column, where the division is exact (else the tap does not reach them).
    fn gather_taps(
        f: &Geom,
        segs: &[Seg],
        masks: &mut [u16],
        offs: &mut [isize],
        active: &mut [usize],
    ) -> usize {
        let (s, pad, dil) = (f.stride as isize, f.pad as isize, f.dil as isize);
        let [od, oh, ow] = f.o.map(|v| v as isize);
        // Output index reached along one axis from position c by tap k, if any.
        let reach = |c: isize, k: usize, n: isize| {
            let num = c + pad - k as isize * dil;
            (num.rem_euclid(s) == 0 && num >= 0 && num / s < n).then_some(num / s)
        };
        tap_table(f.k, masks, offs, active, |[a, b, e], _, v| {
            let Some(sg) = segs.get(v) else {
                return (0, 0);
            };
            let num = sg.phase as isize + pad - e as isize * dil;
            match (
                reach(sg.at[0] as isize, a, od),
                reach(sg.at[1] as isize, b, oh),
                num.rem_euclid(s),
            ) {
                (Some(d), Some(h), 0) => {
                    // Lane l reads output column j0 + l + q.
                    let first = sg.at[2] as isize + num.div_euclid(s);
                    let lo = (-first).clamp(0, sg.len as isize) as usize;
                    let hi = (ow - first).clamp(0, sg.len as isize) as usize;
                    (lane_range(lo, hi), (d * oh + h) * ow + first)
                }
                _ => (0, 0),
            }
        })
    }

    /// gx = the gradient of conv(x, w) against x (`g` the forward geometry), gathered per
    /// input position: for stride 2 over the even and odd columns as two phases, written to
    /// a phase buffer and interleaved at the end.
    pub(super) fn bwd_input(g: &Geom, gy: &[f32], w: &[f32]) -> Vec<f32> {
        let s = g.stride;
        let [di, hi, wi] = g.i;
        let wp = wi.div_ceil(s);
        // The transposed geometry: sums over the forward's outputs, produces its inputs.
        let gt = Geom {
            cin: g.cout,
            cout: g.cin,
            i: g.o,
            o: [di, hi, wp],
            ..*g
        };
        let wt = transpose_weights(g, w, false);
        // Runs ordered by column phase and row parities, so that the runs of one tile
        // share their set of reaching taps.
        let mut segs = Vec::new();
        let rows = |n: usize| (0..s).flat_map(move |p| (p..n).step_by(s));
        for r in 0..s {
            let wr = (wi - r.min(wi)).div_ceil(s);
            for d in rows(di) {
                for h in rows(hi) {
                    let mut j = 0;
                    while j < wr {
                        let len = (wr - j).min(L);
                        segs.push(Seg {
                            q0: ((r * di + d) * hi + h) * wp + j,
                            len,
                            at: [d, h, j],
                            phase: r,
                        });
                        j += len;
                    }
                }
            }
        }
        let y_ch = s * di * hi * wp;
        let ctx = Ctx {
            g: &gt,
            x: View {
                data: std::borrow::Cow::Borrowed(gy),
                ch: g.s_out(),
                wh: g.o[2],
                toff: Vec::new(),
            },
            y_ch,
            gather: Some(g),
            wp: pack_weights(&gt, &wt),
            bias: None,
            relu: false,
            segs,
        };
        let len = g.n * g.cin * y_ch;
        let mut pb: Vec<f32> = vec![0f32; len];
        run_all(&ctx, SyncPtr::new(pb.as_mut_ptr()));
        if s == 1 {
            return pb;
        }
        let mut gx = vec![0f32; g.n * g.cin * g.s_in()];
        gx.par_chunks_mut(g.s_in())
            .zip(pb.par_chunks(y_ch))
            .for_each(|(dst, src)| {
                for (r, half) in src.chunks(di * hi * wp).enumerate() {
                    for (drow, srow) in dst.chunks_mut(wi).zip(half.chunks(wp)) {
                        for (d, v) in drow.iter_mut().skip(r).step_by(s).zip(srow) {
                            *d = *v;
                        }
                    }
                }
            });
        gx
    }

    /// Where one register block's results go.
    struct Out<'a> {
        /// Output channel c0 of this batch item (channel stride `s_out`).
        y: *mut f32,
        s_out: usize,
        segs: &'a [Seg],
        bias: Option<&'a [f32]>,
        relu: bool,
    }

    /// C output channels x NV runs: accumulate every active tap and input channel in
    /// registers, then store once (bias, ReLU) with each run's length mask.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block<const C: usize>(
        x: *const f32,
        s_in: usize,
        cin: usize,
        w: *const f32,
        w_taps: usize,
        active: &[usize],
        masks: &[u16],
        offs: &[isize],
        out: &Out,
    ) {
        let mut acc = [[_mm512_setzero_ps(); NV]; C];
        let kvol_w = w_taps;
        for ci in 0..cin {
            let xc = x.wrapping_add(ci * s_in);
            let wc = w.wrapping_add(ci * kvol_w * C);
            for (i, &t) in active.iter().enumerate() {
                // SAFETY: only the lanes set in the mask are read, and those lie inside
                // channel ci's input (the masks were built from the coordinates).
                let xv: [__m512; NV] = std::array::from_fn(|v| unsafe {
                    _mm512_maskz_loadu_ps(masks[i * NV + v], xc.wrapping_offset(offs[i * NV + v]))
                });
                let wt = wc.wrapping_add(t * C);
                for (c, row) in acc.iter_mut().enumerate() {
                    // SAFETY: C weights of this (ci, tap) follow wt.
                    let wv = _mm512_set1_ps(unsafe { *wt.add(c) });
                    for v in 0..NV {
                        row[v] = _mm512_fmadd_ps(wv, xv[v], row[v]);
                    }
                }
            }
        }
        for (c, row) in acc.iter().enumerate() {
            let b = _mm512_set1_ps(out.bias.map_or(0.0, |b| b[c]));
            for (v, s) in out.segs.iter().enumerate() {
                let mut r = _mm512_add_ps(row[v], b);
                if out.relu {
                    r = _mm512_max_ps(r, _mm512_setzero_ps());
                }
                let m = if s.len == L {
                    u16::MAX
                } else {
                    (1u16 << s.len) - 1
                };
                // SAFETY: the run's `len` outputs of channel c lie inside y.
                unsafe { _mm512_mask_storeu_ps(out.y.wrapping_add(c * out.s_out + s.q0), m, r) };
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    use super::{Geom, SyncPtr};

    pub(super) fn bwd_weight(_: &Geom, _: &[f32], _: &[f32]) -> Vec<f32> {
        unreachable!("direct::available is false off x86_64")
    }

    pub(super) fn bwd_input(_: &Geom, _: &[f32], _: &[f32]) -> Vec<f32> {
        unreachable!("direct::available is false off x86_64")
    }

    pub(super) fn detected() -> bool {
        false
    }

    pub(super) fn fwd(_: &Geom, _: &[f32], _: &[f32], _: Option<&[f32]>, _: bool, _: SyncPtr) {
        unreachable!("direct::available is false off x86_64")
    }
}
