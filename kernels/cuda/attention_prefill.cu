#include <mma.h>

#include <stdexcept>

#include "attention_prefill.h"
#include "device_utils.cuh"

namespace r1::cuda {
namespace {

using namespace nvcuda;

constexpr int kWarps = 4;
constexpr int BQ = kFlashTileRows;  // query rows per block (16 per warp)
constexpr int BK = 64;              // keys per tile

template <int D>
struct Smem {
  bf16 q[BQ][D];
  bf16 k[BK][D];
  bf16 v[BK][D];
  float s[kWarps][16][BK];
  bf16 p[kWarps][16][BK];
  float o[kWarps][16][D];
};

// Loads 64 rows of keys or values (positions key0..key0+63 of one sequence) from the paged cache.
template <int D>
__device__ void load_kv_tile(bf16 (*dst)[D], const FlashArgs& a, const int32_t* table, int kvh, int key0,
                             int n_keys, bool values) {
  constexpr int kVec = D / 8;
  const int BS = a.kv.block_size;
  for (int idx = threadIdx.x; idx < BK * kVec; idx += kWarps * 32) {
    const int i = idx / kVec, c = idx % kVec;
    const int j = key0 + i;
    Bf16x8 val{};
    if (j < n_keys) {
      const int64_t block = table[j / BS];
      const bf16* base = values ? a.kv.v_block(a.layer, block) : a.kv.k_block(a.layer, block);
      val = *reinterpret_cast<const Bf16x8*>(base + (int64_t(kvh) * BS + j % BS) * D + c * 8);
    } else {
#pragma unroll
      for (int e = 0; e < 4; ++e) val.h[e] = __floats2bfloat162_rn(0.0f, 0.0f);
    }
    *reinterpret_cast<Bf16x8*>(&dst[i][c * 8]) = val;
  }
}

template <int D>
__global__ void __launch_bounds__(kWarps * 32) flash_kernel(const FlashArgs a) {
  extern __shared__ __align__(128) unsigned char raw[];
  Smem<D>& sm = *reinterpret_cast<Smem<D>*>(raw);
  const FlashTile tile = a.tiles[blockIdx.x];
  const int h = blockIdx.y;
  const int kvh = h / (a.heads / a.kv.kv_heads);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int32_t* table = a.tables + int64_t(tile.seq) * a.table_stride;
  const int n_keys = tile.pos0 + tile.n_rows;  // keys any row of the tile may see

  // Q tile (rows past n_rows are zero and their output is dropped).
  constexpr int kVec = D / 8;
  for (int idx = threadIdx.x; idx < BQ * kVec; idx += kWarps * 32) {
    const int i = idx / kVec, c = idx % kVec;
    Bf16x8 val{};
    if (i < tile.n_rows) {
      val = *reinterpret_cast<const Bf16x8*>(a.q + (int64_t(tile.row0 + i) * a.heads + h) * D + c * 8);
    } else {
#pragma unroll
      for (int e = 0; e < 4; ++e) val.h[e] = __floats2bfloat162_rn(0.0f, 0.0f);
    }
    *reinterpret_cast<Bf16x8*>(&sm.q[i][c * 8]) = val;
  }

  // Each lane owns half a row: row r = lane / 2, score columns [half * 32, +32), output columns [half * D/2,
  // +D/2).
  const int r = lane >> 1, half = lane & 1;
  const int my_pos = tile.pos0 + warp * 16 + r;
  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.0f;
  float m = -INFINITY, l = 0.0f;

  const int last_key = tile.pos0 + tile.n_rows - 1;
  for (int key0 = 0; key0 <= last_key; key0 += BK) {
    __syncthreads();  // the previous tile's K and V are no longer read
    load_kv_tile<D>(sm.k, a, table, kvh, key0, n_keys, false);
    load_kv_tile<D>(sm.v, a, table, kvh, key0, n_keys, true);
    __syncthreads();
    // S = Q_w K^T
#pragma unroll
    for (int nt = 0; nt < BK / 16; ++nt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fb;
        wmma::load_matrix_sync(fa, &sm.q[warp * 16][kk * 16], D);
        wmma::load_matrix_sync(fb, &sm.k[nt * 16][kk * 16], D);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(&sm.s[warp][0][nt * 16], acc, BK, wmma::mem_row_major);
    }
    __syncwarp();
    // Online softmax over this tile's 64 scores of my row (two lanes per row).
    float tile_max = -INFINITY;
    float sv[32];
#pragma unroll
    for (int c = 0; c < 32; ++c) {
      const int col = half * 32 + c;
      const int key = key0 + col;
      const float s = key <= my_pos ? sm.s[warp][r][col] * a.scale : -INFINITY;
      sv[c] = s;
      tile_max = fmaxf(tile_max, s);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    const float m_new = fmaxf(m, tile_max);
    const float corr = m_new == -INFINITY ? 1.0f : __expf(m - m_new);
    float sum = 0;
#pragma unroll
    for (int c = 0; c < 32; ++c) {
      const float p = m_new == -INFINITY ? 0.0f : __expf(sv[c] - m_new);
      sum += p;
      sm.p[warp][r][half * 32 + c] = __float2bfloat16_rn(p);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * corr + sum;
    m = m_new;
    __syncwarp();
    // O_tile = P V
#pragma unroll
    for (int dt = 0; dt < D / 16; ++dt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int kk = 0; kk < BK / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb;
        wmma::load_matrix_sync(fa, &sm.p[warp][0][kk * 16], BK);
        wmma::load_matrix_sync(fb, &sm.v[kk * 16][dt * 16], D);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(&sm.o[warp][0][dt * 16], acc, D, wmma::mem_row_major);
    }
    __syncwarp();
#pragma unroll
    for (int i = 0; i < D / 2; ++i) o[i] = o[i] * corr + sm.o[warp][r][half * (D / 2) + i];
  }
  const int row = warp * 16 + r;
  if (row < tile.n_rows) {
    bf16* dst = a.out + (int64_t(tile.row0 + row) * a.heads + h) * D + half * (D / 2);
    const float inv = l > 0 ? 1.0f / l : 0.0f;
#pragma unroll
    for (int i = 0; i < D / 2; ++i) dst[i] = __float2bfloat16_rn(o[i] * inv);
  }
}

template <int D>
void launch(const FlashArgs& a, cudaStream_t stream) {
  set_max_dynamic_smem(reinterpret_cast<const void*>(flash_kernel<D>), int(sizeof(Smem<D>)));
  const dim3 grid(unsigned(a.n_tiles), unsigned(a.heads));
  flash_kernel<D><<<grid, kWarps * 32, sizeof(Smem<D>), stream>>>(a);
  R1_CUDA_LAUNCHED();
}

}  // namespace

bool flash_supports(int32_t head_dim) {
  return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

void attention_flash(const FlashArgs& a, cudaStream_t stream) {
  if (a.n_tiles <= 0) return;
  if (a.heads % a.kv.kv_heads)
    throw std::invalid_argument("attention_flash: heads must be a multiple of kv_heads");
  switch (a.kv.head_dim) {
    case 16:
      return launch<16>(a, stream);
    case 32:
      return launch<32>(a, stream);
    case 64:
      return launch<64>(a, stream);
    case 128:
      return launch<128>(a, stream);
    default:
      throw std::invalid_argument("attention_flash: head_dim must be 16, 32, 64 or 128");
  }
}

}  // namespace r1::cuda
