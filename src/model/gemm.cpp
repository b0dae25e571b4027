#include "model/gemm.h"

#include <algorithm>
#include <cassert>

#if !EIGEN_VERSION_AT_LEAST(3, 4, 0)
#error "model/gemm.cpp drives Eigen 3.4's internal GEMM (general_matrix_matrix_product)"
#endif

namespace meshtrain {
namespace {

using Eigen::Index;

// Eigen's blocking descriptor pointed at our buffers instead of its own.
class ScratchBlocking : public Eigen::internal::level3_blocking<float, float> {
 public:
  ScratchBlocking(Index mc, Index nc, Index kc, GemmScratch* scratch) {
    m_mc = mc;
    m_nc = nc;
    m_kc = kc;
    m_blockA = scratch->lhs();
    m_blockB = scratch->rhs();
  }
};

template <int LhsOrder, int RhsOrder>
void RunKernel(const ConstMatrixView& a, const ConstMatrixView& b, MatrixView& c, Index k, ScratchBlocking& blocking) {
  // A column-major matrix read as its transpose is the same bytes in row-major
  // order, with the same stride: a.rows().
  using Product = Eigen::internal::general_matrix_matrix_product<Index, float, LhsOrder, false, float, RhsOrder, false,
                                                                 Eigen::ColMajor, 1>;
  Product::run(c.rows(), c.cols(), k, a.data(), a.rows(), b.data(), b.rows(), c.data(), 1, c.rows(), 1.0f, blocking,
               nullptr);
}

// Eigen's sequential GEMM loop (general_matrix_matrix_product::run in
// GeneralMatrixMatrix.h) with the right-hand side packed by `b`.
template <int LhsOrder>
void RunPacked(const ConstMatrixView& a, Index k, const RhsSource& b, MatrixView& c, Index mc, Index nc, Index kc,
               GemmScratch* scratch) {
  using Traits = Eigen::internal::gebp_traits<float, float>;
  using LhsMapper = Eigen::internal::const_blas_data_mapper<float, Index, LhsOrder>;
  using ResMapper = Eigen::internal::blas_data_mapper<float, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  Eigen::internal::gemm_pack_lhs<float, Index, LhsMapper, Traits::mr, Traits::LhsProgress,
                                 typename Traits::LhsPacket4Packing, LhsOrder>
      pack_lhs;
  Eigen::internal::gebp_kernel<float, float, Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
  const LhsMapper lhs(a.data(), a.rows());
  const ResMapper res(c.data(), c.rows());
  const Index m = c.rows(), n = c.cols();
  mc = std::min(m, mc);
  nc = std::min(n, nc);
  for (Index i2 = 0; i2 < m; i2 += mc) {
    const Index rows = std::min(i2 + mc, m) - i2;
    for (Index k2 = 0; k2 < k; k2 += kc) {
      const Index depth = std::min(k2 + kc, k) - k2;
      pack_lhs(scratch->lhs(), lhs.getSubMapper(i2, k2), depth, rows);
      for (Index j2 = 0; j2 < n; j2 += nc) {
        const Index cols = std::min(j2 + nc, n) - j2;
        b.Pack(k2, depth, j2, cols, scratch->rhs());
        gebp(res.getSubMapper(i2, j2), scratch->lhs(), scratch->rhs(), rows, depth, cols, 1.0f);
      }
    }
  }
}

// Vector-shaped products (one row or one column) go through Eigen's GEMV,
// which beats packing a panel for the GEMM kernel and needs no big buffers.
template <class Lhs, class Rhs>
void EigenProduct(const Lhs& a, const Rhs& b, MatrixView& c, bool accumulate) {
  if (accumulate) {
    c.noalias() += a * b;
  } else {
    c.noalias() = a * b;
  }
}

}  // namespace

void GemmScratch::Reserve(Index lhs_floats, Index rhs_floats) {
  if (lhs_.size() < lhs_floats) lhs_.resize(lhs_floats);
  if (rhs_.size() < rhs_floats) rhs_.resize(rhs_floats);
}

void WeightGemms::Bind(float* layer_params, float* layer_grads, GemmScratch* scratch_to_grow) {
  params = layer_params;
  grads = layer_grads;
  scratch = scratch_to_grow;
  for (const GemmPlan* plan : {&forward, &weight_grad}) scratch->Reserve(plan->lhs_floats(), plan->rhs_floats());
  if (propagates) scratch->Reserve(input_grad.lhs_floats(), input_grad.rhs_floats());
}

GemmPlan::GemmPlan(Index max_m, Index max_n, Index max_k)
    : max_m_(max_m), max_n_(max_n), max_k_(max_k), mc_(max_m), nc_(max_n), kc_(max_k) {
  Eigen::internal::computeProductBlockingSizes<float, float, 1, Index>(kc_, mc_, nc_, 1);
}

void GemmPlan::Multiply(const ConstMatrixView& a, Op op_a, const ConstMatrixView& b, Op op_b, MatrixView c,
                        bool accumulate, GemmScratch* scratch) const {
  const bool ta = op_a == Op::kTransposed;
  const bool tb = op_b == Op::kTransposed;
  const Index k = ta ? a.rows() : a.cols();
  assert((ta ? a.cols() : a.rows()) == c.rows() && (tb ? b.rows() : b.cols()) == c.cols());
  assert((tb ? b.cols() : b.rows()) == k);
  assert(c.rows() <= max_m_ && c.cols() <= max_n_ && k <= max_k_);

  if (c.rows() == 1 || c.cols() == 1) {
    if (!ta && !tb) EigenProduct(a, b, c, accumulate);
    if (!ta && tb) EigenProduct(a, b.transpose(), c, accumulate);
    if (ta && !tb) EigenProduct(a.transpose(), b, c, accumulate);
    if (ta && tb) EigenProduct(a.transpose(), b.transpose(), c, accumulate);
    return;
  }
  if (!accumulate) c.setZero();  // the kernel only ever adds into c
  if (k == 0) return;
  ScratchBlocking blocking(mc_, nc_, kc_, scratch);
  if (!ta && !tb) RunKernel<Eigen::ColMajor, Eigen::ColMajor>(a, b, c, k, blocking);
  if (!ta && tb) RunKernel<Eigen::ColMajor, Eigen::RowMajor>(a, b, c, k, blocking);
  if (ta && !tb) RunKernel<Eigen::RowMajor, Eigen::ColMajor>(a, b, c, k, blocking);
  if (ta && tb) RunKernel<Eigen::RowMajor, Eigen::RowMajor>(a, b, c, k, blocking);
}

void GemmPlan::Multiply(const ConstMatrixView& a, Op op_a, Index k, const RhsSource& b, MatrixView c, bool accumulate,
                        GemmScratch* scratch) const {
  const bool ta = op_a == Op::kTransposed;
  assert((ta ? a.cols() : a.rows()) == c.rows() && (ta ? a.rows() : a.cols()) == k);
  assert(c.rows() <= max_m_ && c.cols() <= max_n_ && k <= max_k_);
  if (!accumulate) c.setZero();  // the kernel only ever adds into c
  if (c.rows() == 0 || c.cols() == 0 || k == 0) return;
  if (ta) {
    RunPacked<Eigen::RowMajor>(a, k, b, c, mc_, nc_, kc_, scratch);
  } else {
    RunPacked<Eigen::ColMajor>(a, k, b, c, mc_, nc_, kc_, scratch);
  }
}

}  // namespace meshtrain
