#include "data/sharding.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "data/data_rng.h"

namespace meshtrain {
namespace {

void Contiguous(int num_peers, int64_t rows, ShardPlan* plan) {
  for (int p = 0; p < num_peers; ++p) {
    const int64_t begin = rows * p / num_peers;
    const int64_t end = rows * (p + 1) / num_peers;
    std::fill(plan->owner.begin() + begin, plan->owner.begin() + end, p);
  }
}

void Strided(int num_peers, int64_t rows, ShardPlan* plan) {
  for (int64_t r = 0; r < rows; ++r) plan->owner[static_cast<size_t>(r)] = static_cast<int32_t>(r % num_peers);
}

// Proportions ~ Dirichlet(alpha) over `num_peers`, as normalized Gamma draws
// computed from their logs (softmax) so tiny alphas don't underflow to 0/0.
std::vector<double> DrawProportions(int num_peers, double alpha, DataRng* rng) {
  std::vector<double> logs(static_cast<size_t>(num_peers));
  for (double& l : logs) l = rng->LogGamma(alpha);
  const double top = *std::max_element(logs.begin(), logs.end());
  double sum = 0;
  for (double& l : logs) sum += (l = std::exp(l - top));
  for (double& l : logs) l /= sum;
  return logs;
}

void Dirichlet(int num_peers, const std::vector<int32_t>& labels, int num_classes, double alpha, uint64_t seed,
               ShardPlan* plan) {
  std::vector<std::vector<int64_t>> rows_of(static_cast<size_t>(num_classes));
  for (size_t r = 0; r < labels.size(); ++r) {
    assert(labels[r] >= 0 && labels[r] < num_classes);  // loaders validate labels
    rows_of[static_cast<size_t>(labels[r])].push_back(static_cast<int64_t>(r));
  }
  DataRng rng(MixSeeds(seed, 0x5ad0));
  for (auto& rows : rows_of) {
    // Shuffle within the class so a peer's slice is not a run of the file's order.
    for (size_t i = rows.size(); i > 1; --i) std::swap(rows[i - 1], rows[rng.Below(i)]);
    const std::vector<double> share = DrawProportions(num_peers, alpha, &rng);
    const auto n = static_cast<double>(rows.size());
    double cumulative = 0;
    size_t begin = 0;
    for (int p = 0; p < num_peers; ++p) {
      cumulative += share[static_cast<size_t>(p)];
      const size_t end =
          p + 1 == num_peers ? rows.size() : std::min(rows.size(), static_cast<size_t>(std::llround(cumulative * n)));
      for (size_t i = begin; i < end; ++i) plan->owner[static_cast<size_t>(rows[i])] = p;
      begin = std::max(begin, end);
    }
  }
}

// Gives every empty peer one row, taken from the largest shard (its last row).
void FillEmptyShards(int num_peers, ShardPlan* plan) {
  for (int p = 0; p < num_peers; ++p) {
    if (plan->sizes[static_cast<size_t>(p)] > 0) continue;
    const auto donor =
        static_cast<int32_t>(std::max_element(plan->sizes.begin(), plan->sizes.end()) - plan->sizes.begin());
    for (size_t r = plan->owner.size(); r-- > 0;) {
      if (plan->owner[r] == donor) {
        plan->owner[r] = p;
        break;
      }
    }
    --plan->sizes[static_cast<size_t>(donor)];
    ++plan->sizes[static_cast<size_t>(p)];
  }
}

}  // namespace

Result<ShardPlan> PlanShards(ShardMode mode, int num_peers, int64_t rows, const std::vector<int32_t>& labels,
                             int num_classes, double alpha, uint64_t seed) {
  if (num_peers < 1) {
    return Status::InvalidArgument("sharding: need at least one peer, got " + std::to_string(num_peers));
  }
  if (rows < num_peers) {
    return Status::InvalidArgument("sharding: the train set has " + std::to_string(rows) + " rows, fewer than the " +
                                   std::to_string(num_peers) +
                                   " peers (each needs at least one; check data.train_limit)");
  }
  ShardPlan plan;
  plan.owner.assign(static_cast<size_t>(rows), 0);
  if (mode == ShardMode::kContiguous) {
    Contiguous(num_peers, rows, &plan);
  } else if (mode == ShardMode::kStrided) {
    Strided(num_peers, rows, &plan);
  } else if (mode == ShardMode::kDirichlet) {
    if (num_classes < 1 || static_cast<int64_t>(labels.size()) != rows) {
      return Status::InvalidArgument(
          "data.shard = \"dirichlet\" splits by class label, but this data set has none "
          "(regression); use \"contiguous\" or \"strided\"");
    }
    if (!(alpha > 0) || !std::isfinite(alpha)) {
      return Status::InvalidArgument("data.alpha must be a finite number > 0 (got " + std::to_string(alpha) + ")");
    }
    Dirichlet(num_peers, labels, num_classes, alpha, seed, &plan);
  } else {
    return Status::InvalidArgument("data.shard: unknown mode '" + std::string(ToString(mode)) + "'");
  }
  plan.sizes.assign(static_cast<size_t>(num_peers), 0);
  for (int32_t p : plan.owner) ++plan.sizes[static_cast<size_t>(p)];
  FillEmptyShards(num_peers, &plan);
  return plan;
}

}  // namespace meshtrain
