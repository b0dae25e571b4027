// Matrix products of the layers, run through Eigen's blocked GEMM kernel with
// packing buffers allocated once per model. Eigen's expression path
// (c.noalias() = a * b) packs into temporaries it puts on the heap whenever a
// panel exceeds EIGEN_STACK_ALLOCATION_LIMIT (128 KiB): the first layer of a
// 784-wide MLP does that at every step. Same kernel, no allocation.
#pragma once

#include "model/eigen_views.h"

namespace meshtrain {

enum class Op { kPlain, kTransposed };

// Columns per panel of a packed right-hand side (Eigen's gebp_traits::nr: 4 for
// float on x86-64 and aarch64 in Eigen 3.4).
inline constexpr Eigen::Index kRhsPanel = Eigen::internal::gebp_traits<float, float>::nr;

// A right-hand side that is never stored whole (a convolution's patches):
// Pack writes rows [k0, k0 + depth) of columns [j0, j0 + cols) in the layout
// Eigen's kernel reads: panels of kRhsPanel columns, each depth rows of
// kRhsPanel floats (row-major within the panel), then the columns left over
// one after the other, depth floats each. So the copy a GEMM makes of its
// right-hand side is the only one: no unfolded matrix to copy from.
class RhsSource {
 public:
  virtual ~RhsSource() = default;
  virtual void Pack(Eigen::Index k0, Eigen::Index depth, Eigen::Index j0, Eigen::Index cols, float* out) const = 0;
};

// Packing buffers shared by the products of one model (used by one thread at a time).
class GemmScratch {
 public:
  // Grows the buffers to at least these sizes; call before any Multiply.
  void Reserve(Eigen::Index lhs_floats, Eigen::Index rhs_floats);
  float* lhs() { return lhs_.data(); }
  float* rhs() { return rhs_.data(); }

 private:
  Eigen::VectorXf lhs_;  // Eigen aligns these for its packet stores
  Eigen::VectorXf rhs_;
};

// One product site, c (m x n) = op(a) (m x k) * op(b) (k x n), sized for at
// most max_m x max_n x max_k; holds Eigen's cache blocking for that shape.
class GemmPlan {
 public:
  GemmPlan(Eigen::Index max_m, Eigen::Index max_n, Eigen::Index max_k);

  Eigen::Index lhs_floats() const { return kc_ * mc_; }
  Eigen::Index rhs_floats() const { return kc_ * nc_; }

  // c = op(a) * op(b), or c += op(a) * op(b) when `accumulate`.
  void Multiply(const ConstMatrixView& a, Op op_a, const ConstMatrixView& b, Op op_b, MatrixView c, bool accumulate,
                GemmScratch* scratch) const;
  // The same with b (k x c.cols()) packed by `b` block by block, through the
  // same kernel, blocking and order of sums as Multiply.
  void Multiply(const ConstMatrixView& a, Op op_a, Eigen::Index k, const RhsSource& b, MatrixView c, bool accumulate,
                GemmScratch* scratch) const;

 private:
  Eigen::Index max_m_, max_n_, max_k_;
  Eigen::Index mc_, nc_, kc_;
};

// The three products of a layer with a weight matrix W (m x k; DenseLayer,
// DenseStackLayer, Conv2dLayer): out = W * in, dW = dout * in^T and
// din = W^T * dout, over up to n columns (n_input_grad for din), and, once
// bound, the layer's slice of the flat buffers (W, then the bias) and the
// model's packing buffers.
struct WeightGemms {
  WeightGemms(Eigen::Index m, Eigen::Index n, Eigen::Index k, Eigen::Index n_input_grad, bool layer_propagates)
      : propagates(layer_propagates), forward(m, n, k), weight_grad(m, k, n), input_grad(k, n_input_grad, m) {}

  // Points at the layer's slice and grows `scratch_to_grow` to fit these
  // products (din's only if the layer propagates).
  void Bind(float* layer_params, float* layer_grads, GemmScratch* scratch_to_grow);

  bool propagates;  // din is wanted (not by the first layer: it then reserves no scratch for it)
  const float* params = nullptr;
  float* grads = nullptr;
  GemmScratch* scratch = nullptr;
  GemmPlan forward;
  GemmPlan weight_grad;
  GemmPlan input_grad;
};

}  // namespace meshtrain
