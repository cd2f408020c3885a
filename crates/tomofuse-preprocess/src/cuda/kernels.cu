// Resampling kernels (NVRTC-compiled at run time). Semantics are those of the CPU path
// (src/resample/mod.rs `taps`): ITK's IsInsideBuffer test on [-0.5, n - 0.5), nearest =
// floor(c + 0.5), linear with c clamped to [0, n - 1], cubic B-spline on prefiltered
// coefficients with ITK's mirror indexing. One thread per output voxel; `map` is the 3x4
// matrix from output index to input continuous index (row-major, translation last).

__device__ __forceinline__ bool inside(double c, int n) {
    return c >= -0.5 && c < (double)n - 0.5;
}

__device__ __forceinline__ void out_index(long long id, int m1, int m2, int* i, int* j, int* k) {
    *k = (int)(id % m2);
    long long r = id / m2;
    *j = (int)(r % m1);
    *i = (int)(r / m1);
}

__device__ __forceinline__ void map_point(const double* map, int i, int j, int k, double* c) {
    for (int r = 0; r < 3; ++r) {
        c[r] = map[r * 4 + 0] * i + map[r * 4 + 1] * j + map[r * 4 + 2] * k + map[r * 4 + 3];
    }
}

extern "C" __global__ void resample_nearest(const float* __restrict__ src, float* __restrict__ dst,
    int n0, int n1, int n2, int m0, int m1, int m2, const double* __restrict__ map, float fill)
{
    long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = (long long)m0 * m1 * m2;
    if (id >= total) return;
    int i, j, k;
    out_index(id, m1, m2, &i, &j, &k);
    double c[3];
    map_point(map, i, j, k, c);
    if (!inside(c[0], n0) || !inside(c[1], n1) || !inside(c[2], n2)) { dst[id] = fill; return; }
    int a = min(max((int)floor(c[0] + 0.5), 0), n0 - 1);
    int b = min(max((int)floor(c[1] + 0.5), 0), n1 - 1);
    int d = min(max((int)floor(c[2] + 0.5), 0), n2 - 1);
    dst[id] = src[((long long)a * n1 + b) * n2 + d];
}

__device__ __forceinline__ void linear_taps(double c, int n, int* idx, double* w) {
    double cc = fmin(fmax(c, 0.0), (double)(n - 1));
    int b = min((int)floor(cc), n - 1);
    double d = cc - (double)b;
    if (b >= n - 1 || d <= 0.0) { idx[0] = b; idx[1] = b; w[0] = 1.0; w[1] = 0.0; }
    else { idx[0] = b; idx[1] = b + 1; w[0] = 1.0 - d; w[1] = d; }
}

extern "C" __global__ void resample_linear(const float* __restrict__ src, float* __restrict__ dst,
    int n0, int n1, int n2, int m0, int m1, int m2, const double* __restrict__ map, float fill)
{
    long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = (long long)m0 * m1 * m2;
    if (id >= total) return;
    int i, j, k;
    out_index(id, m1, m2, &i, &j, &k);
    double c[3];
    map_point(map, i, j, k, c);
    if (!inside(c[0], n0) || !inside(c[1], n1) || !inside(c[2], n2)) { dst[id] = fill; return; }
    int ia[2], ib[2], ic[2];
    double wa[2], wb[2], wc[2];
    linear_taps(c[0], n0, ia, wa);
    linear_taps(c[1], n1, ib, wb);
    linear_taps(c[2], n2, ic, wc);
    double acc = 0.0;
    for (int x = 0; x < 2; ++x)
        for (int y = 0; y < 2; ++y)
            for (int z = 0; z < 2; ++z)
                acc += wa[x] * wb[y] * wc[z] * (double)src[((long long)ia[x] * n1 + ib[y]) * n2 + ic[z]];
    dst[id] = (float)acc;
}

__device__ __forceinline__ void cubic_taps(double c, int n, int* idx, double* w) {
    long long base = (long long)floor(c) - 1;
    double t = c - (double)(base + 1);
    double w3 = t * t * t / 6.0;
    double w0 = 1.0 / 6.0 + 0.5 * t * (t - 1.0) - w3;
    double w2 = t + w0 - 2.0 * w3;
    double w1 = 1.0 - w0 - w2 - w3;
    w[0] = w0; w[1] = w1; w[2] = w2; w[3] = w3;
    long long l2 = 2LL * n - 2;
    for (int q = 0; q < 4; ++q) {
        if (n == 1) { idx[q] = 0; continue; }
        long long m = base + q;
        m = m < 0 ? (-m) % l2 : m % l2;
        if (m >= n) m = l2 - m;
        idx[q] = (int)min(max(m, 0LL), (long long)(n - 1));
    }
}

extern "C" __global__ void resample_bspline(const float* __restrict__ coef, float* __restrict__ dst,
    int n0, int n1, int n2, int m0, int m1, int m2, const double* __restrict__ map, float fill)
{
    long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = (long long)m0 * m1 * m2;
    if (id >= total) return;
    int i, j, k;
    out_index(id, m1, m2, &i, &j, &k);
    double c[3];
    map_point(map, i, j, k, c);
    if (!inside(c[0], n0) || !inside(c[1], n1) || !inside(c[2], n2)) { dst[id] = fill; return; }
    int ia[4], ib[4], ic[4];
    double wa[4], wb[4], wc[4];
    cubic_taps(c[0], n0, ia, wa);
    cubic_taps(c[1], n1, ib, wb);
    cubic_taps(c[2], n2, ic, wc);
    double acc = 0.0;
    for (int x = 0; x < 4; ++x)
        for (int y = 0; y < 4; ++y) {
            double wxy = wa[x] * wb[y];
            const float* row = coef + ((long long)ia[x] * n1 + ib[y]) * n2;
            for (int z = 0; z < 4; ++z) acc += wxy * wc[z] * (double)row[ic[z]];
        }
    dst[id] = (float)acc;
}
