#pragma once
// Warp-level tensor-core primitives (PTX ISA, "Warp-level matrix instructions"): mma.sync m16n8k16 with bf16
// inputs and fp32 accumulators, ldmatrix from shared memory, and cp.async copies into it.
//
// Fragment layouts of m16n8k16 (g = lane / 4, c = 2 * (lane % 4)):
//   A 16x16: a0 = (g, c..c+1), a1 = (g+8, c..c+1), a2 = (g, c+8..c+9), a3 = (g+8, c+8..c+9)
//   B 16x8 (k x n): b0 = (k c..c+1, n g), b1 = (k c+8..c+9, n g)
//   C 16x8: c0, c1 = (g, c..c+1), c2, c3 = (g+8, c..c+1)
// so two adjacent C tiles of one row block, rounded to bf16, are the A fragment of the next product.
// Tiles in shared memory are rows of D bf16 whose 16-byte chunks are XOR-swizzled by the row's low three
// bits, so the eight rows one ldmatrix phase reads fall in distinct banks.
#include <cuda_bf16.h>

#include <cstdint>

namespace r1::cuda::mma {

template <int D>
__device__ __forceinline__ int swz(int row, int col) {  // col: a multiple of 8
  return row * D + ((((col >> 3) ^ row) & 7) | ((col >> 3) & ~7)) * 8;
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldsm4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void ldsm4_t(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// d += a * b
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// The A fragment (16 x 16, bf16) made of two adjacent fp32 C tiles of one row block (columns 0-7 in c0,
// 8-15 in c1): a product's output fed straight into the next product.
__device__ __forceinline__ void c_to_a(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
  a[0] = pack_bf16(c0[0], c0[1]);
  a[1] = pack_bf16(c0[2], c0[3]);
  a[2] = pack_bf16(c1[0], c1[1]);
  a[3] = pack_bf16(c1[2], c1[3]);
}

// 16 bytes global -> shared, asynchronously; zero-filled when !valid (src is then not read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// One lane's ldmatrix row addresses in swizzled tiles of width D, for the three ways the kernels read a
// 16 x 16 block at (r0, c0) (both multiples of 16). The lane reads row r0 + lr at column c0 + 8 e, whose
// swizzled chunk is ((c0 / 8) & 7) ^ x | (c0 / 8) & ~7 with x = (lr & 7) ^ e, since r0 is a multiple of 8 and
// c0 / 8 is even. (c0 / 8) & 7 takes four values, so four byte offsets per way cover every block; with c0 a
// constant of an unrolled loop the choice costs nothing, and an address is one add.
template <int D>
struct Lanes {
  uint32_t a[4];     // A fragment: rows lane % 16, column half lane / 16
  uint32_t rows[4];  // B from the tile's rows (B[k][n] = tile[n][k]): the non-transposed ldmatrix
  uint32_t cols[4];  // B from the tile's columns (B[k][n] = tile[k][n]): the transposed ldmatrix

  __device__ explicit Lanes(int lane) {
    init(a, lane & 15, lane >> 4);
    init(rows, (lane & 7) + (lane >> 4) * 8, (lane >> 3) & 1);
    init(cols, (lane & 7) + ((lane >> 3) & 1) * 8, lane >> 4);
  }
  __device__ static void init(uint32_t (&z)[4], int lr, int e) {
    const int x = (lr & 7) ^ e;
#pragma unroll
    for (int j = 0; j < 4; ++j) z[j] = uint32_t(lr * D + 8 * ((2 * j) ^ x)) * 2;
  }
  __device__ static uint32_t at(const uint32_t (&z)[4], int r0, int c0) {
    const int cc = c0 >> 3;
    return z[(cc >> 1) & 3] + uint32_t(r0 * D + 8 * (cc & ~7)) * 2;
  }
};

// A fragment of the 16 x 16 block at (row0, col0) of the swizzled tile at shared address `tile`.
template <int D>
__device__ __forceinline__ void load_a(uint32_t (&a)[4], uint32_t tile, const Lanes<D>& ln, int row0,
                                       int col0) {
  ldsm4(a, tile + Lanes<D>::at(ln.a, row0, col0));
}

// B fragments of two n8 tiles, B[k][n] = tile[n][k] (the tile's rows are B's columns): rows n0..n0+15,
// columns k0..k0+15. b[0], b[1]: n tile n0; b[2], b[3]: n tile n0 + 8.
template <int D>
__device__ __forceinline__ void load_b_rows(uint32_t (&b)[4], uint32_t tile, const Lanes<D>& ln, int n0,
                                            int k0) {
  ldsm4(b, tile + Lanes<D>::at(ln.rows, n0, k0));
}

// B fragments of two n8 tiles, B[k][n] = tile[k][n] (the tile's rows are B's k): rows k0..k0+15, columns
// n0..n0+15. b[0], b[1]: n tile n0; b[2], b[3]: n tile n0 + 8.
template <int D>
__device__ __forceinline__ void load_b_cols(uint32_t (&b)[4], uint32_t tile, const Lanes<D>& ln, int k0,
                                            int n0) {
  ldsm4_t(b, tile + Lanes<D>::at(ln.cols, k0, n0));
}

}  // namespace r1::cuda::mma
