//! The region of interest after IBSI preprocessing: a cropped image with separate
//! morphological and intensity masks, discretised grey levels and IVH levels.

use crate::error::{RadiomicsError, Result};
use crate::settings::{BinAnchor, Discretisation, NgDefinition, Settings};
use tomofuse_core::{GeometryTolerance, Mask, Volume};

/// Local-intensity sphere radius: the radius of a 1 cm^3 sphere, in mm.
pub const PEAK_RADIUS_MM: f64 = 6.203_504_908_994;

/// Most grey levels a discretisation may produce (histograms and per-level arrays).
pub const MAX_GREY_LEVELS: usize = 100_000;

/// Preprocessed ROI on a cropped grid stored `[z][y][x]` (x = index axis i, z = index axis k).
#[derive(Debug, Clone)]
pub struct Roi {
    /// `[nz, ny, nx]` of the crop.
    pub dims: [usize; 3],
    /// Voxel size `[sz, sy, sx]` in mm.
    pub spacing: [f64; 3],
    /// Intensities of the whole crop (the margin feeds the local-intensity spheres).
    pub img: Vec<f64>,
    /// Morphological mask (never resegmented).
    pub morph: Vec<bool>,
    /// Intensity mask (morphological mask after resegmentation).
    pub int_mask: Vec<bool>,
    /// Grey level per voxel: 1..=ng inside the intensity mask, 0 outside.
    pub gl: Vec<u32>,
    /// Number of grey levels.
    pub ng: usize,
    /// IVH: level value per intensity-mask voxel (same order as `values`), and the level grid.
    pub ivh: IvhLevels,
    /// Intensities of the intensity-mask voxels (scan order).
    pub values: Vec<f64>,
    /// `gl` with a border of level 0, made on first use ([`Roi::padded`]).
    padded: std::sync::OnceLock<Padded>,
    /// Position of the crop's first voxel in the (resampled) image, `[z, y, x]`.
    pub crop_lo: [usize; 3],
}

/// A crop's slices `zs` on a zero-padded grid: one voxel of padding in y and x, and in z for
/// 3D, with the offsets of the 8 (2D) or 26 (3D) neighbours and of the 4 or 6 face
/// neighbours in padded index space. Padding voxels stand for "outside the crop", so a
/// neighbour at distance 1 is one fixed offset away, with no bounds test.
#[derive(Debug, Clone)]
pub struct PaddedGrid {
    /// Padded dims (z, y, x).
    pub dims: [usize; 3],
    /// Padding in z (0 for one 2D slice, 1 for 3D).
    pz: usize,
    /// Offsets of the 8 or 26 neighbours (dz, dy, dx each over -1..=1, in that loop order).
    pub all: Vec<isize>,
    /// Offsets of the 4 or 6 face neighbours.
    pub faces: Vec<isize>,
}

impl PaddedGrid {
    /// The grid of `nzs` slices of `ny x nx`, padded in z when `d3`.
    pub fn new(ny: usize, nx: usize, nzs: usize, d3: bool) -> Self {
        let pz = usize::from(d3);
        let dims = [nzs + 2 * pz, ny + 2, nx + 2];
        let mut grid = Self {
            dims,
            pz,
            all: Vec::new(),
            faces: Vec::new(),
        };
        let zr = if d3 { -1..=1 } else { 0..=0 };
        for dz in zr {
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    if (dz, dy, dx) == (0, 0, 0) {
                        continue;
                    }
                    let o = grid.offset([dz, dy, dx]);
                    grid.all.push(o);
                    if dz.abs() + dy.abs() + dx.abs() == 1 {
                        grid.faces.push(o);
                    }
                }
            }
        }
        grid
    }

    /// Flat offset of the step `d` (components -1, 0 or 1; `d[0] = 0` on a 2D grid).
    #[inline]
    pub fn offset(&self, d: [isize; 3]) -> isize {
        (d[0] * self.dims[1] as isize + d[1]) * self.dims[2] as isize + d[2]
    }

    /// Padded index of crop voxel (z, y, x), z relative to the first slice of the range.
    #[inline]
    pub fn index(&self, z: usize, y: usize, x: usize) -> usize {
        ((z + self.pz) * self.dims[1] + y + 1) * self.dims[2] + x + 1
    }

    /// Index `i` moved by offset `o` (stays on the grid for a voxel of the range and a step
    /// of distance 1).
    #[inline]
    pub fn step(i: usize, o: isize) -> usize {
        i.wrapping_add_signed(o)
    }

    /// Copies `src` (crop order) for slices `zs` into a padded array.
    pub fn fill<T: Copy + Default>(
        &self,
        roi: &Roi,
        zs: &std::ops::Range<usize>,
        src: &[T],
    ) -> Vec<T> {
        let [_, ny, nx] = roi.dims;
        let mut out = vec![T::default(); self.dims.iter().product()];
        for (zi, z) in zs.clone().enumerate() {
            for y in 0..ny {
                let s = (z * ny + y) * nx;
                let d = self.index(zi, y, 0);
                out[d..d + nx].copy_from_slice(&src[s..s + nx]);
            }
        }
        out
    }
}

/// A [`Roi`]'s grey levels on the 3D [`PaddedGrid`] of all its slices ([`Roi::padded`]).
#[derive(Debug, Clone)]
pub struct Padded {
    pub grid: PaddedGrid,
    /// Grey level per voxel, 0 outside the intensity mask and on the border.
    pub gl: Vec<u32>,
    /// Padded index of every intensity-mask voxel, in scan order (z, y, x).
    pub ids: Vec<usize>,
}

impl Padded {
    /// [`Padded::ids`] of the voxels in slices `zs` (a contiguous part: ids grow with z).
    pub fn ids_in(&self, zs: std::ops::Range<usize>) -> &[usize] {
        let (lo, hi) = (
            self.grid.index(zs.start, 0, 0),
            self.grid.index(zs.end, 0, 0),
        );
        let a = self.ids.partition_point(|&i| i < lo);
        let b = self.ids.partition_point(|&i| i < hi);
        &self.ids[a..b]
    }

    /// [`Padded::ids_in`] split by grid row (same z and y): each part's voxels lie on one
    /// row, between its first and last id.
    pub fn rows_in(&self, zs: std::ops::Range<usize>) -> impl Iterator<Item = &[usize]> {
        let w = self.grid.dims[2];
        self.ids_in(zs).chunk_by(move |a, b| a / w == b / w)
    }

    /// Offsets (padded index space) of the rows of a voxel's 3 x 3 (2D) or 3 x 3 x 3 (3D)
    /// neighbourhood: `(dz, dy)` over `-1..=1` (dz = 0 in 2D), x unchanged.
    pub fn neighbour_rows(&self, d3: bool) -> Vec<isize> {
        let zr = if d3 { -1..=1 } else { 0..=0 };
        zr.flat_map(|dz| (-1isize..=1).map(move |dy| self.grid.offset([dz, dy, 0])))
            .collect()
    }
}

/// The discrete intensity levels used by the intensity-volume histogram.
#[derive(Debug, Clone)]
pub struct IvhLevels {
    /// Level value of each intensity-mask voxel.
    pub voxel_levels: Vec<f64>,
    /// Lowest and highest level of the range, and the step between levels.
    pub min: f64,
    pub max: f64,
    pub step: f64,
}

impl Roi {
    /// Inclusive (z, y, x) bounds of the intensity mask's voxels; None when it is empty.
    pub fn int_mask_bounds(&self) -> Option<([usize; 3], [usize; 3])> {
        let [nz, ny, nx] = self.dims;
        let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    if self.int_mask[self.idx(z, y, x)] {
                        for (a, v) in [z, y, x].into_iter().enumerate() {
                            lo[a] = lo[a].min(v);
                            hi[a] = hi[a].max(v);
                        }
                    }
                }
            }
        }
        (lo[0] != usize::MAX).then_some((lo, hi))
    }

    /// Index of voxel (z, y, x) in the crop arrays.
    #[inline]
    pub fn idx(&self, z: usize, y: usize, x: usize) -> usize {
        (z * self.dims[1] + y) * self.dims[2] + x
    }

    /// Validates inputs, interpolates (when configured), crops, resegments and discretises.
    pub fn build(image: &Volume<f32>, mask: &Mask, label: u8, s: &Settings) -> Result<Self> {
        Ok(Self::build_on_grid(image, mask, label, s)?.0)
    }

    /// As [`Roi::build`], also returning the whole image the ROI was cut from (the input, or
    /// its interpolation): IBSI-2 filters that image, not the crop, so the boundary condition
    /// acts at the image border.
    pub fn build_on_grid<'a>(
        image: &'a Volume<f32>,
        mask: &Mask,
        label: u8,
        s: &Settings,
    ) -> Result<(Self, std::borrow::Cow<'a, Volume<f32>>)> {
        let tol = match s.pyradiomics.geometry_tolerance {
            // ITK's coordinate tolerance is relative to the spacing.
            Some(t) => {
                let sp = image
                    .geometry
                    .spacing
                    .iter()
                    .cloned()
                    .fold(f64::INFINITY, f64::min);
                GeometryTolerance {
                    spacing: t * sp,
                    origin: t * sp,
                    direction: t,
                }
            }
            None => GeometryTolerance::default(),
        };
        image.check_same_grid(mask, &tol)?;
        let resampled = match &s.interpolation {
            Some(interp) => Some(crate::interp::resample(image, mask, label, interp)?),
            None => None,
        };
        let roi = {
            // Without interpolation the inputs are read in place (no copies): the ROI is
            // `mask == label`; a resampled mask is already binary (ROI: non-zero).
            let (image, mask, want) = match &resampled {
                Some((img, msk)) => (img, msk, None),
                None => (image, mask, Some(label)),
            };
            let sp = image.geometry.spacing;
            let shape = image.shape();
            match (image.data.as_slice(), mask.data.as_slice()) {
                (Some(idata), Some(mdata)) => {
                    Self::build_std_slices(idata, mdata, shape, sp, want, label, s)?
                }
                _ => {
                    // Non-standard layouts (not produced by tomofuse's readers): standard copies.
                    let img =
                        Volume::new(image.data.as_standard_layout().into_owned(), image.geometry)?;
                    let msk =
                        Volume::new(mask.data.as_standard_layout().into_owned(), mask.geometry)?;
                    Self::build_std(&img, &msk, want, label, s)?
                }
            }
        };
        let grid = match resampled {
            Some((img, _)) => std::borrow::Cow::Owned(img),
            None => std::borrow::Cow::Borrowed(image),
        };
        Ok((roi, grid))
    }

    /// The ROI crop of a whole-image `[i, j, k]` array on the grid the ROI was cut from
    /// (e.g. a filter response), in the crop's `[z][y][x]` order.
    pub fn crop_of(&self, a: &ndarray::Array3<f64>) -> Vec<f64> {
        self.crop_from(a, [0; 3])
    }

    /// The crop's box on the grid it was cut from, along `[i, j, k]`.
    pub fn grid_box(&self) -> crate::pyradiomics_image::GridBox {
        let [nz, ny, nx] = self.dims;
        let [z0, y0, x0] = self.crop_lo;
        crate::pyradiomics_image::GridBox {
            lo: [x0, y0, z0],
            hi: [x0 + nx, y0 + ny, z0 + nz],
        }
    }

    /// As [`Roi::crop_of`] for an array covering the grid from voxel `origin` (`[i, j, k]`)
    /// on, e.g. a response computed on [`Roi::grid_box`] only (origin its `lo`).
    pub fn crop_from(&self, a: &ndarray::Array3<f64>, origin: [usize; 3]) -> Vec<f64> {
        let [nz, ny, nx] = self.dims;
        let [z0, y0, x0] = self.crop_lo;
        let (i0, j0, k0) = (x0 - origin[0], y0 - origin[1], z0 - origin[2]);
        let mut out = vec![0.0; nz * ny * nx];
        for x in 0..nx {
            for y in 0..ny {
                for z in 0..nz {
                    out[(z * ny + y) * nx + x] = a[[x + i0, y + j0, z + k0]];
                }
            }
        }
        out
    }

    /// The same ROI (masks, crop) with other intensities, e.g. a filter response cropped by
    /// [`Roi::crop_of`]: the masks are kept as resegmented on the original intensities
    /// (IBSI-2: the response map is not resegmented), grey levels and IVH levels are
    /// recomputed with `s`'s discretisation, anchored at the response's ROI minimum.
    pub fn with_image(&self, img: Vec<f64>, s: &Settings) -> Result<Self> {
        assert_eq!(img.len(), self.img.len(), "crop of the ROI grid");
        let mut bad = 0usize;
        let mut first = [0usize; 3];
        for (id, (v, m)) in img.iter().zip(&self.morph).enumerate() {
            if *m && !v.is_finite() {
                if bad == 0 {
                    let [_, ny, nx] = self.dims;
                    let (z, y, x) = (id / (ny * nx), (id / nx) % ny, id % nx);
                    first = [
                        x + self.crop_lo[2],
                        y + self.crop_lo[1],
                        z + self.crop_lo[0],
                    ];
                }
                bad += 1;
            }
        }
        if bad > 0 {
            return Err(RadiomicsError::NonFinite { count: bad, first });
        }
        let (dims, spacing, crop_lo) = (self.dims, self.spacing, self.crop_lo);
        let ijk = [spacing[2], spacing[1], spacing[0]];
        Self::finish(
            img,
            self.morph.clone(),
            self.int_mask.clone(),
            dims,
            ijk,
            crop_lo,
            s,
            None,
        )
    }

    /// [`Roi::build`] on a standard-layout volume (one call, no interpolation left to do).
    fn build_std(
        image: &Volume<f32>,
        mask: &Mask,
        want: Option<u8>,
        label: u8,
        s: &Settings,
    ) -> Result<Self> {
        let (Some(idata), Some(mdata)) = (image.data.as_slice(), mask.data.as_slice()) else {
            unreachable!("standard layout volumes are contiguous");
        };
        Self::build_std_slices(
            idata,
            mdata,
            image.shape(),
            image.geometry.spacing,
            want,
            label,
            s,
        )
    }

    /// The ROI (`mask == want`, or `mask != 0` for None) from C-ordered (`k` fastest) image
    /// and mask buffers.
    fn build_std_slices(
        idata: &[f32],
        mdata: &[u8],
        shape: [usize; 3],
        sp: [f64; 3],
        want: Option<u8>,
        label: u8,
        s: &Settings,
    ) -> Result<Self> {
        let inside = |v: u8| match want {
            Some(l) => v == l,
            None => v != 0,
        };
        let [_, nj, nk] = shape;
        let at = |i: usize, j: usize| (i * nj + j) * nk;
        // Bounding box of the ROI, row by row along k.
        let (mut blo, mut bhi) = ([usize::MAX; 3], [0usize; 3]);
        for (r, row) in mdata.chunks_exact(nk).enumerate() {
            let Some(k0) = row.iter().position(|&v| inside(v)) else {
                continue;
            };
            let k1 = row.iter().rposition(|&v| inside(v)).unwrap_or(k0);
            let (i, j) = (r / nj, r % nj);
            blo = [blo[0].min(i), blo[1].min(j), blo[2].min(k0)];
            bhi = [bhi[0].max(i), bhi[1].max(j), bhi[2].max(k1)];
        }
        if blo[0] == usize::MAX {
            return Err(RadiomicsError::EmptyMask {
                label,
                what: "mask".into(),
            });
        }
        // Non-finite intensities inside the ROI make every intensity feature meaningless.
        let mut bad = 0usize;
        let mut first = [0usize; 3];
        for i in blo[0]..=bhi[0] {
            for j in blo[1]..=bhi[1] {
                let o = at(i, j);
                for k in blo[2]..=bhi[2] {
                    if inside(mdata[o + k]) && !idata[o + k].is_finite() {
                        if bad == 0 {
                            first = [i, j, k];
                        }
                        bad += 1;
                    }
                }
            }
        }
        if bad > 0 {
            return Err(RadiomicsError::NonFinite { count: bad, first });
        }
        // Margin: the local-intensity sphere plus one voxel of background for the mesh.
        let margin = [
            (PEAK_RADIUS_MM / sp[0]).ceil() as usize + 1,
            (PEAK_RADIUS_MM / sp[1]).ceil() as usize + 1,
            (PEAK_RADIUS_MM / sp[2]).ceil() as usize + 1,
        ];
        let lo: [usize; 3] = std::array::from_fn(|a| blo[a].saturating_sub(margin[a]));
        let hi: [usize; 3] = std::array::from_fn(|a| (bhi[a] + margin[a]).min(shape[a] - 1));
        let (nx, ny, nz) = (hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1);
        tomofuse_core::check_alloc([nx, ny, nz], 8)?;
        let n = nx * ny * nz;
        // Crop [z][y][x] with x = i, z = k: read along k (contiguous), write strided.
        let mut img = vec![f64::NAN; n];
        let mut morph = vec![false; n];
        for x in 0..nx {
            for y in 0..ny {
                let o = at(x + lo[0], y + lo[1]) + lo[2];
                let (irow, mrow) = (&idata[o..o + nz], &mdata[o..o + nz]);
                for (z, (&v, &m)) in irow.iter().zip(mrow).enumerate() {
                    let id = (z * ny + y) * nx + x;
                    img[id] = v as f64;
                    morph[id] = inside(m);
                }
            }
        }
        // Resegmentation: range first, then the outlier filter on what is left.
        let mut int_mask = morph.clone();
        if let Some([rlo, rhi]) = s.resegmentation.range {
            for (m, &v) in int_mask.iter_mut().zip(&img) {
                *m = *m && v >= rlo && v <= rhi;
            }
        }
        if let Some(sig) = s.resegmentation.outlier_sigma {
            let vals: Vec<f64> = img
                .iter()
                .zip(&int_mask)
                .filter(|(_, m)| **m)
                .map(|(v, _)| *v)
                .collect();
            if !vals.is_empty() {
                let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64)
                    .sqrt();
                let (a, b) = (mean - sig * sd, mean + sig * sd);
                for (m, &v) in int_mask.iter_mut().zip(&img) {
                    *m = *m && v >= a && v <= b;
                }
            }
        }
        Self::finish(
            img,
            morph,
            int_mask,
            [nz, ny, nx],
            sp,
            [lo[2], lo[1], lo[0]],
            s,
            s.resegmentation.range,
        )
    }

    /// Intensity values, grey levels and IVH levels of a cropped, resegmented ROI. `sp` is
    /// the spacing along `[i, j, k]`; `range` the resegmentation range that anchors the bins.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        img: Vec<f64>,
        morph: Vec<bool>,
        int_mask: Vec<bool>,
        dims: [usize; 3],
        sp: [f64; 3],
        crop_lo: [usize; 3],
        s: &Settings,
        range: Option<[f64; 2]>,
    ) -> Result<Self> {
        let n = img.len();
        let values: Vec<f64> = img
            .iter()
            .zip(&int_mask)
            .filter(|(_, m)| **m)
            .map(|(v, _)| *v)
            .collect();
        if values.is_empty() {
            return Err(RadiomicsError::EmptyAfterResegmentation {
                range: s.resegmentation.range,
                sigma: s.resegmentation.outlier_sigma,
            });
        }
        let vmin = values.iter().cloned().fold(f64::INFINITY, f64::min);
        let vmax = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let range_lo = range.map(|r| r[0]).filter(|v| v.is_finite());
        let range_hi = range.map(|r| r[1]).filter(|v| v.is_finite());

        // Texture / histogram grey levels.
        let conv = s.convention();
        let mut gl = vec![0u32; n];
        let mut ng = 0u32;
        // The bin of the minimum, once (PyRadiomics' fixed bin size; unused otherwise).
        let min_bin = match &s.discretisation {
            Discretisation::FixedBinSize { bin_width: w } => (vmin / w).floor(),
            _ => 0.0,
        };
        for id in 0..n {
            if !int_mask[id] {
                continue;
            }
            let g = match conv.bin_anchor {
                BinAnchor::RangeOrMinimum => {
                    discretise(&s.discretisation, img[id], vmin, vmax, range_lo)?
                }
                BinAnchor::Zero => {
                    discretise_zero_anchored(&s.discretisation, img[id], vmin, vmax, min_bin)?
                }
            };
            gl[id] = g;
            ng = ng.max(g);
        }
        if let (Discretisation::FixedBinNumber { n_bins }, NgDefinition::Bins) =
            (&s.discretisation, conv.ng)
        {
            ng = *n_bins;
        }
        if ng as usize > MAX_GREY_LEVELS {
            return Err(RadiomicsError::Settings {
                field: "discretisation".into(),
                reason: format!(
                    "{ng} grey levels in the ROI (limit {MAX_GREY_LEVELS}): use a larger bin width"
                ),
            });
        }
        let ivh = ivh_levels(&s.ivh, &values, vmin, vmax, range_lo, range_hi)?;
        Ok(Self {
            dims,
            spacing: [sp[2], sp[1], sp[0]],
            img,
            morph,
            int_mask,
            gl,
            ng: ng as usize,
            ivh,
            values,
            padded: std::sync::OnceLock::new(),
            crop_lo,
        })
    }

    /// The grey levels on the crop grown by one voxel of level 0 on every side. The texture
    /// families step to neighbours at distance 1 (GLCM, NGTDM, NGLDM) or along runs (GLRLM):
    /// on this grid every such step is one fixed offset, with no bounds test, and a step
    /// off the crop lands on level 0 (outside the ROI), as the bounds test would decide.
    pub fn padded(&self) -> &Padded {
        self.padded.get_or_init(|| {
            let [nz, ny, nx] = self.dims;
            let grid = PaddedGrid::new(ny, nx, nz, true);
            let gl = grid.fill(self, &(0..nz), &self.gl);
            let ids = (0..gl.len()).filter(|&i| gl[i] > 0).collect();
            Padded { grid, gl, ids }
        })
    }

    /// Number of voxels in the intensity mask.
    pub fn n_int(&self) -> usize {
        self.values.len()
    }
}

/// Grey level (1-based) of intensity `x`.
fn discretise(
    d: &Discretisation,
    x: f64,
    vmin: f64,
    vmax: f64,
    range_lo: Option<f64>,
) -> Result<u32> {
    Ok(match d {
        Discretisation::None => {
            if x < 1.0 || x.fract() != 0.0 || x > 1.0e6 {
                return Err(RadiomicsError::NotGreyLevels { value: x });
            }
            x as u32
        }
        Discretisation::FixedBinSize { bin_width } => {
            let lo = range_lo.unwrap_or(vmin);
            (((x - lo) / bin_width).floor() as i64 + 1).max(1) as u32
        }
        Discretisation::FixedBinNumber { n_bins } => {
            if vmax > vmin {
                let g = (*n_bins as f64 * (x - vmin) / (vmax - vmin)).floor() as i64 + 1;
                g.clamp(1, *n_bins as i64) as u32
            } else {
                1
            }
        }
    })
}

/// Grey level (1-based) of intensity `x` as PyRadiomics bins it: fixed bin sizes on the
/// multiples of the bin width (`floor(x / w) - floor(min / w) + 1`), a fixed bin number as
/// `numpy.histogram` (the maximum in the last bin; a flat ROI in the last bin). `min_bin` is
/// `floor(vmin / w)` for a fixed bin size `w`.
fn discretise_zero_anchored(
    d: &Discretisation,
    x: f64,
    vmin: f64,
    vmax: f64,
    min_bin: f64,
) -> Result<u32> {
    Ok(match d {
        Discretisation::FixedBinSize { bin_width: w } => {
            ((x / w).floor() - min_bin + 1.0).max(1.0) as u32
        }
        Discretisation::FixedBinNumber { n_bins } => {
            if x >= vmax || vmax == vmin {
                *n_bins
            } else {
                ((*n_bins as f64 * (x - vmin) / (vmax - vmin)).floor() as u32 + 1).min(*n_bins)
            }
        }
        Discretisation::None => discretise(d, x, vmin, vmax, None)?,
    })
}

/// IVH levels (IBSI 4.3): discrete calibrated intensities as they are; fixed bin size bins
/// represented by their lower edge... see the feature tests for the convention that matches
/// the reference values; fixed bin number bins represented by their index.
fn ivh_levels(
    d: &Discretisation,
    values: &[f64],
    vmin: f64,
    vmax: f64,
    range_lo: Option<f64>,
    range_hi: Option<f64>,
) -> Result<IvhLevels> {
    Ok(match d {
        Discretisation::None => IvhLevels {
            voxel_levels: values.to_vec(),
            min: range_lo.unwrap_or(vmin),
            max: range_hi.unwrap_or(vmax),
            step: 1.0,
        },
        Discretisation::FixedBinSize { bin_width } => {
            let lo = range_lo.unwrap_or(vmin);
            let lv = |x: f64| lo + ((x - lo) / bin_width).floor() * bin_width + 0.5 * bin_width;
            IvhLevels {
                voxel_levels: values.iter().map(|&x| lv(x)).collect(),
                min: lo + 0.5 * bin_width,
                max: range_hi.map(lv).unwrap_or_else(|| lv(vmax)),
                step: *bin_width,
            }
        }
        Discretisation::FixedBinNumber { n_bins } => {
            let mut v = Vec::with_capacity(values.len());
            for &x in values {
                v.push(discretise(d, x, vmin, vmax, None)? as f64);
            }
            IvhLevels {
                voxel_levels: v,
                min: 1.0,
                max: *n_bins as f64,
                step: 1.0,
            }
        }
    })
}
