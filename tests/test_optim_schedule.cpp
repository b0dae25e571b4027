// Learning-rate schedules at their key points.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "meshtrain/optim.h"

namespace meshtrain {
namespace {

OptimConfig Schedule(const std::string& name, double lr = 1.0) {
  OptimConfig c;
  c.lr = lr;
  c.schedule = name;
  return c;
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
