// Shared by the gossip integration tests (tests/test_cli_gossip_*.cpp): a
// cluster body small enough for eight peer processes on two busy cores.
#pragma once

#include <string>

namespace meshtrain::testing {

// Small enough for eight processes on two busy cores: a 784-16-10 MLP on
// 8000 Fashion rows, 10 epochs of 32 steps a peer, 10 final rounds.
inline const std::string kGossipBody = R"(
[data]
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 8000
test_limit = 2000
shard = "strided"

[model]
type = "mlp"
hidden = [16]

[optim]
type = "sgd"
lr = 0.1
momentum = 0.9
schedule = "cosine"

[train]
epochs = 10
batch_size = 32
seed = 5
log_every = 5

[sync]
mode = "gossip"
topology = "exponential"
final_rounds = 10
timeout_ms = 20000
start_timeout_ms = 30000

[debug]
step_delay_ms = 10
)";

}  // namespace meshtrain::testing
