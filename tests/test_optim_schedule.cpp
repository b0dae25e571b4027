// Learning-rate schedules at their key points, and the integer power they and
// Adam use.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "meshtrain/optim.h"
#include "optim/exact_power.h"

namespace meshtrain {
namespace {

OptimConfig Schedule(const std::string& name, double lr = 1.0) {
  OptimConfig c;
  c.lr = lr;
  c.schedule = ParseEnum<LrSchedule>(name).value();
  return c;
}

TEST_CASE("PowInt: repeated squaring, exact where the result is representable, close to std::pow elsewhere") {
  using optim_internal::PowInt;
  CHECK(PowInt(0.9, 0) == 1.0);
  CHECK(PowInt(0.9, 1) == 0.9);
  CHECK(PowInt(0.5, 10) == 1.0 / 1024);
  CHECK(PowInt(3.0, 13) == 1594323.0);
  CHECK(PowInt(-2.0, 5) == -32.0);
  // Squaring doubles a relative error, so it grows like t·2^-53: far below
  // what a float learning rate or step size can hold.
  for (int64_t t : {2, 7, 100, 1000, 123457}) {
    INFO("t = " << t);
    const double bound = 4e-16 * static_cast<double>(t);
    CHECK(PowInt(0.999, t) == doctest::Approx(std::pow(0.999, static_cast<double>(t))).epsilon(bound));
  }
  // The largest step count takes 63 squarings, and underflows cleanly.
  CHECK(PowInt(0.999, std::numeric_limits<int64_t>::max()) == 0.0);
}

TEST_CASE("constant") {
  const OptimConfig c = Schedule("constant", 0.05);
  CHECK(ScheduledLearningRate(c, 0, 100) == 0.05);
  CHECK(ScheduledLearningRate(c, 99, 100) == 0.05);
  CHECK(ScheduledLearningRate(c, 1000, 100) == 0.05);
}

TEST_CASE("step: lr * gamma^floor(step / step_size)") {
  OptimConfig c = Schedule("step");
  c.gamma = 0.5;
  c.step_size = 10;
  CHECK(ScheduledLearningRate(c, 0, 100) == 1.0);
  CHECK(ScheduledLearningRate(c, 9, 100) == 1.0);
  CHECK(ScheduledLearningRate(c, 10, 100) == 0.5);
  CHECK(ScheduledLearningRate(c, 25, 100) == 0.25);
  CHECK(ScheduledLearningRate(c, 30, 100) == 0.125);
}

TEST_CASE("cosine from lr to min_lr over total_steps") {
  OptimConfig c = Schedule("cosine");
  c.min_lr = 0.1;
  CHECK(ScheduledLearningRate(c, 0, 100) == doctest::Approx(1.0));
  CHECK(ScheduledLearningRate(c, 50, 100) == doctest::Approx(0.55));
  CHECK(ScheduledLearningRate(c, 25, 100) == doctest::Approx(0.1 + 0.9 * 0.5 * (1 + std::sqrt(0.5))));
  CHECK(ScheduledLearningRate(c, 100, 100) == doctest::Approx(0.1));
  CHECK(ScheduledLearningRate(c, 500, 100) == doctest::Approx(0.1));
  CHECK(ScheduledLearningRate(c, 10, 0) == doctest::Approx(0.1));  // no run length: the floor
}

TEST_CASE("cosine with linear warmup") {
  OptimConfig c = Schedule("cosine");
  c.min_lr = 0.1;
  c.warmup_steps = 10;
  CHECK(ScheduledLearningRate(c, 0, 110) == doctest::Approx(0.1));  // (0 + 1) / 10
  CHECK(ScheduledLearningRate(c, 4, 110) == doctest::Approx(0.5));
  CHECK(ScheduledLearningRate(c, 9, 110) == doctest::Approx(1.0));
  CHECK(ScheduledLearningRate(c, 10, 110) == doctest::Approx(1.0));  // the peak, then decay
  CHECK(ScheduledLearningRate(c, 60, 110) == doctest::Approx(0.55));
  CHECK(ScheduledLearningRate(c, 110, 110) == doctest::Approx(0.1));
}

// A run no longer than its warmup used to train at lr 0 (cosine taken as
// finished, times the ramp): it is all warmup instead, and learns.
TEST_CASE("cosine: a run no longer than its warmup ramps up and never decays") {
  OptimConfig c = Schedule("cosine");  // min_lr 0, as in the shipped configs
  c.warmup_steps = 200;
  CHECK(ScheduledLearningRate(c, 0, 100) == doctest::Approx(1.0 / 200));
  CHECK(ScheduledLearningRate(c, 49, 100) == doctest::Approx(50.0 / 200));
  CHECK(ScheduledLearningRate(c, 99, 100) == doctest::Approx(100.0 / 200));
  CHECK(ScheduledLearningRate(c, 199, 200) == doctest::Approx(1.0));  // T == W: the ramp to the top
  for (int64_t s = 0; s < 100; ++s) CHECK(ScheduledLearningRate(c, s, 100) > 0);
}

TEST_CASE("warmup applies to every schedule") {
  OptimConfig constant = Schedule("constant", 0.4);
  constant.warmup_steps = 4;
  CHECK(ScheduledLearningRate(constant, 0, 100) == doctest::Approx(0.1));
  CHECK(ScheduledLearningRate(constant, 1, 100) == doctest::Approx(0.2));
  CHECK(ScheduledLearningRate(constant, 3, 100) == doctest::Approx(0.4));
  CHECK(ScheduledLearningRate(constant, 4, 100) == doctest::Approx(0.4));

  OptimConfig step = Schedule("step");
  step.warmup_steps = 4;
  step.step_size = 2;
  step.gamma = 0.5;
  CHECK(ScheduledLearningRate(step, 0, 100) == doctest::Approx(0.25));       // 1 * 1/4
  CHECK(ScheduledLearningRate(step, 3, 100) == doctest::Approx(0.5));        // 0.5 * 4/4
  CHECK(ScheduledLearningRate(step, 4, 100) == doctest::Approx(0.25));       // 0.25
}

}  // namespace
}  // namespace meshtrain
